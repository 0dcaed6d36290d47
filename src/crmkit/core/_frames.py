"""Checking input frames and turning their columns into numpy arrays.

Every check raises a crmkit error that names the frame and the column and,
where it helps, lists the first offending rows (by index label). No pandas or
numpy exception escapes on bad input.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from datetime import date
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from crmkit.core._errors import FrameError, MissingColumnError, ValidationError, did_you_mean
from crmkit.core._factorize import factorize, factorize_first
from crmkit.core._time import TICKS_PER_SECOND

__all__ = [
    "Ticks",
    "amount_array",
    "check_frame",
    "date_ticks",
    "enum_codes",
    "first_rows",
    "id_codes",
    "id_index",
    "score_array",
    "to_pandas",
]

_MAX_ROWS = 10
# An ISO 8601 time followed by a zone designator: "...T10:00Z", "... 10:00:00.5+08:00", "...T10-0500".
_ZONED_TEXT = r"\d[T ]\d.*(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$"
_ZONED = re.compile(_ZONED_TEXT)
_DATES_EXPECTED = (
    "datetime64 values, or ISO 8601 text such as '2025-03-01' or '2025-03-01T09:30:00+08:00'"
)


def first_rows(frame: pd.DataFrame, mask: npt.NDArray[np.bool_]) -> list[object]:
    """Index labels of the first rows where *mask* is true (at most ten)."""
    positions = np.flatnonzero(mask)[:_MAX_ROWS]
    return list(frame.index[positions])


def _library(obj: object) -> str:
    return type(obj).__module__.split(".", 1)[0]


def to_pandas(obj: Any) -> pd.DataFrame:
    """A pandas DataFrame from a pandas or polars DataFrame, or a pyarrow Table or RecordBatch.

    * pandas: returned as it is (no copy).
    * pyarrow: ``obj.to_pandas(types_mapper=pd.ArrowDtype)``: every column
      keeps its Arrow buffer (``double[pyarrow]``, ``timestamp[ns][pyarrow]``,
      ``large_string[pyarrow]``...), so numbers and timestamps are not copied.
    * polars: ``obj.to_pandas(use_pyarrow_extension_array=True)``: the same
      Arrow-backed columns, through polars' own Arrow export.

    crmkit's frame functions (``crmkit.features``, ``ValueModel.score``,
    ``SegmentRules.assign``...) accept these Arrow-backed columns and give
    exactly what they give for the numpy-backed equivalents.

    Raises:
        ValidationError: *obj* is none of these.

    >>> frame = pd.DataFrame({"amount": [9.5]})
    >>> to_pandas(frame) is frame
    True
    """
    if isinstance(obj, pd.DataFrame):
        return obj
    library = _library(obj)
    if library == "pyarrow" and type(obj).__name__ in {"Table", "RecordBatch"}:
        frame = obj.to_pandas(types_mapper=pd.ArrowDtype)
    elif library == "polars" and type(obj).__name__ == "DataFrame":
        frame = obj.to_pandas(use_pyarrow_extension_array=True)
    else:
        raise ValidationError(
            "frame",
            expected="a pandas or polars DataFrame, or a pyarrow Table or RecordBatch",
            got=type(obj).__name__,
            hint="a polars LazyFrame needs .collect() first",
        )
    if not isinstance(frame, pd.DataFrame):  # pragma: no cover - both libraries return one
        raise ValidationError("frame", expected="a pandas DataFrame", got=type(frame).__name__)
    return frame


def check_frame(frame: object, what: str, columns: Sequence[str | None]) -> pd.DataFrame:
    """Return *frame* as a pandas DataFrame with every named column (``None`` entries skipped).

    A polars DataFrame or a pyarrow Table is converted once (see :func:`to_pandas`).
    """
    if not isinstance(frame, pd.DataFrame):
        try:
            frame = to_pandas(frame)
        except ValidationError:
            raise ValidationError(
                what,
                expected="a pandas or polars DataFrame, or a pyarrow Table",
                got=type(frame).__name__,
            ) from None
    wanted = [c for c in dict.fromkeys(columns) if c is not None]
    for name in wanted:
        if not isinstance(name, str):
            raise ValidationError(f"{what} column name", expected="a string", got=name)
    present = set(frame.columns)
    missing = [c for c in wanted if c not in present]
    if missing:
        raise MissingColumnError(missing, [str(c) for c in frame.columns])
    if not frame.columns.is_unique:
        for name in wanted:
            if isinstance(frame.columns.get_loc(name), (slice, np.ndarray)):
                raise FrameError(
                    f"{what} has more than one column named {name!r}",
                    column=name,
                    expected="unique column names",
                    got=f"{int((frame.columns == name).sum())} columns named {name!r}",
                )
    return frame


class Ticks:
    """A timestamp column as int64 ticks since the epoch (UTC), with the tick size."""

    __slots__ = ("per_day", "unit", "values")

    def __init__(self, values: npt.NDArray[np.int64], unit: str) -> None:
        self.values = values
        self.unit = unit
        self.per_day = 86_400 * TICKS_PER_SECOND[unit]

    def scalar(self, ns: int) -> int:
        """A nanosecond timestamp in this column's ticks, rounded down (so ``<=`` still holds)."""
        return ns // (1_000_000_000 // TICKS_PER_SECOND[self.unit])


