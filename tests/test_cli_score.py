"""`crmkit score`: transactions in, one row per customer out, a summary on stdout."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from crmkit.app.cli import EXIT_OK, EXIT_USER, main

CONFIG = """
[value.model]
name = "spend"
version = "1"
[value.components.spend]
formula = "total_spend"
weight = 0.01

[segments.size.rules]
mode = "exclusive"
default = "small"
[segments.size.segments.big]
rule = "total_spend >= quantile(total_spend, 0.5)"

[loyalty.earning.base]
unit = 10.0

[loyalty.tiers]
tiers = [{name = "member", threshold = 0}, {name = "gold", threshold = 10}]
"""


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    tx = pd.DataFrame(
        {
            "cust": ["a", "a", "b", "c", "c", "c"],
            "when": [
                "2024-03-01",
                "2024-11-02",
                "2024-12-01",
                "2024-01-05",
                "2024-06-01",
                "2025-02-01",  # after as_of: ignored
            ],
            "spend": [100.0, 50.0, 20.0, 300.0, 10.0, 999.0],
        }
    )
    tx_path = tmp_path / "tx.csv"
    tx.to_csv(tx_path, index=False)
    config = tmp_path / "crm.toml"
    config.write_text(CONFIG)
    return {"tx": tx_path, "config": config, "dir": tmp_path}


def _args(files: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return [
        "score",
        str(files["tx"]),
        "--config",
        str(files["config"]),
        "--as-of",
        "2025-01-01",
        "--customer",
        "cust",
        "--date",
        "when",
        "--amount",
        "spend",
        "-o",
        str(out),
        *extra,
    ]


def test_score_writes_one_row_per_customer_and_prints_a_summary(
    files: dict[str, Path], capsys: Any
) -> None:
    out = files["dir"] / "scores.csv"
    assert main(_args(files, out)) == EXIT_OK
    scores = pd.read_csv(out).set_index("cust")
    assert sorted(scores.index) == ["a", "b", "c"]
    assert scores.loc["c", "total_spend"] == 310.0
    assert scores.loc["c", "value"] == pytest.approx(3.1)
    assert set(scores["segment_size"]) == {"big", "small"}
    assert {"stage", "points", "tier"} <= set(scores.columns)
    assert scores.loc["a", "points"] == 15  # floor(150 / 10), both in the year before as_of
    printed = capsys.readouterr().out
    assert "customers" in printed
    assert "segment_size" in printed
    assert f"wrote 3 rows to {out}" in printed


def test_score_reads_and_writes_parquet(files: dict[str, Path]) -> None:
    pytest.importorskip("pyarrow")
    src = files["dir"] / "tx.parquet"
    pd.read_csv(files["tx"]).to_parquet(src)
    files = {**files, "tx": src}
    out = files["dir"] / "scores.parquet"
    assert main(_args(files, out)) == EXIT_OK
    assert len(pd.read_parquet(out)) == 3


def test_parquet_without_pyarrow_is_a_clear_user_error(
    files: dict[str, Path], capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pyarrow" else real(name, *a)
    )
    assert main(_args(files, files["dir"] / "scores.parquet")) == EXIT_USER
    err = capsys.readouterr().err
    assert "crmkit[parquet]" in err
    assert "Traceback" not in err


def test_score_works_without_tqdm(files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    real = builtins.__import__

    def no_tqdm(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "tqdm" or name.startswith("tqdm."):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    monkeypatch.delitem(__import__("sys").modules, "tqdm", raising=False)
    assert main(_args(files, files["dir"] / "s.csv")) == EXIT_OK


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--amount": "amt"}, "amt"),
        ({"--as-of": "not a date"}, "as_of"),
        ({"-o": "scores.xlsx"}, ".csv, .tsv, .txt, .dat or .parquet"),
    ],
)
def test_user_errors_print_one_message_and_exit_2(
    files: dict[str, Path], capsys: Any, change: dict[str, str], message: str
) -> None:
    args = _args(files, files["dir"] / "s.csv")
    for flag, value in change.items():
        args[args.index(flag) + 1] = value
    assert main(args) == EXIT_USER
    err = capsys.readouterr().err
    assert err.startswith("crmkit: error:")
    assert message in err
    assert "Traceback" not in err


def test_a_missing_file_and_a_bad_config_exit_2(files: dict[str, Path], capsys: Any) -> None:
    args = _args(files, files["dir"] / "s.csv")
    args[1] = str(files["dir"] / "nope.csv")
    assert main(args) == EXIT_USER
    files["config"].write_text('[value.components.x]\nformula = "total_spnd"\n')
    assert main(_args(files, files["dir"] / "s.csv")) == EXIT_USER
    err = capsys.readouterr().err
    assert "total_spnd" in err
    assert "Traceback" not in err


def test_features_flag_keeps_the_named_features(files: dict[str, Path]) -> None:
    out = files["dir"] / "s.csv"
    assert main(_args(files, out, "--features", "total_spend,purchase_count")) == EXIT_OK
    columns = list(pd.read_csv(out).columns)
    assert columns[:3] == ["cust", "total_spend", "purchase_count"]
    assert "tenure_months" not in columns
    assert "value" in columns


DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cdnow"


def _one_error_line(capsys: Any) -> str:
    err = capsys.readouterr().err
    assert err.startswith("crmkit: error:")
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    return err


def test_ids_are_read_as_text_from_whitespace_files_with_a_date_format(
    tmp_path: Path, capsys: Any
) -> None:
    text = "customer_id  date  cds  value\n00001 19970101 1 11.77\n00001 19970118 2 29.33\n"
    text += "1 19970102 1 12.00\n"
    path = tmp_path / "tx.txt"
    path.write_text(text)
    out = tmp_path / "out.csv"
    args = ["score", str(path), "--as-of", "1997-02-01", "--date", "date", "--amount", "value"]
    assert main([*args, "--date-format", "%Y%m%d", "-o", str(out)]) == EXIT_OK
    got = pd.read_csv(out, dtype={"customer_id": str}).set_index("customer_id")
    assert sorted(got.index) == ["00001", "1"]  # two customers: the ids keep their zeros
    assert got.loc["00001", "purchase_count"] == 2
    # the same file with an explicit separator (tabs and commas are other files)
    csv = tmp_path / "tx.csv"
    csv.write_text(text.replace("  ", " ").replace(" ", ";"))
    out2 = tmp_path / "out2.csv"
    assert (
        main(
            ["score", str(csv), "--sep", ";", *args[2:], "--date-format", "%Y%m%d", "-o", str(out2)]
        )
        == EXIT_OK
    )
    pd.testing.assert_frame_equal(
        pd.read_csv(out2, dtype={"customer_id": str}).set_index("customer_id"), got
    )
    # a date that does not match the format is a user error naming the column
    path.write_text(text + "00002 1997-03-01 1 5.0\n")
    assert main([*args, "--date-format", "%Y%m%d", "-o", str(out)]) == EXIT_USER
    assert "'date' has dates that do not match '%Y%m%d'" in _one_error_line(capsys)


@pytest.mark.skipif(not DATA.is_dir(), reason="the CDNOW data is not beside the checkout")
def test_cdnow_master_scores_straight_from_the_file_as_shipped(tmp_path: Path) -> None:
    out = tmp_path / "cdnow.csv"
    args = ["score", str(DATA / "CDNOW_master.txt"), "--date", "date", "--amount", "dollar_value"]
    assert main([*args, "--date-format", "%Y%m%d", "--as-of", "1997-10-01", "-o", str(out)]) == 0
    got = pd.read_csv(out, dtype={"customer_id": str})
    assert len(got) == 23_570
    assert got["customer_id"].str.len().eq(5).all()  # "00001" ... "23570"
    assert set(got["stage"]) >= {"growth", "maturity", "decline"}  # a state, not one step


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        ("cust,when,spend,spend\na,2024-03-01,1,2\n", [], "names a column more than once"),
        ("cust,when,spend\na,2024-03-01,1\n", ["--since", "2025-01-01"], "since is invalid"),
        ("cust,when,spend\na,2024-03-01,1\n", ["--sep", "ab"], "bad separator"),
    ],
)
def test_inconsistent_input_exits_2_with_one_line(
    tmp_path: Path, capsys: Any, content: str, extra: list[str], message: str
) -> None:
    path = tmp_path / "tx.csv"
    path.write_text(content)
    args = ["score", str(path), "--as-of", "2025-01-01", "--customer", "cust", "--date", "when"]
    assert main([*args, "--amount", "spend", "-o", str(tmp_path / "o.csv"), *extra]) == EXIT_USER
    assert message in _one_error_line(capsys)


def test_a_label_separator_in_a_segment_name_fails_check_config(
    tmp_path: Path, capsys: Any
) -> None:
    path = tmp_path / "crm.toml"
    path.write_text('[segments.size.segments."vip;gold"]\nrule = "total_spend > 1"\n')
    assert main(["check-config", str(path)]) == EXIT_USER
    assert "may not contain ';'" in capsys.readouterr().err


def test_version_and_defaults_in_help(capsys: Any) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("crmkit 0.")
    with pytest.raises(SystemExit):
        main(["score", "--help"])
    shown = capsys.readouterr().out
    assert "(default: customer_id)" in shown
    assert "(default: occurred_at)" in shown


MULTI = """
[segments.kind.segments.big]
rule = "total_spend >= 100"
[segments.kind.segments.regular]
rule = "purchase_days >= 2"
[segments.kind.segments."big spender, loyal"]
rule = "total_spend >= 100 and purchase_days >= 2"
"""


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_multi_label_set_writes_one_boolean_column_per_segment(
    files: dict[str, Path], suffix: str, capsys: Any
) -> None:
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    files["config"].write_text(MULTI)
    out = files["dir"] / f"scores{suffix}"
    assert main(_args(files, out)) == EXIT_OK
    scores = (pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)).set_index("cust")
    columns = ["segment_kind__big", "segment_kind__regular", "segment_kind__big spender, loyal"]
    assert [c for c in scores.columns if c.startswith("segment_")] == columns
    # One fact per cell, read back as booleans (no joined labels to split).
    assert all(scores[c].dtype == bool for c in columns)
    assert scores.loc["a"].loc[columns].tolist() == [True, True, True]
    assert scores.loc["b"].loc[columns].tolist() == [False, False, False]
    assert scores.loc["c"].loc[columns].tolist() == [True, True, True]
    printed = capsys.readouterr().out
    assert "segment_kind__*" in printed
    assert "big 2, regular 2, big spender, loyal 2" in printed


def test_two_rule_sets_writing_the_same_column_are_refused(
    files: dict[str, Path], capsys: Any
) -> None:
    files["config"].write_text(
        '[segments.kind.segments.big]\nrule = "total_spend >= 100"\n'
        '[segments.kind__big.rules]\nmode = "exclusive"\ndefault = "no"\n'
        '[segments.kind__big.segments.yes]\nrule = "total_spend >= 1"\n'
    )
    assert main(_args(files, files["dir"] / "o.csv")) == EXIT_USER
    err = _one_error_line(capsys)
    assert "segments.kind__big" in err
    assert "'segment_kind__big', already taken" in err
