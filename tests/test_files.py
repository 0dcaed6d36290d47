"""Reading Parquet and Arrow IPC files: strings stay in Arrow memory, the job gives the CSV answer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import crmkit as ck
from crmkit.adapters.files import read_table, write_table
from crmkit.core import FrameError

pa = pytest.importorskip("pyarrow")

TX = pd.DataFrame(
    {
        "customer_id": [
            "3f2b8c1e-0d4a-4e6b-9a7c-1b2c3d4e5f60",
            "ann@example.com",
            "3f2b8c1e-0d4a-4e6b-9a7c-1b2c3d4e5f60",
        ],
        "occurred_at": pd.to_datetime(["2025-01-05", "2025-02-11", "2025-03-20"]),
        "amount": [120.0, 80.0, 35.5],
    }
)


@pytest.mark.parametrize("suffix", [".parquet", ".arrow", ".feather"])
def test_arrow_files_keep_strings_in_arrow_memory(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"tx{suffix}"
    write_table(TX, path)
    frame = read_table(path, text_columns=["customer_id"])
    ids = frame["customer_id"]
    assert isinstance(ids.dtype, pd.StringDtype)
    assert ids.dtype.storage == "pyarrow"
    assert frame["amount"].dtype == np.float64  # numbers become numpy columns
    assert frame["occurred_at"].dtype.kind == "M"
    assert ids.tolist() == TX["customer_id"].tolist()
    expected = ck.features(TX, as_of="2025-07-01")
    got = ck.features(frame, as_of="2025-07-01")
    assert got.index.tolist() == expected.index.tolist()
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.reset_index(drop=True))


def test_numeric_ids_named_as_text_are_read_as_text(tmp_path: Path) -> None:
    path = tmp_path / "tx.arrow"
    write_table(TX.assign(customer_id=[7, 8, 7]), path)
    frame = read_table(path, text_columns=["customer_id"])
    assert frame["customer_id"].tolist() == ["7", "8", "7"]
    assert read_table(path)["customer_id"].tolist() == [7, 8, 7]


def test_a_file_that_is_not_arrow_is_a_frame_error(tmp_path: Path) -> None:
    path = tmp_path / "tx.arrow"
    path.write_text("customer_id,amount\na,1\n")
    with pytest.raises(FrameError, match="Arrow IPC"):
        read_table(path)
