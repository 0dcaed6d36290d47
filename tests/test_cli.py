import contextlib
import io
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from crmkit.adapters.sqlite import SQLiteStore
from crmkit.app.cli import EXIT_OK, EXIT_USER, main


@dataclass(frozen=True)
class Demo:
    dir: Path
    code: int
    out: str


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """One demo run (seed 3) that every test reading its output shares: the demo is slow."""
    folder = tmp_path_factory.mktemp("demo")
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(["demo", "--dir", str(folder), "--seed", "3"])
    return Demo(folder, code, buffer.getvalue())


def test_demo_builds_the_base_in_sqlite_and_prints_a_summary(demo: Demo) -> None:
    assert demo.code == EXIT_OK
    out = demo.out
    db = demo.dir / "demo.sqlite"
    assert db.exists()
    assert "records read back" in out
    assert "Companies, their staff and their contacts" in out
    assert "Hosted purchases:" in out
    # What was printed was read back from the file: the counts agree with the store.
    with SQLiteStore(db) as store:
        n_customers = sum(len(b) for b in store.customers.iter_all())
    line = next(ln for ln in out.splitlines() if ln.startswith("customers "))
    assert int(line.split()[-1]) == n_customers


def test_demo_is_deterministic_for_a_seed_and_replaces_an_old_demo_file(
    demo: Demo, tmp_path: Path, capsys
) -> None:
    # Run again with the same seed into a copy of the first run's folder: the old
    # demo file is replaced (ids that already exist must not fail), and the output,
    # report included, is the same.
    again = tmp_path / "again"
    shutil.copytree(demo.dir, again)
    assert main(["demo", "--dir", str(again), "--seed", "3"]) == EXIT_OK
    second = capsys.readouterr().out.replace(str(again), "X")
    assert second == demo.out.replace(str(demo.dir), "X")
    first_page = (demo.dir / "report" / "index.html").read_text(encoding="utf-8")
    assert (again / "report" / "index.html").read_text(encoding="utf-8") == first_page


def test_a_file_system_problem_prints_one_line_and_exits_2(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    code = main(["demo", "--dir", str(blocker)])
    err = capsys.readouterr().err
    assert code == EXIT_USER
    assert err.startswith("crmkit: error:")
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_verbose_shows_the_traceback(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    assert main(["--verbose", "demo", "--dir", str(blocker)]) == EXIT_USER
    assert "Traceback" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2


def test_demo_runs_the_whole_job_and_writes_a_report(demo: Demo) -> None:
    tmp_path, out = demo.dir, demo.out
    for heading in (
        "Composite value as of",
        "Segments as of",
        "RFM segments",
        "Lifecycle stages at each quarter's end",
        "Stage changes over the last twelve months",
        "awarded in the SQLite ledger",
        "Members by tier as of",
    ):
        assert heading in out
    index = tmp_path / "report" / "index.html"
    assert f"Report: {index}" in out
    page = index.read_text(encoding="utf-8")
    assert "Members by tier" in page
    pytest.importorskip("matplotlib")
    assert page.count('src="data:image/png;base64,') >= 6
    # The points were posted to the ledger in the demo's SQLite file.
    from crmkit.adapters.sqlite import SQLiteLedgerRepository
    from crmkit.loyalty import Ledger

    with SQLiteStore(tmp_path / "demo.sqlite") as store:
        ledger = Ledger(SQLiteLedgerRepository(store))
        members = [c.id for b in store.customers.iter_all() for c in b if c.is_member]
        assert sum(ledger.balance(m) for m in members) > 0
