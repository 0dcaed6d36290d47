"""Input frames from other libraries: polars DataFrames and pyarrow Tables to pandas, once.

crmkit's columnar functions take pandas DataFrames. :func:`to_pandas` is the
one place where a polars DataFrame or a pyarrow Table (or RecordBatch) crosses
that boundary: it converts once, keeping the Arrow buffers where pandas can
(``pd.ArrowDtype`` columns, zero-copy for numbers and timestamps without
nulls), and returns pandas frames unchanged. Neither polars nor pyarrow is
imported here: an object is recognised by its type's module, so this module
costs nothing when they are not installed.

>>> import pyarrow as pa
>>> table = pa.table({"customer_id": ["ann", "bo"], "amount": [9.5, 3.0]})
>>> frame = to_pandas(table)
>>> frame.dtypes.astype(str).tolist()
['string[pyarrow]', 'double[pyarrow]']
>>> import polars as pl
>>> float(to_pandas(pl.DataFrame({"amount": [1.0, 2.0]}))["amount"].sum())
3.0

``crmkit.features`` calls it on its inputs, so a polars or pyarrow frame can be
passed to it directly.
"""

from __future__ import annotations

from crmkit.core import to_pandas

__all__ = ["to_pandas"]
