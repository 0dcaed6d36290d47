"""What lifecycle guards read: feature columns and the inputs derived from them.

One place for the scalar path (:func:`_with_derived`, one customer's mapping)
and the columnar path (:func:`_columns_for` / :func:`derive_arrays`, a frame or
replay's per-period arrays), so both derive an input the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from crmkit.core import FrozenDict, MissingColumnError, ValidationError
from crmkit.expr import Formula
from crmkit.scoring import FEATURE_INPUTS, MODEL_INPUTS

__all__ = ["DERIVED", "GUARD_INPUTS", "derive_arrays"]


#: Inputs computed by the lifecycle layer from feature columns, when a guard reads them
#: and the data does not already hold them: name -> formula over features.
DERIVED: Mapping[str, str] = FrozenDict(
    {
        "usual_gap_days": "repeat_span / repeat_purchases",
        "recency_ratio": "days_since_last_purchase / (repeat_span / repeat_purchases)",
        "spend_trend": "spend_last_3m / spend_prev_3m",
    }
)

#: Every name a guard may read without declaring it: number features, derived inputs and
#: the model outputs a feature extension adds (``MODEL_INPUTS``: ``p_alive``, ...).
GUARD_INPUTS: Mapping[str, str] = FrozenDict(
    {**FEATURE_INPUTS, **dict.fromkeys(DERIVED, "number"), **MODEL_INPUTS}
)

_DERIVED_FORMULAS: dict[str, Formula] = {
    name: Formula(text, schema=GUARD_INPUTS) for name, text in DERIVED.items()
}


def _values(features: object) -> dict[str, Any]:
    if isinstance(features, pd.Series):
        return {str(k): v for k, v in features.items()}
    if not isinstance(features, Mapping):
        raise ValidationError(
            "features", expected="a mapping of feature names to values", got=type(features).__name__
        )
    return dict(features)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str, float)):
        return value
    if isinstance(value, (int, np.integer)):
        return float(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def _with_derived(values: dict[str, Any], names: frozenset[str]) -> dict[str, Any]:
    """*values* plus the derived inputs among *names* that *values* lacks (scalar path)."""
    for name in names:
        if name in DERIVED and name not in values:
            values[name] = _DERIVED_FORMULAS[name].evaluate(values)
    return values


def _columns_for(frame: pd.DataFrame, names: frozenset[str]) -> dict[str, Any]:
    """The columns the guards read, derived inputs computed (columnar path)."""
    wanted: set[str] = set()
    for name in names:
        if name in DERIVED and name not in frame.columns:
            wanted |= _DERIVED_FORMULAS[name].names
        else:
            wanted.add(name)
    missing = sorted(w for w in wanted if w not in frame.columns)
    if missing:
        raise MissingColumnError(missing, [str(c) for c in frame.columns])
    arrays: dict[str, Any] = {w: frame[w] for w in wanted}
    return derive_arrays(arrays, names, len(frame))


def derive_arrays(arrays: dict[str, Any], names: frozenset[str], n: int) -> dict[str, Any]:
    """Add the derived inputs among *names* that *arrays* lacks (as float arrays, NaN = null)."""
    for name in names:
        if name in DERIVED and name not in arrays:
            f = _DERIVED_FORMULAS[name]
            result = f.evaluate_arrays({k: arrays[k] for k in f.names}, size=n)
            arrays[name] = np.ma.filled(result.astype(np.float64), np.nan)
    return arrays
