"""crmkit.scoring.features and friends: worked examples, edge cases, time rule, roll-up."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
import pytest

from crmkit.domain import Complaint, Customer, Membership, Purchase, Referral, Refund
from crmkit.errors import ValidationError
from crmkit.scoring import (
    FEATURE_COLUMNS,
    activity_frames,
    features,
    features_one,
    profile_frame,
    roll_up_to_companies,
    transactions_frame,
)
from crmkit.scoring._columns import FEATURE_KINDS

NAMES = {"customer": "buyer", "date": "at", "amount": "paid"}


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def frame(rows: list[tuple[Any, ...]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns)


def _world() -> dict[str, pd.DataFrame]:
    tx = frame(
        [
            ("ann", "2025-01-10 10:00", 100.0, "cash"),
            ("ann", "2025-01-10 15:00", 50.0, "prepaid"),
            ("bo", "2024-06-15", 80.0, "on_time"),
            ("ann", "2025-03-30", 30.0, "on_account"),  # end of the previous-3-month window
            ("ann", "2025-06-30", 20.0, None),  # exactly as_of: counts; method unknown
            ("ann", "2025-06-30 00:00:00.000001", 999.0, "cash"),  # after as_of: ignored
        ],
        ["buyer", "at", "paid", "how"],
    )
    tx["at"] = pd.to_datetime(tx["at"], format="ISO8601")
    refunds = frame([("ann", ts("2025-02-01"), 25.0)], ["buyer", "at", "paid"])
    complaints = frame(
        [
            ("ann", ts("2025-02-02"), "high"),
            ("ann", ts("2025-07-01"), "low"),  # after as_of
            ("cy", ts("2025-05-05"), "medium"),  # cy never bought
        ],
        ["buyer", "at", "level"],
    )
    referrals = frame([("bo", ts("2025-01-01")), ("bo", ts("2025-01-02"))], ["buyer", "at"])
    interactions = frame(
        [
            ("ann", ts("2025-03-01"), "email"),
            ("ann", ts("2025-03-02"), "email"),
            ("ann", ts("2025-03-03"), "phone"),
            ("bo", ts("2025-03-03"), "web"),
        ],
        ["buyer", "at", "via"],
    )
    surveys = frame(
        [
            ("ann", ts("2025-04-01"), 3),
            ("ann", ts("2025-05-01"), 9),
            ("ann", ts("2025-05-01"), 10),  # same instant: averaged
            ("bo", ts("2025-08-01"), 1),  # after as_of
        ],
        ["buyer", "at", "points"],
    )
    return {
        "transactions": tx,
        "refunds": refunds,
        "complaints": complaints,
        "referrals": referrals,
        "interactions": interactions,
        "surveys": surveys,
    }


def _world_features(**extra: Any) -> pd.DataFrame:
    w = _world()
    return features(
        w.pop("transactions"),
        as_of="2025-06-30",
        **NAMES,
        settlement="how",
        severity="level",
        channel="via",
        score="points",
        **w,
        **extra,
    )


def test_worked_example_every_column() -> None:
    f = _world_features(time_unit="W")
    assert list(f.index) == ["ann", "bo", "cy"]  # first appearance: transactions, then complaints
    assert f.index.name == "buyer"
    assert tuple(f.columns) == FEATURE_COLUMNS
    ann, bo, cy = f.loc["ann"], f.loc["bo"], f.loc["cy"]

    assert ann["purchase_count"] == 4
    assert ann["total_spend"] == 175.0  # 200 bought - 25 refunded
    assert ann["refund_total"] == 25.0
    assert ann["purchase_days"] == 3
    assert ann["first_purchase"] == ts("2025-01-10 10:00")
    assert ann["last_purchase"] == ts("2025-06-30")
    assert ann["days_since_last_purchase"] == 0.0
    tenure = (171 - 10 / 24) / (365.25 / 12)
    assert ann["tenure_months"] == pytest.approx(tenure, rel=1e-15)
    assert ann["active_months"] == 3
    assert ann["monthly_frequency"] == pytest.approx(4 / tenure)
    assert ann["monthly_avg_spend"] == pytest.approx(175 / tenure)
    assert ann["spend_last_3m"] == 20.0
    assert ann["spend_prev_3m"] == 180.0
    assert ann["settlement_share_prepaid"] == pytest.approx(50 / 180)
    assert ann["settlement_share_cash"] == pytest.approx(100 / 180)
    assert ann["settlement_share_on_time"] == 0.0
    assert ann["settlement_share_on_account"] == pytest.approx(30 / 180)
    assert ann["repeat_purchases"] == 2
    assert ann["repeat_span"] == 171 / 7
    assert ann["age"] == 171 / 7
    assert ann["repeat_avg_spend"] == 25.0
    assert ann["complaint_count"] == 1
    assert ann["complaints_high"] == 1
    assert ann["complaints_low"] == 0
    assert ann["interaction_count"] == 3
    assert ann["interactions_email"] == 2
    assert ann["interactions_phone"] == 1
    assert ann["latest_survey_score"] == 9.5
    assert ann["referrals_made"] == 0

    assert bo["days_since_last_purchase"] == 380.0
    assert bo["settlement_share_on_time"] == 1.0
    assert bo["repeat_purchases"] == 0
    assert bo["repeat_span"] == 0.0
    assert bo["age"] == 380 / 7
    assert np.isnan(bo["repeat_avg_spend"])
    assert bo["referrals_made"] == 2
    assert bo["interactions_web"] == 1
    assert np.isnan(bo["latest_survey_score"])  # the only response is after as_of

    assert cy["purchase_count"] == 0
    assert cy["total_spend"] == 0.0
    assert pd.isna(cy["first_purchase"])
    assert np.isnan(cy["days_since_last_purchase"])
    assert np.isnan(cy["tenure_months"])
    assert cy["monthly_frequency"] == 0.0
    assert np.isnan(cy["settlement_share_cash"])
    assert cy["repeat_purchases"] == 0
    assert np.isnan(cy["repeat_span"])
    assert np.isnan(cy["age"])
    assert cy["complaints_medium"] == 1


def test_dtypes() -> None:
    f = _world_features()
    for name, kind in FEATURE_KINDS.items():
        expected = {"int": "int64", "float": "float64", "time": "datetime64[ns, UTC]"}[kind]
        assert str(f[name].dtype) == expected, name


def test_time_unit_days_and_weeks() -> None:
    days = _world_features(time_unit="D")
    weeks = _world_features(time_unit="W")
    assert days.loc["ann", "repeat_span"] == 171.0
    assert days.loc["ann", "age"] == 171.0
    pd.testing.assert_series_equal(weeks["age"], days["age"] / 7)


def test_frames_not_given_count_as_empty() -> None:
    w = _world()
    alone = features(w["transactions"], as_of="2025-06-30", **NAMES, settlement="how")
    with_empty = features(
        w["transactions"],
        as_of="2025-06-30",
        **NAMES,
        settlement="how",
        refunds=w["refunds"].iloc[:0],
        complaints=w["complaints"].iloc[:0],
        severity="level",
    )
    pd.testing.assert_frame_equal(alone, with_empty)
    assert list(alone.index) == ["ann", "bo"]
    assert (alone["complaint_count"] == 0).all()
    assert alone["latest_survey_score"].isna().all()


def test_without_settlement_column_shares_are_nan() -> None:
    f = features(_world()["transactions"], as_of="2025-06-30", **NAMES)
    assert f[["settlement_share_cash", "settlement_share_prepaid"]].isna().all().all()


@pytest.mark.parametrize(
    "empty",
    [
        pd.DataFrame(columns=["buyer", "at", "paid"]),  # object columns, as read from nowhere
        pd.DataFrame(
            {
                "buyer": pd.Series([], dtype="int64"),
                "at": pd.Series([], dtype="datetime64[ns]"),
                "paid": pd.Series([], dtype="float64"),
            }
        ),
    ],
)
def test_empty_frames_give_an_empty_result_with_every_column(empty: pd.DataFrame) -> None:
    f = features(empty, as_of="2025-01-01", **NAMES, refunds=empty.copy())
    assert len(f) == 0
    assert tuple(f.columns) == FEATURE_COLUMNS
    assert f.index.name == "buyer"
    assert str(f["purchase_count"].dtype) == "int64"
    assert str(f["total_spend"].dtype) == "float64"
    assert str(f["first_purchase"].dtype) == "datetime64[ns, UTC]"


def test_customers_only_in_other_frames_are_included() -> None:
    empty_tx = pd.DataFrame(columns=["buyer", "at", "paid"])
    complaints = frame([("cy", ts("2025-01-01"), "critical")], ["buyer", "at", "severity"])
    f = features(empty_tx, as_of="2025-02-01", **NAMES, complaints=complaints)
    assert list(f.index) == ["cy"]
    assert f.loc["cy", "complaints_critical"] == 1
    assert f.loc["cy", "purchase_count"] == 0


def test_rows_after_as_of_are_ignored_and_as_of_itself_counts() -> None:
    tx = frame(
        [
            (1, ts("2025-01-01"), 10.0),
            (1, ts("2025-01-31 23:59:59.999999999"), 20.0),
            (2, ts("2025-02-01"), 5.0),
        ],
        ["buyer", "at", "paid"],
    )
    f = features(tx, as_of=date(2025, 2, 1), **NAMES)
    assert f.loc[1, "total_spend"] == 30.0
    assert f.loc[2, "purchase_count"] == 1  # at as_of (midnight) counts
    g = features(tx, as_of=pd.Timestamp("2025-01-31 23:59:59.999999998", tz="UTC"), **NAMES)
    assert list(g.index) == [1]
    assert g.loc[1, "total_spend"] == 10.0  # one nanosecond too late


def test_naive_dates_are_utc_and_aware_dates_are_converted() -> None:
    shanghai = timezone(timedelta(hours=8))
    # 07:30 on 1 March in Shanghai is 23:30 on 28 February UTC.
    local = pd.DataFrame(
        {
            "buyer": ["ann", "ann"],
            "at": pd.to_datetime(["2025-03-01 07:30", "2025-03-02 12:00"]).tz_localize(shanghai),
            "paid": [1.0, 2.0],
        }
    )
    naive_utc = local.assign(at=local["at"].dt.tz_convert(UTC).dt.tz_localize(None))
    text = local.assign(at=local["at"].map(lambda t: t.isoformat()).astype(object))
    results = [features(f, as_of="2025-03-31", **NAMES) for f in (local, naive_utc, text)]
    for other in results[1:]:
        pd.testing.assert_frame_equal(results[0], other)
    f = results[0]
    assert f.loc["ann", "first_purchase"] == ts("2025-02-28 23:30")
    assert f.loc["ann", "active_months"] == 2  # February and March (UTC)
    assert f.loc["ann", "purchase_days"] == 2


def test_as_of_forms_agree() -> None:
    tx = _world()["transactions"]
    forms = [
        "2025-06-30",
        date(2025, 6, 30),
        datetime(2025, 6, 30),  # naive: UTC
        datetime(2025, 6, 30, 8, tzinfo=timezone(timedelta(hours=8))),
        pd.Timestamp("2025-06-30", tz="UTC"),
        "2025-06-30T00:00:00Z",
    ]
    results = [features(tx, as_of=a, **NAMES, settlement="how") for a in forms]
    for other in results[1:]:
        pd.testing.assert_frame_equal(results[0], other)


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_any_datetime_resolution_gives_nanosecond_utc_output(unit: Any) -> None:
    tx = pd.DataFrame(
        {
            "buyer": ["a", "a"],
            "at": pd.Series(pd.to_datetime(["2025-01-01 10:00", "2025-02-03 11:00"])).dt.as_unit(
                unit
            ),
            "paid": [1.0, 2.0],
        }
    )
    f = features(tx, as_of="2025-03-01T06:00", **NAMES)
    assert str(f["last_purchase"].dtype) == "datetime64[ns, UTC]"
    assert f.loc["a", "last_purchase"] == ts("2025-02-03 11:00")
    assert f.loc["a", "days_since_last_purchase"] == 25 + 19 / 24


def test_spend_windows_use_calendar_months_clipped_to_month_end() -> None:
    # as_of 31 May: the last three months start after 28 February, the previous three after 30 November.
    tx = frame(
        [
            ("a", ts("2025-02-28"), 1.0),  # prev (the boundary belongs to the earlier window)
            ("a", ts("2025-02-28 00:00:01"), 2.0),  # last
            ("a", ts("2024-11-30"), 4.0),  # neither
            ("a", ts("2024-11-30 00:00:01"), 8.0),  # prev
        ],
        ["buyer", "at", "paid"],
    )
    f = features(tx, as_of="2025-05-31", **NAMES)
    assert f.loc["a", "spend_last_3m"] == 2.0
    assert f.loc["a", "spend_prev_3m"] == 9.0


@pytest.mark.parametrize("dtype", ["object", "string[python]", "int64", "string[pyarrow]", "str"])
def test_index_keeps_the_customer_column_dtype(dtype: str) -> None:
    if "pyarrow" in dtype:
        pytest.importorskip("pyarrow")
    ids = [7, 3, 7, 9] if dtype == "int64" else ["7", "3", "7", "9"]
    tx = pd.DataFrame(
        {
            "buyer": pd.Series(ids, dtype=dtype),
            "at": [ts("2025-01-01"), ts("2025-01-02"), ts("2025-01-03"), ts("2025-03-01")],
            "paid": [1.0, 2.0, 4.0, 8.0],
        }
    )
    f = features(tx, as_of="2025-02-01", **NAMES)  # customer 9 only buys later
    assert f.index.dtype == tx["buyer"].dtype
    assert f.index.tolist() == ids[:2]
    assert f["total_spend"].tolist() == [5.0, 2.0]


def test_integer_and_categorical_customer_ids() -> None:
    tx = frame(
        [(7, ts("2025-01-01"), 1.0), (3, ts("2025-01-02"), 2.0), (7, ts("2025-01-03"), 4.0)],
        ["buyer", "at", "paid"],
    )
    ints = features(tx, as_of="2025-02-01", **NAMES)
    assert list(ints.index) == [7, 3]
    assert ints.loc[7, "total_spend"] == 5.0
    cats = features(tx.astype({"buyer": "category"}), as_of="2025-02-01", **NAMES)
    pd.testing.assert_frame_equal(ints, cats, check_index_type=False)


def test_integer_amounts_are_accepted() -> None:
    tx = frame([("a", ts("2025-01-01"), 3), ("a", ts("2025-01-02"), 4)], ["buyer", "at", "paid"])
    assert features(tx, as_of="2025-02-01", **NAMES).loc["a", "total_spend"] == 7.0


def test_input_frames_are_not_modified() -> None:
    w = _world()
    before = {k: v.copy() for k, v in w.items()}
    _world_features()
    for key, value in before.items():
        pd.testing.assert_frame_equal(w[key], value)


def test_survey_scale_is_checked_when_given() -> None:
    surveys = frame(
        [("a", ts("2025-01-01"), 9, "nps"), ("a", ts("2025-01-02"), 4, "csat")],
        ["buyer", "at", "score", "scale"],
    )
    tx = pd.DataFrame(columns=["buyer", "at", "paid"])
    f = features(tx, as_of="2025-02-01", **NAMES, surveys=surveys, scale="scale")
    assert f.loc["a", "latest_survey_score"] == 4.0


# ---------------------------------------------------------------- entities to frames


T0 = datetime(2025, 1, 5, 9, tzinfo=UTC)


def test_activity_frames_and_features_one_agree_on_a_small_history() -> None:
    log = [
        Purchase(
            id="p1",
            customer_id="ann",
            occurred_at=T0,
            amount="10.10",
            currency="EUR",
            settlement="cash",
        ),
        Purchase(
            id="p2",
            customer_id="ann",
            occurred_at=T0 + timedelta(days=40),
            amount="5",
            currency="EUR",
        ),
        Refund(
            id="r1",
            customer_id="ann",
            occurred_at=T0 + timedelta(days=41),
            purchase_id="p2",
            amount="1.5",
            currency="EUR",
        ),
        Referral(id="f1", customer_id="ann", occurred_at=T0, referred_id="bo"),
        Complaint(id="c1", customer_id="bo", occurred_at=T0, severity="critical"),
    ]
    frames = activity_frames(log)
    f = frames.features(as_of="2025-03-01")
    one = features_one([a for a in log if a.customer_id == "ann"], as_of="2025-03-01")
    assert one["total_spend"] == f.loc["ann", "total_spend"] == 10.1 + 5 - 1.5
    assert one["referrals_made"] == f.loc["ann", "referrals_made"] == 1
    assert f.loc["bo", "complaints_critical"] == 1
    assert str(frames.transactions["occurred_at"].dtype) == "datetime64[ns, UTC]"
    assert list(frames.refunds.columns) == [
        "id",
        "customer_id",
        "occurred_at",
        "purchase_id",
        "amount",
        "currency",
    ]


def test_empty_activity_frames_have_their_columns() -> None:
    frames = activity_frames([])
    assert list(frames.surveys.columns) == ["id", "customer_id", "occurred_at", "scale", "score"]
    f = frames.features(as_of="2025-01-01")
    assert len(f) == 0
    assert tuple(f.columns) == FEATURE_COLUMNS


def test_transactions_frame_rejects_other_activities() -> None:
    c = Complaint(id="c1", customer_id="bo", occurred_at=T0, severity="low")
    with pytest.raises(ValidationError) as caught:
        transactions_frame([c])  # type: ignore[list-item]
    assert caught.value.field == "purchases"
    with pytest.raises(ValidationError):
        activity_frames([object()])  # type: ignore[list-item]
    with pytest.raises(ValidationError):
        features_one([object()], as_of="2025-01-01")  # type: ignore[list-item]


def test_profile_frame() -> None:
    acme = Customer(
        id="acme", name="ACME", kind="company", created_at=T0, spending_budget="1200.50"
    )
    ann = Customer(
        id="ann",
        name="Ann",
        created_at=T0,
        company_id="acme",
        share_of_wallet=0.25,
        influence="celebrity",
        membership=Membership(since=T0, tier="gold"),
    )
    p = profile_frame([acme, ann], customer="who")
    assert p.index.name == "who"
    assert list(p.columns) == [
        "kind",
        "company_id",
        "spending_budget",
        "share_of_wallet",
        "influence",
        "is_member",
        "member_tier",
        "member_since",
    ]
    assert p.loc["acme", "spending_budget"] == 1200.5
    assert np.isnan(p.loc["ann", "spending_budget"])
    assert p.loc["ann", "is_member"]
    assert not p.loc["acme", "is_member"]
    assert p.loc["ann", "member_tier"] == "gold"
    assert p.loc["ann", "member_since"] == T0
    assert pd.isna(p.loc["acme", "member_since"])
    assert str(p["member_since"].dtype) == "datetime64[ns, UTC]"
    assert p["company_id"].dropna().to_dict() == {"ann": "acme"}
    with pytest.raises(ValidationError):
        profile_frame([acme, acme])


# ---------------------------------------------------------------- company roll-up


def test_roll_up_credits_staff_purchases_to_their_company() -> None:
    tx = frame(
        [
            ("ann", ts("2025-01-01"), 10.0),
            ("bo", ts("2025-01-01"), 20.0),  # same day as ann: one occasion for the company
            ("acme", ts("2025-02-01"), 100.0),
            ("cy", ts("2025-03-01"), 1.0),  # not staff
        ],
        ["buyer", "at", "paid"],
    )
    company_of = {"ann": "acme", "bo": "acme"}
    rolled = roll_up_to_companies(tx, company_of, customer="buyer")
    assert len(rolled) == 6
    f = features(rolled, as_of="2025-04-01", **NAMES)
    assert f.loc["acme", "total_spend"] == 130.0
    assert f.loc["acme", "purchase_count"] == 3
    assert f.loc["acme", "purchase_days"] == 2
    assert f.loc["acme", "first_purchase"] == ts("2025-01-01")
    assert f.loc["ann", "total_spend"] == 10.0  # individuals keep their own
    assert f.loc["cy", "total_spend"] == 1.0
    # A company made only of staff purchases still gets a row.
    only_staff = roll_up_to_companies(tx[tx["buyer"] != "acme"], company_of, customer="buyer")
    g = features(only_staff, as_of="2025-04-01", **NAMES)
    assert g.loc["acme", "total_spend"] == 30.0
    # The series form, as profile_frame gives it.
    series = pd.Series(company_of)
    pd.testing.assert_frame_equal(roll_up_to_companies(tx, series, customer="buyer"), rolled)


def test_roll_up_matches_features_one_over_company_and_staff() -> None:
    t = datetime(2025, 1, 1, tzinfo=UTC)
    log = [
        Purchase(id="p1", customer_id="acme", occurred_at=t, amount=100, currency="EUR"),
        Purchase(
            id="p2", customer_id="ann", occurred_at=t + timedelta(days=3), amount=7, currency="EUR"
        ),
    ]
    tx = roll_up_to_companies(transactions_frame(log), {"ann": "acme"})
    f = features(tx, as_of="2025-02-01")
    one = features_one(log, as_of="2025-02-01")  # the company's own and its staff's activities
    assert {k: f.loc["acme", k] for k in ("total_spend", "purchase_days", "repeat_avg_spend")} == {
        k: one[k] for k in ("total_spend", "purchase_days", "repeat_avg_spend")
    }


@pytest.mark.parametrize(
    ("company_of", "problem"),
    [
        ({"ann": "ann"}, "both a member and a company"),
        ({"ann": "acme", "acme": "holding"}, "both a member and a company"),
        ({"ann": None}, "no company"),
        (["ann"], "mapping"),
    ],
)
def test_roll_up_rejects_bad_mappings(company_of: Any, problem: str) -> None:
    tx = frame([("ann", ts("2025-01-01"), 1.0)], ["buyer", "at", "paid"])
    with pytest.raises(ValidationError, match=problem) as caught:
        roll_up_to_companies(tx, company_of, customer="buyer")
    assert caught.value.field == "company_of"


def test_roll_up_without_staff_returns_a_copy() -> None:
    tx = frame([("ann", ts("2025-01-01"), 1.0)], ["buyer", "at", "paid"])
    out = roll_up_to_companies(tx, {"zed": "acme"}, customer="buyer")
    pd.testing.assert_frame_equal(out, tx)
    assert out is not tx


@pytest.mark.parametrize("library", ["polars", "pyarrow"])
def test_polars_and_pyarrow_input_give_the_pandas_result(library: str) -> None:
    pytest.importorskip(library)
    import pyarrow as pa

    from crmkit.app import synthetic_transactions

    tx = synthetic_transactions(3_000, 300, seed=11)
    want = features(tx, as_of="2024-06-30", date="date", settlement="settlement")
    table = pa.Table.from_pandas(tx, preserve_index=False)
    if library == "polars":
        import polars as pl

        other = pl.from_arrow(table)
    else:
        other = table
    got = features(other, as_of="2024-06-30", date="date", settlement="settlement")
    # The same customers in the same order, the same values; only the index's string
    # storage may differ (Arrow-backed for Arrow input).
    assert got.index.astype(object).tolist() == want.index.astype(object).tolist()
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), want.reset_index(drop=True), check_dtype=False
    )


@pytest.mark.parametrize("chunk", [1, 7, 256])
def test_chunked_kernels_give_the_same_result(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    """Row-sized work runs in chunks (1M rows); chunk boundaries change nothing, bit for bit."""
    from crmkit.app import synthetic_transactions
    from crmkit.core import _factorize
    from crmkit.scoring import _kernels

    tx = synthetic_transactions(3_000, 400, seed=5)
    tx.loc[::11, "settlement"] = None
    kwargs: dict[str, Any] = {"as_of": "2024-10-15", "date": "date", "settlement": "settlement"}
    whole = features(tx, **kwargs)
    monkeypatch.setattr(_kernels, "_CHUNK", chunk)
    monkeypatch.setattr(_factorize, "_CHUNK", chunk)
    pd.testing.assert_frame_equal(features(tx, **kwargs), whole, check_exact=True)


def test_the_index_keeps_the_id_columns_dtype_when_later_frames_add_customers() -> None:
    # pandas 3 infers str when appending object indexes; the features keep object ids object.
    at = pd.Timestamp("2025-01-01", tz="UTC")
    tx = pd.DataFrame(
        {"customer_id": pd.Series(["a"], dtype=object), "occurred_at": [at], "amount": [1.0]}
    )
    complaints = pd.DataFrame(
        {"customer_id": pd.Series(["b"], dtype=object), "occurred_at": [at], "severity": ["low"]}
    )
    out = features(tx, as_of=at, complaints=complaints)
    assert out.index.tolist() == ["a", "b"]
    assert out.index.dtype == object
