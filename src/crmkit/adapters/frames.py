"""Input frames from other libraries: polars DataFrames and pyarrow Tables to pandas, once.

crmkit's columnar functions take pandas DataFrames. :func:`to_pandas` is the
one place where a polars DataFrame or a pyarrow Table (or RecordBatch) crosses
that boundary: it converts once, keeping the Arrow buffers where pandas can
(``pd.ArrowDtype`` columns, zero-copy for numbers and timestamps without
nulls), and returns pandas frames unchanged. Neither polars nor pyarrow is
imported here: an object is recognised by its type's module, so this module
costs nothing when they are not installed.

>>> import pandas as pd
>>> frame = pd.DataFrame({"customer_id": ["ann"], "amount": [9.5]})
>>> to_pandas(frame) is frame
True
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from crmkit.errors import ValidationError

__all__ = ["to_pandas"]


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

    >>> import pyarrow as pa
    >>> table = pa.table({"customer_id": ["ann", "bo"], "amount": [9.5, 3.0]})
    >>> frame = to_pandas(table)
    >>> frame.dtypes.astype(str).tolist()
    ['string[pyarrow]', 'double[pyarrow]']
    >>> import polars as pl
    >>> float(to_pandas(pl.DataFrame({"amount": [1.0, 2.0]}))["amount"].sum())
    3.0
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
