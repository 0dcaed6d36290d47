"""The PostgreSQL server of the tests and doctests (every test path: tests, src, docs).

``make test`` runs pytest under ``tools/pgserver.py``, which starts a throwaway
server and exports its URL as ``CRMKIT_TEST_POSTGRES_URL``. Run without it
(``.venv/bin/pytest tests/test_contract_postgres.py``), the first test that
needs the server starts one for the session. If none can start, those tests
skip with the reason, and fail when ``CI`` is set: under CI the PostgreSQL
contracts are never silently left out.

Doctests that read ``CRMKIT_TEST_POSTGRES_URL`` get the server the same way.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

_ROOT = Path(__file__).resolve().parent


def _pgserver() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "_crmkit_pgserver", _ROOT / "tools" / "pgserver.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required under CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a PostgreSQL server for the tests (skips, or fails under CI, without one)."""
    pgserver = _pgserver()
    url = os.environ.get(pgserver.URL_VARIABLE)
    if url:
        yield url
        return
    reason = os.environ.get(pgserver.UNAVAILABLE_VARIABLE)
    if reason:
        _unavailable(reason)
    try:
        server = pgserver.Server()
    except Exception as exc:  # any failure to start is a reason to skip (or to fail under CI)
        _unavailable(f"no PostgreSQL server could be started: {exc}")
    os.environ[pgserver.URL_VARIABLE] = server.url
    try:
        yield server.url
    finally:
        os.environ.pop(pgserver.URL_VARIABLE, None)
        server.stop()


@pytest.fixture(autouse=True)
def _postgres_for_doctests(request: pytest.FixtureRequest) -> None:
    """Doctests that use the test server's URL get the server (or skip/fail as above)."""
    dtest = getattr(request.node, "dtest", None)
    if dtest is not None and "CRMKIT_TEST_POSTGRES_URL" in dtest.docstring:
        request.getfixturevalue("postgres_url")
