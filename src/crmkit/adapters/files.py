"""Reading and writing tables of customers and transactions: delimited text, Parquet or Arrow IPC.

Text files: ``.csv`` (comma), ``.tsv`` (tab) and ``.txt`` / ``.dat`` (any run of
whitespace, as CDNOW's files), or any separator given. Id columns are read as
text, never as numbers (``00001`` stays ``00001``), and a header that names a
column twice is refused. Parquet (``.parquet``, ``.pq``) and Arrow IPC files
(``.arrow``, ``.feather``, ``.ipc``) need the optional ``parquet`` extra
(``pip install 'crmkit[parquet]'``); pyarrow is imported only when such a
file is read or written. They are read with pyarrow straight into the frame:
string columns stay in their Arrow buffers (``string[pyarrow]``, never a
column of Python objects), numbers and timestamps become numpy columns, and
each Arrow buffer is released as soon as it is converted.

>>> import pandas as pd, tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> write_table(pd.DataFrame({"customer_id": ["a"], "amount": [1.5]}), folder / "t.csv")
>>> read_table(folder / "t.csv")
  customer_id  amount
0           a     1.5
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from crmkit.core import CrmkitError, FrameError, MissingColumnError

__all__ = ["SEPARATORS", "read_table", "write_table"]

_FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".dat": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
}
#: The separator of each text suffix; ``"whitespace"`` is any run of spaces and tabs.
SEPARATORS = {".csv": ",", ".tsv": "\t", ".txt": "whitespace", ".dat": "whitespace"}


def _format(path: Path) -> str:
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise CrmkitError(
            f"cannot tell the format of {path}",
            expected="a file name ending in .csv, .tsv, .txt, .dat or .parquet (or .arrow, .feather, .ipc)",
            got=repr(path.suffix or "no suffix"),
        )
    return fmt


def _need_pyarrow() -> None:
    if importlib.util.find_spec("pyarrow") is None:
        raise CrmkitError(
            "Parquet and Arrow files need pyarrow, which is not installed",
            hint="pip install 'crmkit[parquet]', or use a .csv file",
        )


def read_table(
    path: str | Path,
    *,
    sep: str | None = None,
    text_columns: Sequence[str] = (),
    date_column: str | None = None,
    date_format: str | None = None,
) -> pd.DataFrame:
    """Read a delimited text, Parquet or Arrow IPC file (by its suffix) into a DataFrame.

    Args:
        path: the file.
        sep: the separator of a text file (default: by the suffix, see
            :data:`SEPARATORS`); ``"whitespace"`` for any run of spaces/tabs.
        text_columns: columns read as text whatever they look like (ids).
        date_column: a column to parse as dates with *date_format*.
        date_format: a ``strptime`` format for *date_column*, e.g. ``"%Y%m%d"``;
            without it dates stay as read (ISO 8601 text is parsed later).

    Raises:
        CrmkitError: an unknown suffix, or Parquet or Arrow without pyarrow.
        FrameError: the file cannot be parsed, names a column twice, lacks a
            named column, or a date does not match *date_format*.
        OSError: the file cannot be read.
    """
    path = Path(path)
    fmt = _format(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if fmt in ("parquet", "arrow"):
        _need_pyarrow()
        frame = _read_arrow(path, fmt, text_columns)
    else:
        frame = _read_text(path, sep or SEPARATORS[path.suffix.lower()], text_columns)
    if date_column is not None and date_format is not None:
        frame = _parse_dates(frame, path, date_column, date_format)
    return frame


def _string_dtype(arrow_type: Any) -> Any:
    import pyarrow as pa

    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return pd.StringDtype("pyarrow")
    return None


def _read_arrow(path: Path, fmt: str, text_columns: Sequence[str]) -> pd.DataFrame:
    """A Parquet or Arrow IPC file as a frame: strings stay Arrow, the rest becomes numpy."""
    import pyarrow as pa
    import pyarrow.compute as pc

    what = "Parquet" if fmt == "parquet" else "an Arrow IPC file"
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path)
        else:
            import pyarrow.feather as feather

            table = feather.read_table(path)  # the IPC file format (Feather v2)
        for name in text_columns:
            if name in table.column_names:
                column = table.column(name)
                if _string_dtype(column.type) is None:
                    table = table.set_column(
                        table.column_names.index(name), name, pc.cast(column, pa.large_string())
                    )
        frame: pd.DataFrame = table.to_pandas(
            types_mapper=_string_dtype, split_blocks=True, self_destruct=True
        )
    except (pa.ArrowException, ValueError, TypeError, OSError) as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise FrameError(f"cannot read {path} as {what}: {err}") from None
    del table
    return frame


def _read_text(path: Path, sep: str, text_columns: Sequence[str]) -> pd.DataFrame:
    if sep == "whitespace":
        options: dict[str, object] = {"sep": r"\s+"}
    elif len(sep) == 1:
        options = {"sep": sep}
    else:
        raise CrmkitError("bad separator", expected="one character, or 'whitespace'", got=repr(sep))
    try:
        header = pd.read_csv(path, nrows=0, **options)  # type: ignore[call-overload]
        names = [str(c) for c in header.columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if not dupes:  # pandas renames a repeated name "x.1": catch that too
            with path.open(encoding="utf-8") as handle:
                raw = handle.readline().strip()
            split = raw.split() if sep == "whitespace" else raw.split(sep)
            seen = [s.strip().strip('"') for s in split]
            dupes = sorted({n for n in seen if seen.count(n) > 1})
        if dupes:
            raise FrameError(
                f"{path} names a column more than once",
                column=dupes[0],
                expected="unique column names in the header",
                got=", ".join(dupes),
            )
        dtypes = {n: "string" for n in text_columns if n in names}
        return pd.read_csv(path, dtype=dtypes, **options)  # type: ignore[call-overload, no-any-return]
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as err:
        if isinstance(err, FrameError):
            raise
        raise FrameError(f"cannot read {path} as delimited text: {err}") from None


def _parse_dates(frame: pd.DataFrame, path: Path, column: str, fmt: str) -> pd.DataFrame:
    if column not in frame.columns:
        raise MissingColumnError([column], [str(c) for c in frame.columns])
    text = frame[column].astype("string")
    parsed = pd.to_datetime(text, format=fmt, errors="coerce")
    bad = parsed.isna() & text.notna()
    if bad.any():
        rows = list(frame.index[bad.to_numpy()][:10])
        raise FrameError(
            f"{path}: {column!r} has dates that do not match {fmt!r}",
            column=column,
            rows=rows,
            expected=f"dates written as {fmt}",
            got=repr(text[bad].iloc[0]),
        )
    return frame.assign(**{column: parsed})


def write_table(frame: pd.DataFrame, path: str | Path, *, index: bool = False) -> None:
    """Write *frame* as CSV, Parquet or an Arrow IPC file (by the suffix of *path*)."""
    path = Path(path)
    fmt = _format(path)
    if fmt == "parquet":
        _need_pyarrow()
        frame.to_parquet(path, engine="pyarrow", index=index)
    elif fmt == "arrow":
        _need_pyarrow()
        import pyarrow as pa
        import pyarrow.feather as feather

        feather.write_feather(pa.Table.from_pandas(frame, preserve_index=index), path)
    else:
        frame.to_csv(path, index=index)