def _datetime_ticks(values: npt.NDArray[np.datetime64]) -> Ticks:
    unit, count = np.datetime_data(values.dtype)
    if unit not in TICKS_PER_SECOND or count != 1:
        values = values.astype("datetime64[ns]")
        unit = "ns"
    return Ticks(values.view(np.int64), unit)


def _parse_text_dates(frame: pd.DataFrame, what: str, name: str, col: pd.Series[Any]) -> Ticks:
    """Parse an object/string column of ISO 8601 text, datetimes or dates."""
    missing = col.isna().to_numpy(dtype=bool)
    if missing.any():
        raise FrameError(
            f"{what}[{name!r}] has missing dates",
            column=name,
            rows=first_rows(frame, missing),
            expected="a date or time in every row",
        )
    kinds = pd.api.types.infer_dtype(col, skipna=False)
    if kinds in ("string", "empty"):
        zoned = col.astype(object).str.contains(_ZONED_TEXT, regex=True).to_numpy(dtype=bool)
    else:  # a column of Python objects: check each one's type (pandas would too)
        values = col.to_numpy(dtype=object)
        odd_type = np.fromiter(
            (not isinstance(v, (str, date, np.datetime64)) for v in values),
            dtype=bool,
            count=len(values),
        )
        if odd_type.any():
            example = values[int(np.argmax(odd_type))]
            raise FrameError(
                f"{what}[{name!r}] has values that are not dates",
                column=name,
                rows=first_rows(frame, odd_type),
                expected=_DATES_EXPECTED,
                got=f"{type(example).__name__} {example!r}",
            )
        zoned = np.fromiter((_is_zoned(v) for v in values), dtype=bool, count=len(values))
    if zoned.any() and not zoned.all():
        odd = zoned != zoned[0]
        raise FrameError(
            f"{what}[{name!r}] mixes times with and without a time zone",
            column=name,
            rows=first_rows(frame, odd),
            expected="all times naive (taken as UTC) or all with a zone or offset",
            hint="give every time a zone, or convert the column with pd.to_datetime(..., utc=True)",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = pd.to_datetime(col, utc=True, format="ISO8601", errors="coerce")
    except (ValueError, TypeError, OverflowError):
        parsed = None
    if parsed is None or not isinstance(parsed.dtype, pd.DatetimeTZDtype):
        raise FrameError(
            f"{what}[{name!r}] does not hold dates",
            column=name,
            rows=first_rows(frame, np.ones(len(col), dtype=bool)),
            expected=_DATES_EXPECTED,
            got=f"a column of {kinds} values",
        )
    bad = parsed.isna().to_numpy(dtype=bool)
    if bad.any():
        raise FrameError(
            f"{what}[{name!r}] has values that are not dates",
            column=name,
            rows=first_rows(frame, bad),
            expected=_DATES_EXPECTED,
            got=repr(col[bad].iloc[0]),
        )
    return _datetime_ticks(parsed.dt.tz_convert(None).to_numpy())


def _is_zoned(value: object) -> bool:
    if isinstance(value, str):
        return _ZONED.search(value.strip()) is not None
    tzinfo = getattr(value, "tzinfo", None)
    return tzinfo is not None


def date_ticks(frame: pd.DataFrame, what: str, name: str) -> Ticks:
    """The column *name* as UTC ticks: naive datetimes are UTC, aware ones are converted.

    Text is parsed as ISO 8601. Missing, unparseable and mixed naive/zoned
    values raise :class:`FrameError` naming the column and the first rows.
    """
    col = frame[name]
    dtype = col.dtype
    if len(col) == 0 and dtype.kind != "M" and not isinstance(dtype, pd.DatetimeTZDtype):
        return Ticks(np.empty(0, dtype=np.int64), "ns")  # nothing to read (an empty list's dtype)
    if isinstance(dtype, pd.DatetimeTZDtype):
        ticks = _datetime_ticks(col.dt.tz_convert(None).to_numpy())
    elif dtype.kind == "M":
        ticks = _datetime_ticks(col.to_numpy())
    elif pd.api.types.is_object_dtype(dtype) or isinstance(dtype, pd.StringDtype):
        return _parse_text_dates(frame, what, name, col)
    else:
        raise FrameError(
            f"{what}[{name!r}] does not hold dates",
            column=name,
            expected="a datetime64 column (naive = UTC, or timezone-aware) or ISO 8601 text",
            got=f"dtype {dtype}",
            hint="convert it first, e.g. pd.to_datetime(frame[col], format='%Y%m%d')",
        )
    missing = ticks.values == np.iinfo(np.int64).min
    if missing.any():
        raise FrameError(
            f"{what}[{name!r}] has missing dates (NaT)",
            column=name,
            rows=first_rows(frame, missing),
            expected="a date or time in every row",
        )
    return ticks


def _float_column(
    frame: pd.DataFrame, what: str, name: str, expected: str
) -> npt.NDArray[np.float64]:
    col = frame[name]
    dtype = col.dtype
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        if len(col) == 0:
            return np.empty(0, dtype=np.float64)
        raise FrameError(
            f"{what}[{name!r}] is not numeric",
            column=name,
            expected=expected,
            got=f"dtype {dtype}",
            hint="convert it first, e.g. frame[col].astype(float)",
        )
    if pd.api.types.is_complex_dtype(dtype):
        raise FrameError(
            f"{what}[{name!r}] is not real", column=name, expected=expected, got=f"dtype {dtype}"
        )
    values: npt.NDArray[np.float64] = col.to_numpy(dtype=np.float64, na_value=np.nan)
    return values


def amount_array(frame: pd.DataFrame, what: str, name: str) -> npt.NDArray[np.float64]:
    """The column *name* as float64 amounts: finite and >= 0 in every row."""
    expected = "finite amounts >= 0 (a float or integer column)"
    values = _float_column(frame, what, name, expected)
    with np.errstate(invalid="ignore"):
        ok = (values >= 0) & (values < np.inf)
    if not ok.all():
        bad = ~ok
        first = values[np.argmax(bad)]
        problem = (
            "NaN (missing) amounts"
            if np.isnan(first)
            else ("negative amounts" if first < 0 else "infinite amounts")
        )
        raise FrameError(
            f"{what}[{name!r}] has {problem}",
            column=name,
            rows=first_rows(frame, bad),
            expected=expected,
            got=repr(float(first)),
        )
    return values


def score_array(frame: pd.DataFrame, what: str, name: str) -> npt.NDArray[np.float64]:
    """The column *name* as float64 scores: finite in every row."""
    expected = "a finite score in every row (a float or integer column)"
    values = _float_column(frame, what, name, expected)
    bad = ~np.isfinite(values)
    if bad.any():
        raise FrameError(
            f"{what}[{name!r}] has missing or infinite scores",
            column=name,
            rows=first_rows(frame, bad),
            expected=expected,
        )
    return values


def enum_codes(
    frame: pd.DataFrame,
    what: str,
    name: str,
    enum_type: type[StrEnum],
    *,
    missing_code: int | None = None,
) -> npt.NDArray[np.int8]:
    """The column *name* as codes of *enum_type*'s members (in declaration order).

    Values must be the members' string values (or the members). Missing values
    get *missing_code*; if it is ``None`` they are an error.
    """
    members = list(enum_type)
    allowed = ", ".join(repr(m.value) for m in members)
    col = frame[name]
    codes, uniques = factorize(col)
    table = np.empty(len(uniques) + 1, dtype=np.int8)
    bad_uniques = []
    for i, value in enumerate(np.asarray(uniques, dtype=object)):
        try:
            table[i] = members.index(enum_type(value)) if isinstance(value, str) else -1
        except ValueError:
            table[i] = -1
        if table[i] < 0:
            bad_uniques.append(i)
    table[-1] = -1 if missing_code is None else missing_code
    if bad_uniques:
        bad = np.isin(codes, bad_uniques)
        example = col.iloc[int(np.argmax(bad))]
        hint = (
            did_you_mean(example, [m.value for m in members]) if isinstance(example, str) else None
        )
        raise FrameError(
            f"{what}[{name!r}] has values that are not {enum_type.__name__} values",
            column=name,
            rows=first_rows(frame, bad),
            expected=f"one of {allowed}",
            got=repr(example),
            hint=hint,
        )
    result: npt.NDArray[np.int8] = table[codes]  # code -1 (missing) picks table[-1]
    if missing_code is None and (codes < 0).any():
        raise FrameError(
            f"{what}[{name!r}] has missing values",
            column=name,
            rows=first_rows(frame, codes < 0),
            expected=f"one of {allowed} in every row",
        )
    return result


def id_index(column: pd.Series[Any], first: npt.NDArray[np.intp]) -> pd.Index[Any]:
    """The distinct customer ids as an index of the column's own dtype.

    Taken from the column's first rows, so ids are never converted (a column
    of Python-backed strings stays one, and is not copied into Arrow memory).
    Categorical ids give an index of their categories' values.
    """
    ids = column.take(first)
    index: pd.Index[Any] = (
        pd.Index(np.asarray(ids))
        if isinstance(ids.dtype, pd.CategoricalDtype)
        else pd.Index(ids, copy=False)
    )
    return index


def id_codes(
    frame: pd.DataFrame, what: str, name: str
) -> tuple[npt.NDArray[np.intp], pd.Index[Any]]:
    """The id column *name* factorised: ``(codes, ids)`` with ``ids[codes]`` the column.

    Ids are numbered by first appearance and keep the column's dtype (see
    :func:`id_index`). A missing id is a :class:`FrameError` naming the rows.

    >>> codes, ids = id_codes(pd.DataFrame({"c": ["b", "a", "b"]}), "transactions", "c")
    >>> codes.tolist(), ids.tolist()
    ([0, 1, 0], ['b', 'a'])
    """
    column = frame[name]
    codes, first = factorize_first(column)
    if len(codes) and codes.min() < 0:
        raise FrameError(
            f"{what}[{name!r}] has missing customer ids",
            column=name,
            rows=first_rows(frame, codes < 0),
            expected="a customer id in every row",
        )
    return codes, id_index(column, first)
