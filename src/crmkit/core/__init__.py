"""The ground floor every layer stands on: errors, time, the frame boundary, the definition loader.

``crmkit.core`` imports nothing else of crmkit; every other package may import
it (openly: these names are public and stable). It holds what the layers
share, once:

* **errors**: the whole hierarchy under :class:`CrmkitError` (re-exported as
  ``crmkit.errors``);
* **time**: one ISO 8601 parser and the two time rules (recorded facts must
  carry a zone, :func:`to_utc`; points in time a caller asks about take a
  date as midnight UTC, :func:`parse_as_of` / :func:`to_instant`), and the day
  and month arithmetic;
* **the frame boundary**: pandas, polars or pyarrow in (:func:`check_frame`,
  :func:`to_pandas`), column readers that name the frame, column and rows of
  bad input (:func:`date_ticks`, :func:`amount_array`, :func:`score_array`,
  :func:`enum_codes`), and factorisation of id columns (:func:`factorize`);
* **the definition loader**: :class:`Definition` (``from_dict`` / ``from_toml``
  / ``from_json`` / ``to_dict`` / ``to_toml`` / ``to_json``), :func:`load_source`
  and :class:`ConfigReader`, which collects every problem with its key path.

>>> from crmkit.core import parse_as_of, shift_months
>>> shift_months(parse_as_of("2025-05-31"), -3)
Timestamp('2025-02-28 00:00:00+0000', tz='UTC')
"""

from crmkit.core._arrays import distinct
from crmkit.core._errors import (
    AlreadyExistsError,
    ConfigError,
    ConflictError,
    CouponError,
    CrmkitError,
    FormulaError,
    FrameError,
    InsufficientPointsError,
    MissingColumnError,
    NotFittedError,
    NotFoundError,
    Problem,
    StorageError,
    ValidationError,
    did_you_mean,
)
from crmkit.core._factorize import factorize, factorize_first
from crmkit.core._frames import (
    Ticks,
    amount_array,
    check_frame,
    date_ticks,
    enum_codes,
    first_rows,
    id_codes,
    id_index,
    score_array,
    to_pandas,
)
from crmkit.core._frozen import FrozenDict, freeze
from crmkit.core._loader import ConfigReader, Definition, dumps_toml, load_source
from crmkit.core._time import (
    DAYS_PER_MONTH,
    NS_PER_DAY,
    TICKS_PER_SECOND,
    AsOf,
    check_window,
    day_of,
    days_between,
    days_between_array,
    month_index,
    month_start,
    parse_as_of,
    parse_iso,
    shift_months,
    to_instant,
    to_ns,
    to_optional_utc,
    to_utc,
)

__all__ = [
    "DAYS_PER_MONTH",
    "NS_PER_DAY",
    "TICKS_PER_SECOND",
    "AlreadyExistsError",
    "AsOf",
    "ConfigError",
    "ConfigReader",
    "ConflictError",
    "CouponError",
    "CrmkitError",
    "Definition",
    "FormulaError",
    "FrameError",
    "FrozenDict",
    "InsufficientPointsError",
    "MissingColumnError",
    "NotFittedError",
    "NotFoundError",
    "Problem",
    "StorageError",
    "Ticks",
    "ValidationError",
    "amount_array",
    "check_frame",
    "check_window",
    "date_ticks",
    "day_of",
    "days_between",
    "days_between_array",
    "did_you_mean",
    "distinct",
    "dumps_toml",
    "enum_codes",
    "factorize",
    "factorize_first",
    "first_rows",
    "freeze",
    "id_codes",
    "id_index",
    "load_source",
    "month_index",
    "month_start",
    "parse_as_of",
    "parse_iso",
    "score_array",
    "shift_months",
    "to_instant",
    "to_ns",
    "to_optional_utc",
    "to_pandas",
    "to_utc",
]
