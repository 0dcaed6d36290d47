"""Properties of crmkit.scoring.features: the scalar path agrees, representations don't matter.

Column names are drawn (never "id"/"date" by habit), as are the forms of
``as_of``, the date column and the customer ids.
"""

from __future__ import annotations

import functools
import itertools
import math
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmkit.core import factorize, factorize_first
from crmkit.domain import Activity
from crmkit.errors import FrameError
from crmkit.scoring import FEATURE_COLUMNS, activity_frames, features, features_one
from crmkit.scoring._columns import FEATURE_KINDS
from crmkit.testing import strategies as cks

FRAME_COLUMNS = {  # activity_frames column -> features argument that names it
    "customer_id": "customer",
    "occurred_at": "date",
    "amount": "amount",
    "settlement": "settlement",
    "severity": "severity",
    "channel": "channel",
    "score": "score",
    "scale": "scale",
}


def _as_of_forms(as_of: datetime) -> st.SearchStrategy[Any]:
    forms: list[Any] = [as_of, pd.Timestamp(as_of), as_of.isoformat()]
    forms.append(as_of.replace(tzinfo=None))  # naive = UTC
    if as_of == as_of.replace(hour=0, minute=0, second=0, microsecond=0):
        forms += [as_of.date(), as_of.date().isoformat()]
    return st.sampled_from(forms)


