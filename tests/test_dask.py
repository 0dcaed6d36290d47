"""The Dask building blocks equal the pandas path exactly: features of a transaction log.

One 2-worker ``LocalCluster`` (processes) for the module; 240k rows. The whole
job on Dask (``crmkit.app.score_dask``) is tested in ``test_dask_job.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

import dask.dataframe as dd  # noqa: E402

import crmkit as ck  # noqa: E402
from crmkit.adapters import dask as ckd  # noqa: E402
from crmkit.adapters.frames import to_pandas  # noqa: E402
from crmkit.app import synthetic_transactions  # noqa: E402

pytestmark = [
    # A LocalCluster started and closed inside the test run: distributed warns when
    # closing leaves a worker's comm or a port behind, which is harmless here.
    pytest.mark.filterwarnings("ignore:Port .* is already in use:UserWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    # The test data is built in memory and handed to dask with from_pandas on purpose
    # (real jobs read parquet); distributed warns that the graph holding it is large.
    pytest.mark.filterwarnings("ignore:Sending large graph:UserWarning"),
]

AS_OF = "2024-10-01"  # inside the data: some rows are after as_of
ROWS = 240_000
CUSTOMERS = 30_000


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",  # no fixed port: runs may overlap
    )
    with cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def tx() -> pd.DataFrame:
    return synthetic_transactions(ROWS, CUSTOMERS, seed=3)


@pytest.fixture(scope="module")
def pandas_result(tx: pd.DataFrame) -> pd.DataFrame:
    return ck.features(tx, as_of=AS_OF, date="date", settlement="settlement")


def _same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    got = got.sort_index()
    want = want.sort_index()
    assert list(got.columns) == list(want.columns)
    assert got.index.astype(object).tolist() == want.index.astype(object).tolist()
    for name in want.columns:
        a, b = got[name], want[name]
        if a.dtype.kind == "f":
            # exact: the same bits, NaN where NaN
            assert np.array_equal(a.to_numpy(), b.to_numpy(), equal_nan=True), name
        else:
            assert a.tolist() == b.tolist(), name
        assert a.dtype == b.dtype, name


def test_features_equal_pandas_on_a_cluster(
    client: Any, tx: pd.DataFrame, pandas_result: pd.DataFrame
) -> None:
    ddf = dd.from_pandas(tx, npartitions=5, sort=False)
    out = ckd.features(ddf, as_of=AS_OF, date="date", settlement="settlement").compute()
    _same(out, pandas_result)


def test_polars_and_arrow_input(tx: pd.DataFrame) -> None:
    pa = pytest.importorskip("pyarrow")
    pl = pytest.importorskip("polars")
    small = tx.iloc[:5_000]
    want = ck.features(small, as_of=AS_OF, date="date", settlement="settlement")
    for source in (pa.Table.from_pandas(small, preserve_index=False), pl.from_pandas(small)):
        frame = to_pandas(source)
        assert isinstance(frame, pd.DataFrame)
        got = ck.features(frame, as_of=AS_OF, date="date", settlement="settlement")
        _same(got, want)


def test_to_pandas_refuses_other_objects() -> None:
    with pytest.raises(ck.ValidationError, match="polars"):
        to_pandas([1, 2, 3])


def test_missing_column_raises_when_building(client: Any, tx: pd.DataFrame) -> None:
    ddf = dd.from_pandas(tx.iloc[:100], npartitions=2, sort=False)
    with pytest.raises(ck.MissingColumnError):
        ckd.features(ddf, as_of=AS_OF, date="when")


def test_as_of_before_a_partition_gives_no_rows(client: Any) -> None:
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "occurred_at": pd.to_datetime(["2024-01-01", "2025-01-01"]),
            "amount": [1.0, 2.0],
        }
    )
    out = ckd.features(dd.from_pandas(tx, npartitions=2, sort=False), as_of="2024-06-01")
    assert out.compute().index.tolist() == ["a"]


def test_task_based_shuffle_equals_pandas(
    client: Any, tx: pd.DataFrame, pandas_result: pd.DataFrame
) -> None:
    import dask

    with dask.config.set({"dataframe.shuffle.method": "tasks"}):
        out = ckd.features(
            dd.from_pandas(tx, npartitions=4, sort=False),
            as_of=AS_OF,
            date="date",
            settlement="settlement",
            npartitions=3,
        ).compute()
    _same(out, pandas_result)
