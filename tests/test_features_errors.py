"""Bad input to crmkit.scoring.features: a crmkit error naming the column, never pandas' or numpy's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

import crmkit.errors
from crmkit.errors import CrmkitError, FrameError, MissingColumnError, ValidationError
from crmkit.scoring import features, features_one

NAMES = {"customer": "buyer", "date": "at", "amount": "paid"}


def good() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "buyer": ["a", "b", "a", "c"],
            "at": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-04"]),
            "paid": [1.0, 2.0, 3.0, 4.0],
            "how": ["cash", None, "prepaid", "on_time"],
        },
        index=[10, 11, 12, 13],
    )


def raises(kind: type[CrmkitError], call: Callable[[], object]) -> Any:
    """Run *call*; it must raise *kind*, a public crmkit error (not a pandas/numpy one)."""
    with pytest.raises(CrmkitError) as caught:
        call()
    err = caught.value
    assert isinstance(err, kind), repr(err)
    assert type(err).__module__ == "crmkit.errors"
    assert getattr(crmkit.errors, type(err).__name__) is type(err)
    str(err)  # renders
    return err


def run(tx: pd.DataFrame, **kwargs: Any) -> pd.DataFrame:
    return features(tx, **{"as_of": "2025-02-01", **NAMES, **kwargs})


def test_good_frame_is_fine() -> None:
    assert len(run(good(), settlement="how")) == 3


def test_not_a_dataframe() -> None:
    err = raises(ValidationError, lambda: run(good().to_dict()))  # type: ignore[arg-type]
    assert err.field == "transactions"
    err = raises(ValidationError, lambda: run(good(), refunds=[1, 2]))
    assert err.field == "refunds"


@pytest.mark.parametrize("argument", ["customer", "date", "amount", "settlement"])
def test_missing_column_is_named_with_a_hint(argument: str) -> None:
    tx = good().rename(columns={"buyer": "buyers", "at": "att", "paid": "payd", "how": "hows"})
    names = {"customer": "buyers", "date": "att", "amount": "payd", "settlement": "hows"}
    wanted = {"customer": "buyer", "date": "at", "amount": "paid", "settlement": "how"}[argument]
    err = raises(
        MissingColumnError, lambda: features(tx, as_of="2025-02-01", **{**names, argument: wanted})
    )
    assert err.column == wanted
    assert err.missing == (wanted,)
    assert "did you mean" in str(err)


def test_missing_column_in_another_frame() -> None:
    complaints = pd.DataFrame({"buyer": ["a"], "at": pd.to_datetime(["2025-01-01"])})
    err = raises(MissingColumnError, lambda: run(good(), complaints=complaints))
    assert err.column == "severity"


@pytest.mark.parametrize("argument", ["customer", "date", "amount", "settlement", "scale"])
@pytest.mark.parametrize("value", [3, ""])
def test_bad_column_name_argument(argument: str, value: object) -> None:
    err = raises(ValidationError, lambda: run(good(), **{argument: value}))
    assert err.field == argument


def test_duplicate_column_names() -> None:
    tx = pd.concat([good(), good()["paid"]], axis=1)
    err = raises(FrameError, lambda: run(tx))
    assert err.column == "paid"


def test_missing_customer_ids_are_listed() -> None:
    tx = good()
    tx.loc[12, "buyer"] = None
    err = raises(FrameError, lambda: run(tx))
    assert err.column == "buyer"
    assert err.rows == (12,)


@pytest.mark.parametrize(
    ("values", "rows", "message"),
    [
        ([1.0, np.nan, 3.0, np.nan], (11, 13), "NaN"),
        ([1.0, 2.0, -3.0, 4.0], (12,), "negative"),
        ([1.0, np.inf, 3.0, 4.0], (11,), "infinite"),
    ],
)
def test_bad_amounts_are_listed(values: list[float], rows: tuple[int, ...], message: str) -> None:
    tx = good().assign(paid=values)
    err = raises(FrameError, lambda: run(tx))
    assert err.column == "paid"
    assert err.rows == rows
    assert message in str(err)


@pytest.mark.parametrize(
    "values",
    [["1", "2", "3", "4"], [True, False, True, True], pd.array([1, None, 3, 4], dtype="Int64")],
)
def test_non_numeric_or_missing_amount_dtypes(values: Any) -> None:
    err = raises(FrameError, lambda: run(good().assign(paid=values)))
    assert err.column == "paid"


def test_refund_amounts_are_checked_too() -> None:
    refunds = good().assign(paid=[1.0, -1.0, 1.0, 1.0])
    err = raises(FrameError, lambda: run(good(), refunds=refunds))
    assert err.column == "paid"
    assert "refunds" in str(err)
    assert err.rows == (11,)


@pytest.mark.parametrize(
    "values",
    [
        [20250101, 20250102, 20250103, 20250104],  # YYYYMMDD integers are not epoch times
        [1.5, 2.5, 3.5, 4.5],
        [True, False, True, False],
    ],
)
def test_dates_of_the_wrong_dtype(values: list[Any]) -> None:
    err = raises(FrameError, lambda: run(good().assign(at=values)))
    assert err.column == "at"
    assert "dtype" in str(err)


def test_missing_dates_are_listed() -> None:
    tx = good()
    tx.loc[11, "at"] = pd.NaT
    err = raises(FrameError, lambda: run(tx))
    assert err.column == "at"
    assert err.rows == (11,)
    text = good().assign(at=["2025-01-01", None, "2025-01-03", "2025-01-04"])
    err = raises(FrameError, lambda: run(text))
    assert err.rows == (11,)


def test_unparseable_dates_are_listed() -> None:
    tx = good().assign(at=["2025-01-01", "yesterday", "2025-01-03", "2025-13-45"])
    err = raises(FrameError, lambda: run(tx))
    assert err.column == "at"
    assert err.rows == (11, 13)
    objects = good().assign(at=pd.Series([1, "2025-01-01", 2.5, object()], index=good().index))
    err = raises(FrameError, lambda: run(objects))
    assert err.column == "at"
    assert err.rows == (10, 12, 13)


def test_mixed_naive_and_zoned_dates_are_listed() -> None:
    tx = good().assign(
        at=["2025-01-01T10:00+08:00", "2025-01-02 10:00", "2025-01-03T10:00Z", "2025-01-04"]
    )
    err = raises(FrameError, lambda: run(tx))
    assert err.column == "at"
    assert err.rows == (11, 13)
    assert "time zone" in str(err)


def test_mixed_naive_and_aware_datetime_objects() -> None:
    import datetime as dt

    values = [
        dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        dt.datetime(2025, 1, 2),
        dt.datetime(2025, 1, 3, tzinfo=dt.UTC),
        dt.datetime(2025, 1, 4, tzinfo=dt.UTC),
    ]
    tx = good().assign(at=pd.Series(values, index=good().index, dtype=object))
    err = raises(FrameError, lambda: run(tx))
    assert err.rows == (11,)


def test_different_offsets_are_each_converted() -> None:
    tx = good().assign(
        at=[
            "2025-01-01T10:00+08:00",
            "2025-01-02T10:00+01:00",
            "2025-01-03T10:00Z",
            "2025-01-04T00:00-05:00",
        ]
    )
    f = run(tx)
    assert f.loc["c", "first_purchase"] == pd.Timestamp("2025-01-04 05:00", tz="UTC")


def test_bad_settlement_values_are_listed_with_a_hint() -> None:
    tx = good().assign(how=["cash", "on_acount", None, "CASH"])
    err = raises(FrameError, lambda: run(tx, settlement="how"))
    assert err.column == "how"
    assert err.rows == (11, 13)
    assert "on_account" in str(err)


@pytest.mark.parametrize(
    ("frame_name", "argument", "column", "bad"),
    [
        ("complaints", "severity", "level", ["low", "urgent"]),
        ("complaints", "severity", "level", ["low", None]),
        ("interactions", "channel", "via", ["email", "fax"]),
        ("surveys", "score", "points", [3, np.nan]),
        ("surveys", "score", "points", ["3", "4"]),
    ],
)
def test_bad_values_in_other_frames(
    frame_name: str, argument: str, column: str, bad: list[Any]
) -> None:
    other = pd.DataFrame(
        {"buyer": ["a", "b"], "at": pd.to_datetime(["2025-01-01", "2025-01-02"]), column: bad},
        index=[5, 6],
    )
    err = raises(FrameError, lambda: run(good(), **{frame_name: other, argument: column}))
    assert err.column == column
    assert frame_name in str(err)
    if err.rows:
        assert err.rows == (6,)


def test_scores_must_fit_their_scale() -> None:
    surveys = pd.DataFrame(
        {
            "buyer": ["a", "b", "c"],
            "at": pd.to_datetime(["2025-01-01"] * 3),
            "score": [10, 10, 2.5],
            "scale": ["nps", "csat", "nps"],
        },
        index=[1, 2, 3],
    )
    err = raises(FrameError, lambda: run(good(), surveys=surveys, scale="scale"))
    assert err.column == "score"
    assert err.rows == (2, 3)
    bad_scale = surveys.assign(scale=["nps", "stars", "nps"])
    err = raises(FrameError, lambda: run(good(), surveys=bad_scale, scale="scale"))
    assert err.column == "scale"
    assert err.rows == (2,)


def test_as_of_before_all_data() -> None:
    err = raises(FrameError, lambda: run(good(), as_of="2024-12-31"))
    assert err.column == "at"
    assert "before all data" in str(err)
    assert "2025-01-01" in str(err)


@pytest.mark.parametrize("as_of", [None, "soon", 20250101, True, pd.NaT, "2300-01-01", [2025]])
def test_bad_as_of(as_of: Any) -> None:
    err = raises(ValidationError, lambda: run(good(), as_of=as_of))
    assert err.field == "as_of"
    err = raises(ValidationError, lambda: features_one([], as_of=as_of))
    assert err.field == "as_of"


@pytest.mark.parametrize("unit", ["M", "w", None, 7])
def test_bad_time_unit(unit: Any) -> None:
    err = raises(ValidationError, lambda: run(good(), time_unit=unit))
    assert err.field == "time_unit"
    err = raises(ValidationError, lambda: features_one([], as_of="2025-01-01", time_unit=unit))
    assert err.field == "time_unit"


def test_purchase_dates_outside_the_nanosecond_range() -> None:
    old = np.array(["1600-01-01"] * 4, dtype="datetime64[s]")
    tx = good().assign(at=pd.Series(old, index=good().index))
    err = raises(FrameError, lambda: run(tx, as_of="2000-01-01"))
    assert err.column == "at"
    assert "1677" in str(err)