def _renamed(frame: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    keep = [c for c in frame.columns if c in FRAME_COLUMNS]
    return frame[keep].rename(columns={c: names[FRAME_COLUMNS[c]] for c in keep})


def _equal(kind: str, frame_value: Any, scalar_value: Any) -> bool:
    if kind == "int":
        return isinstance(scalar_value, int) and int(frame_value) == scalar_value
    if kind == "time":
        if scalar_value is None:
            return bool(pd.isna(frame_value))
        return isinstance(scalar_value, datetime) and frame_value == scalar_value
    if scalar_value is None:
        return math.isnan(frame_value)
    return isinstance(scalar_value, float) and float(frame_value) == scalar_value


def _customers_with_activity(log: list[Activity], as_of: datetime) -> set[str]:
    return {a.customer_id for a in log if a.occurred_at <= as_of}


@given(
    history=cks.feature_histories(),
    names=cks.column_names(),
    time_unit=st.sampled_from(["D", "W"]),
    data=st.data(),
)
def test_features_one_equals_the_customers_row_of_features(
    history: cks.FeatureHistory, names: dict[str, str], time_unit: Any, data: st.DataObject
) -> None:
    as_of = data.draw(_as_of_forms(history.as_of), label="as_of")
    frames = activity_frames(history.activities)
    active = _customers_with_activity(history.activities, history.as_of)
    compute = functools.partial(
        features,
        _renamed(frames.transactions, names),
        as_of=as_of,
        customer=names["customer"],
        date=names["date"],
        amount=names["amount"],
        settlement=names["settlement"],
        refunds=_renamed(frames.refunds, names),
        complaints=_renamed(frames.complaints, names),
        referrals=_renamed(frames.referrals, names),
        interactions=_renamed(frames.interactions, names),
        surveys=_renamed(frames.surveys, names),
        severity=names["severity"],
        channel=names["channel"],
        score=names["score"],
        scale=names["scale"],
        time_unit=time_unit,
    )
    if history.activities and not active:
        with pytest.raises(FrameError, match="as_of is before all data") as caught:
            compute()
        assert caught.value.column == names["date"]
        return
    result = compute()
    assert tuple(result.columns) == FEATURE_COLUMNS
    assert result.index.name == names["customer"]
    assert set(result.index) == active
    for customer in {a.customer_id for a in history.activities}:
        mine = [a for a in history.activities if a.customer_id == customer]
        one = features_one(mine, as_of=as_of, time_unit=time_unit)
        assert tuple(one) == FEATURE_COLUMNS
        if customer not in active:
            assert all(v in (0, None) for v in one.values()), one
            continue
        row = result.loc[customer]
        for name in FEATURE_COLUMNS:
            assert _equal(FEATURE_KINDS[name], row[name], one[name]), (
                name,
                row[name],
                one[name],
            )


def _canonical(frame: pd.DataFrame, date: str) -> pd.DataFrame:
    """The same frame with its dates as datetime64[ns, UTC]."""
    out = frame.copy()
    column = frame[date]
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        out[date] = column.dt.tz_convert(UTC).dt.as_unit("ns")
    elif column.dtype.kind == "M":
        out[date] = column.dt.tz_localize(UTC).dt.as_unit("ns")
    else:
        out[date] = pd.to_datetime(column, utc=True, format="ISO8601").dt.as_unit("ns")
    return out


@given(data=st.data(), names=cks.column_names("customer", "date", "amount", "settlement"))
def test_the_representation_of_dates_and_ids_does_not_change_the_result(
    data: st.DataObject, names: dict[str, str]
) -> None:
    frame = data.draw(cks.transaction_frames(**names, min_rows=1))
    as_of = data.draw(st.datetimes(datetime(1990, 1, 1), datetime(2040, 1, 1)), label="as_of")
    kwargs: dict[str, Any] = {**names, "as_of": as_of, "time_unit": "W"}
    canonical = _canonical(frame, names["date"])
    canonical[names["customer"]] = canonical[names["customer"]].astype(object)
    try:
        expected = features(canonical, **kwargs)
    except Exception as err:  # as_of before all data: both must say so
        with pytest.raises(type(err)):
            features(frame, **kwargs)
        return
    got = features(frame, **kwargs)
    pd.testing.assert_frame_equal(got, expected, check_exact=True, check_index_type=False)


@settings(max_examples=50)
@given(data=st.data(), names=cks.column_names("customer", "date", "amount", "settlement"))
def test_row_order_and_rows_after_as_of_do_not_matter(
    data: st.DataObject, names: dict[str, str]
) -> None:
    frame = data.draw(cks.transaction_frames(**names, min_rows=1))
    frame = _canonical(frame, names["date"])
    as_of = frame[names["date"]].sort_values().iloc[len(frame) // 2]
    kwargs: dict[str, Any] = {**names, "as_of": as_of}
    expected = features(frame, **kwargs).sort_index()
    shuffled = frame.sample(frac=1.0, random_state=data.draw(st.integers(0, 2**31)))
    pd.testing.assert_frame_equal(features(shuffled, **kwargs).sort_index(), expected, rtol=1e-12)
    earlier = frame[frame[names["date"]] <= as_of]
    pd.testing.assert_frame_equal(features(earlier, **kwargs).sort_index(), expected)


_VALUES = st.one_of(
    st.sampled_from(["a", "b", "c", "", "ä"]),
    st.none(),
    st.just(float("nan")),
    st.integers(0, 3),
    st.text(max_size=3),
)


@given(values=st.lists(_VALUES, max_size=40), copies=st.booleans())
def test_fast_factorize_is_pandas_factorize(values: list[Any], copies: bool) -> None:
    if copies:  # equal strings held by distinct objects
        values = ["".join(list(v)) if isinstance(v, str) else v for v in values]
    series = pd.Series(values, dtype=object)
    codes, uniques = factorize(series)
    expected_codes, expected_uniques = pd.factorize(series)
    assert codes.tolist() == expected_codes.tolist()
    assert list(uniques) == list(expected_uniques)
    assert codes.dtype == np.intp
    _assert_first_rows(series, expected_codes)


def _assert_first_rows(series: pd.Series[Any], expected_codes: npt.NDArray[np.intp]) -> None:
    """factorize_first gives the same codes and, for each unique, the row where it first appears."""
    codes, first = factorize_first(series)
    assert codes.tolist() == expected_codes.tolist()
    n_uniques = int(expected_codes.max()) + 1 if len(expected_codes) else 0
    assert first.tolist() == [int(np.argmax(expected_codes == k)) for k in range(n_uniques)]


_SHORT_TEXT = st.one_of(
    st.text(max_size=8),  # 7 bytes or fewer, or more (non-ASCII characters take several)
    st.sampled_from(["", "a", "a\x00", "abcdefgh", "é"]),
    st.none(),
)
_EIGHT_BYTES = st.text(alphabet="ab\x00é", min_size=4, max_size=8).filter(
    lambda text: len(text.encode()) == 8
)


@given(
    values=st.one_of(st.lists(_SHORT_TEXT, max_size=40), st.lists(_EIGHT_BYTES, max_size=40)),
    dtype=st.sampled_from(["string[pyarrow]", "str", "arrow string", "arrow large_string"]),
)
def test_fast_factorize_of_arrow_strings_is_pandas_factorize(
    values: list[str | None], dtype: str
) -> None:
    pa = pytest.importorskip("pyarrow")
    arrow_types = {"arrow string": pa.string(), "arrow large_string": pa.large_string()}
    whole = pd.Series(
        values, dtype=pd.ArrowDtype(arrow_types[dtype]) if dtype in arrow_types else dtype
    )
    if whole.dtype == object:  # "str" is object on pandas 2
        return
    # Also a slice (an Arrow array with an offset) and two chunks.
    for series in (whole, whole.iloc[1:], pd.concat([whole, whole.iloc[::-1]])):
        codes, uniques = factorize(series)
        expected_codes, expected_uniques = pd.factorize(series)
        assert codes.tolist() == expected_codes.tolist()
        assert list(uniques) == list(expected_uniques)
        _assert_first_rows(series, expected_codes)


def _arrow_series(values: list[str | None], dtype: str, chunks: int) -> pd.Series[Any]:
    """*values* as an Arrow-backed string column of *dtype*, in *chunks* Arrow chunks."""
    import pyarrow as pa

    arrow_type = pa.string() if dtype == "arrow string" else pa.large_string()
    cuts = np.linspace(0, len(values), chunks + 1).astype(int)
    array = pa.chunked_array(
        [pa.array(values[lo:hi], type=arrow_type) for lo, hi in itertools.pairwise(cuts)],
        type=arrow_type,
    )
    if dtype == "string[pyarrow]":
        return pd.Series(pd.array(array, dtype=pd.StringDtype("pyarrow")))
    return pd.Series(pd.arrays.ArrowExtensionArray(array))


@given(
    values=cks.id_columns(),
    dtype=st.sampled_from(["string[pyarrow]", "arrow string", "arrow large_string"]),
    chunks=st.integers(1, 3),
    weak_hash=st.booleans(),
    block=st.sampled_from([1, 3, 1 << 15]),
)
def test_arrow_ids_of_any_length_factorise_exactly_as_pandas(
    values: list[str | None], dtype: str, chunks: int, weak_hash: bool, block: int
) -> None:
    """UUIDs, e-mails, near misses: the codes and uniques are pandas.factorize's, hash or not.

    *block* is how many rows are hashed and checked together (small blocks put
    block boundaries inside the generated columns).
    """
    pytest.importorskip("pyarrow")
    from crmkit.core import _factorize

    series = _arrow_series(values, dtype, chunks)
    expected_codes, expected_uniques = pd.factorize(series)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_factorize, "_BLOCK", block)
        if weak_hash:  # every long string hashes alike: the check must catch it
            patch.setattr(
                _factorize, "_hash_keys", lambda chunk, words: chunk.lengths.astype(np.uint64)
            )
        for part in (series, series.iloc[1:]):
            codes, uniques = factorize(part)
            part_codes, part_uniques = pd.factorize(part)
            assert codes.tolist() == part_codes.tolist()
            assert list(uniques) == list(part_uniques)
        _assert_first_rows(series, expected_codes)
    assert list(factorize(series)[1]) == list(expected_uniques)


def test_long_arrow_ids_take_the_integer_path() -> None:
    """UUIDs and e-mail addresses are hashed to integers and checked, not left to pandas."""
    pytest.importorskip("pyarrow")
    from crmkit.core._factorize import _arrow_strings

    uuids = ["3f2b8c1e-0d4a-4e6b-9a7c-1b2c3d4e5f60", "00000000-0000-4000-8000-000000000000"]
    emails = ["ann@example.com", None, "bo.b@example.org", "ann@example.com"]
    for values in (uuids * 3, emails, ["c0000001", "c0000002"], ["a", None, "bcd"]):
        found = _arrow_strings(pd.Series(values, dtype="string[pyarrow]"))
        assert found is not None
        codes, _, _ = found
        assert codes.tolist() == pd.factorize(pd.Series(values, dtype=object))[0].tolist()


def test_a_hash_collision_falls_back_to_pandas(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pyarrow")
    from crmkit.core import _factorize

    monkeypatch.setattr(
        _factorize, "_hash_keys", lambda chunk, words: np.zeros(len(chunk.starts), np.uint64)
    )
    series = pd.Series(["customer-0001", "customer-0002", "customer-0001"], dtype="string[pyarrow]")
    assert _factorize._arrow_strings(series) is None  # the check saw two strings under one key
    assert factorize(series)[0].tolist() == [0, 1, 0]


def test_features_one_without_activity_is_empty() -> None:
    one = features_one([], as_of=date(2025, 1, 1))
    assert one["purchase_count"] == 0
    assert one["total_spend"] == 0.0
    assert one["first_purchase"] is None
    assert one["monthly_frequency"] == 0.0


@pytest.mark.parametrize("dtype", ["object", "string[python]"])
@pytest.mark.parametrize("copies", [False, True])
@pytest.mark.parametrize("distinct", [3, 5_000])
def test_fast_factorize_on_larger_columns(distinct: int, copies: bool, dtype: str) -> None:
    rng = np.random.default_rng(distinct)
    pool = np.array([f"id-{i}" for i in range(distinct)] + [None], dtype=object)
    values = pool[rng.integers(0, len(pool), 50_000)]
    if copies:  # equal ids held by different objects, as when each row's text is parsed alone
        values[::7] = np.array(["".join(list(v)) if v else v for v in values[::7]], dtype=object)
    series = pd.Series(values, dtype=dtype)
    codes, uniques = factorize(series)
    expected_codes, expected_uniques = pd.factorize(series)
    assert codes.tolist() == expected_codes.tolist()
    assert list(uniques) == list(expected_uniques)
    _assert_first_rows(series, expected_codes)
