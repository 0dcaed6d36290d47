import contextlib
import importlib.util
import io
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from crmkit.adapters.sqlite import SQLiteStore
from crmkit.app.cli import EXIT_OK, EXIT_USER, main


@dataclass(frozen=True)
class Demo:
    dir: Path
    code: int
    out: str
    plotted: dict[str, Any]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """One demo run (seed 3) that every test reading its output shares: the demo is slow.

    With matplotlib, the frames the report plots are recorded (what the figures were drawn from).
    """
    folder = tmp_path_factory.mktemp("demo")
    buffer = io.StringIO()
    plotted: dict[str, Any] = {}
    with pytest.MonkeyPatch.context() as patch:
        if importlib.util.find_spec("matplotlib") is not None:
            from crmkit.adapters import plots

            def record(name: str) -> Any:
                draw = getattr(plots, name)

                def recorded(*args: Any, **kwargs: Any) -> Any:
                    fig = draw(*args, **kwargs)
                    plotted.setdefault(name, []).append((args, kwargs, fig))
                    return fig

                return recorded

            for name in ("stage_counts", "transition_heatmap", "value_components", "rfm_grid"):
                patch.setattr(plots, name, record(name))
        with contextlib.redirect_stdout(buffer):
            code = main(["demo", "--dir", str(folder), "--seed", "3"])
    return Demo(folder, code, buffer.getvalue(), plotted)


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


def _page(demo: Demo) -> str:
    return (demo.dir / "report" / "index.html").read_text(encoding="utf-8")


def test_the_report_is_one_self_contained_page_with_the_marketers_sections(demo: Demo) -> None:
    page = _page(demo)
    for anchor in ("base", "value", "segments", "stages", "loyalty"):
        assert f'<section id="{anchor}">' in page
        assert f'href="#{anchor}"' in page  # the table of contents links to it
    # Nothing outside the file: no external script, stylesheet or image.
    assert not re.search(r'<(script|link)\b|src="(?!data:)', page)
    assert list((demo.dir / "report").iterdir()) == [demo.dir / "report" / "index.html"]
    # The value table and the explanation of the top customer, component by component.
    assert "Who is worth most, and why" in page
    top = re.search(r"Why (.+?) \((c-\d+)\) is on top", page)
    assert top is not None
    assert top.group(2) in demo.out
    assert "<th>share of value</th>" in page
    assert "consumption" in page
    assert "total_spend = " in page
    # Segments, points and tiers are there as tables.
    assert "Segments as of 2025-12-31" in page
    assert "RFM segments" in page
    assert "Members by tier as of 2025-12-31" in page


def test_the_stages_include_the_last_month_up_to_as_of(demo: Demo) -> None:
    # As of 2025-12-31: December is stepped at as_of (its activity up to that day counts).
    assert "2025-12 (as of 2025-12-31)" in demo.out
    assert "2025-12 (as of 2025-12-31)" in _page(demo)
    if "stage_counts" in demo.plotted:
        (counts,), _, fig = demo.plotted["stage_counts"][0]
        assert str(counts.index[-1]) == "2025-12"
        assert fig.axes[0].get_xticklabels()[-1].get_text() == "2025-12"


def test_the_transition_heatmap_has_every_stage_on_both_axes(demo: Demo) -> None:
    pytest.importorskip("matplotlib")
    from crmkit import Lifecycle

    states = list(Lifecycle.five_stage().states)
    ((_, _, fig),) = demo.plotted["transition_heatmap"]
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == states
    assert [t.get_text() for t in ax.get_xticklabels()] == states
    assert 'id="transition-heatmap"' in _page(demo)


def test_the_report_plots_what_made_the_top_customers_value(demo: Demo) -> None:
    pytest.importorskip("matplotlib")
    ((_, _kwargs, fig),) = demo.plotted["value_components"]
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    top = re.search(r"Why (.+?) \(c-\d+\) is on top", demo.out)
    assert top is not None
    assert labels[-1] == top.group(1)
    assert 'id="value-components"' in _page(demo)


def test_demo_customers_runs_the_score_job_at_that_scale_and_times_it(
    tmp_path: Path, capsys: Any
) -> None:
    assert main(["demo", "--dir", str(tmp_path), "--seed", "3", "--customers", "300"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "The job on 300 customers and 3,600 purchases (seconds)" in out
    assert "At scale: 300 customers scored" in out
    page = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    assert '<section id="scale">' in page
    for step in ("features", "stage", "points and tiers", "the whole job (score_transactions)"):
        assert re.search(rf"<td>{re.escape(step)}</td><td class=n>\d+\.\d\d</td>", page), step
    stages = re.findall(r"<td>stage [a-z]+</td><td class=n>(\d+)</td>", page)
    assert sum(map(int, stages)) == 300  # every customer of the scaled base has a stage
    assert main(["demo", "--dir", str(tmp_path), "--customers", "0"]) == EXIT_USER
    assert "--customers" in capsys.readouterr().err
