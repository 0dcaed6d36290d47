from pathlib import Path

import pytest

from crmkit.adapters.sqlite import SQLiteStore
from crmkit.app.cli import EXIT_OK, EXIT_USER, main


def test_demo_builds_the_base_in_sqlite_and_prints_a_summary(tmp_path: Path, capsys) -> None:
    assert main(["demo", "--dir", str(tmp_path), "--seed", "3"]) == EXIT_OK
    out = capsys.readouterr().out
    db = tmp_path / "demo.sqlite"
    assert db.exists()
    assert "records read back" in out
    assert "Companies, their staff and their contacts" in out
    assert "Hosted purchases:" in out
    # What was printed was read back from the file: the counts agree with the store.
    with SQLiteStore(db) as store:
        n_customers = sum(len(b) for b in store.customers.iter_all())
    line = next(ln for ln in out.splitlines() if ln.startswith("customers "))
    assert int(line.split()[-1]) == n_customers


def test_demo_is_deterministic_for_a_seed(tmp_path: Path, capsys) -> None:
    main(["demo", "--dir", str(tmp_path / "a"), "--seed", "5"])
    first = capsys.readouterr().out.replace(str(tmp_path / "a"), "X")
    main(["demo", "--dir", str(tmp_path / "b"), "--seed", "5"])
    second = capsys.readouterr().out.replace(str(tmp_path / "b"), "X")
    assert first == second


def test_demo_replaces_an_old_demo_file(tmp_path: Path, capsys) -> None:
    main(["demo", "--dir", str(tmp_path)])
    main(["demo", "--dir", str(tmp_path)])  # must not fail on ids that already exist
    assert "records read back" in capsys.readouterr().out


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


def test_demo_runs_the_whole_job_and_writes_a_report(tmp_path: Path, capsys) -> None:
    assert main(["demo", "--dir", str(tmp_path), "--seed", "3"]) == EXIT_OK
    out = capsys.readouterr().out
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
