"""Doctest set-up for the documentation pages (kept minimal on purpose).

Every page runs with the repository root as the working directory, so a page
can name shared data by a plain relative path such as
``../shared/data/cdnow/CDNOW_sample.txt`` (CI keeps ``shared/`` beside the
checkout). Without that folder the CDNOW tutorials are skipped.
"""

from importlib.util import find_spec
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

_HAVE_CDNOW = (ROOT.parent / "shared" / "data" / "cdnow").is_dir()
collect_ignore_glob = [] if _HAVE_CDNOW else ["tutorials/cdnow*.md", "how-to/clv-features.md"]
# Pages built on an optional extra (the compat environment installs none of them).
if not all(find_spec(m) for m in ("dask", "distributed", "pyarrow", "polars")):
    collect_ignore_glob.append("how-to/dask.md")


@pytest.fixture(autouse=True)
def _run_from_the_repository_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
