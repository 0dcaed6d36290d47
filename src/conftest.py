"""Doctest collection of ``src/``: skip the modules whose optional dependencies are missing.

The compatibility environment (``make test-compat``) installs no extras but
``testing`` and ``quality``, so the modules built on an optional dependency
cannot be imported there. This file is not part of the package (only
``src/crmkit`` is).
"""

from importlib.util import find_spec

_NEEDS = {
    "crmkit/adapters/dask.py": ("dask", "distributed"),
    "crmkit/app/_dask_job.py": ("dask", "distributed"),
    "crmkit/adapters/frames.py": ("pyarrow", "polars"),
}

collect_ignore = [
    path for path, modules in _NEEDS.items() if any(find_spec(m) is None for m in modules)
]
