"""Reading and writing tables of customers and transactions: CSV (pandas) or Parquet (pyarrow).

Parquet needs the optional ``parquet`` extra (``pip install 'crmkit[parquet]'``);
pyarrow is imported only when a Parquet file is read or written.

>>> import pandas as pd, tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> write_table(pd.DataFrame({"customer_id": ["a"], "amount": [1.5]}), folder / "t.csv")
>>> read_table(folder / "t.csv")
  customer_id  amount
0           a     1.5
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

from crmkit.core import CrmkitError, FrameError

__all__ = ["read_table", "write_table"]

_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def _format(path: Path) -> str:
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise CrmkitError(
            f"cannot tell the format of {path}",
            expected="a file name ending in .csv or .parquet",
            got=repr(path.suffix or "no suffix"),
        )
    return fmt


def _need_pyarrow() -> None:
    if importlib.util.find_spec("pyarrow") is None:
        raise CrmkitError(
            "Parquet files need pyarrow, which is not installed",
            hint="pip install 'crmkit[parquet]', or use a .csv file",
        )


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet file (by its suffix) into a DataFrame.

    Raises:
        CrmkitError: an unknown suffix, or Parquet without pyarrow.
        FrameError: the file cannot be parsed.
        OSError: the file cannot be read.
    """
    path = Path(path)
    fmt = _format(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if fmt == "parquet":
        _need_pyarrow()
        try:
            return pd.read_parquet(path, engine="pyarrow")
        except (ValueError, TypeError, OSError) as err:
            if isinstance(err, FileNotFoundError):
                raise
            raise FrameError(f"cannot read {path} as Parquet: {err}") from None
    try:
        return pd.read_csv(path)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise FrameError(f"cannot read {path} as CSV: {err}") from None


def write_table(frame: pd.DataFrame, path: str | Path, *, index: bool = False) -> None:
    """Write *frame* as CSV or Parquet (by the suffix of *path*)."""
    path = Path(path)
    fmt = _format(path)
    if fmt == "parquet":
        _need_pyarrow()
        frame.to_parquet(path, engine="pyarrow", index=index)
    else:
        frame.to_csv(path, index=index)
