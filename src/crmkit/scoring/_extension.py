"""Feature extensions: columns computed from a customer's features, on every engine.

A :class:`FeatureExtension` adds columns (a model's forecast, a score from
another system) to what :func:`~crmkit.scoring.features` and
:func:`~crmkit.scoring.features_one` give, and to what lifecycle replay
computes at every period end. It reads the customer's features *at the
``as_of`` of the call*, so a replay month by month gets each month's
forecast from that month's features.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from crmkit.core import FrameError, FrozenDict, ValidationError
from crmkit.scoring._columns import FEATURE_COLUMNS, FEATURE_INPUTS

if TYPE_CHECKING:  # _features imports this module
    from crmkit.scoring._features import TimeUnit

__all__ = [
    "MODEL_INPUTS",
    "FeatureExtension",
    "check_extensions",
    "extend_frame",
    "extend_one",
    "extension_columns",
]

#: The columns the customer-base models of ``crmkit.clv`` add as features
#: (:class:`crmkit.clv.ClvFeatures`). Value models, segment rules, lifecycle
#: guards and churn rules may read them without declaring them; a frame or
#: mapping without them is refused when the formula is evaluated.
MODEL_INPUTS: Final = FrozenDict(
    dict.fromkeys(
        ("p_alive", "p_any_purchase", "expected_purchases", "expected_spend", "clv"), "number"
    )
)


@runtime_checkable
class FeatureExtension(Protocol):
    """Columns computed from a customer's features, the same way for a frame and for one customer.

    Implement the four members; pass the extension to ``features(...,
    extensions=[...])``, ``features_one(..., extensions=[...])``,
    ``Lifecycle.replay(..., extensions=[...])`` and ``Lifecycle.replay_one``.
    :class:`crmkit.clv.ClvFeatures` is the extension of the customer-base
    models.

    * ``columns``: the names of the columns it adds (not feature names).
    * ``needs``: the feature columns it reads (replay computes only these and
      the guards' own; they must be transaction features).
    * ``frame(features, time_unit=...)``: a frame with the index of
      *features* and exactly ``columns``, as float64 (NaN = no value).
    * ``one(features, time_unit=...)``: the same values for one customer's
      mapping (``None`` for no value).

    *time_unit* is the unit of ``repeat_span`` and ``age`` in what is passed
    (``"D"`` or ``"W"``): the extension converts to its own.

    >>> import pandas as pd
    >>> class Doubled:
    ...     columns = ("double_spend",)
    ...     needs = ("total_spend",)
    ...     def frame(self, features, *, time_unit):
    ...         return pd.DataFrame({"double_spend": 2.0 * features["total_spend"]})
    ...     def one(self, features, *, time_unit):
    ...         return {"double_spend": 2.0 * features["total_spend"]}
    >>> isinstance(Doubled(), FeatureExtension)
    True
    """

    @property
    def columns(self) -> tuple[str, ...]:
        """The names of the columns the extension adds."""
        ...

    @property
    def needs(self) -> tuple[str, ...]:
        """The feature columns the extension reads."""
        ...

    def frame(self, features: pd.DataFrame, *, time_unit: TimeUnit) -> pd.DataFrame:
        """The added columns for every row of *features*."""
        ...

    def one(self, features: Mapping[str, Any], *, time_unit: TimeUnit) -> dict[str, float | None]:
        """The added columns for one customer's features."""
        ...


def _is_extension(value: object) -> bool:
    """The protocol's members are there (cheaper than ``isinstance`` on a runtime protocol)."""
    return (
        hasattr(value, "columns")
        and hasattr(value, "needs")
        and callable(getattr(value, "frame", None))
        and callable(getattr(value, "one", None))
    )


def check_extensions(extensions: object) -> tuple[FeatureExtension, ...]:
    """*extensions* as a tuple, each checked: the protocol, new column names, known needs.

    Raises:
        ValidationError: not an iterable of extensions, a column that clashes
            with a feature or another extension's, or a need that is not a feature.

    >>> check_extensions(())
    ()
    """
    if extensions is None or (isinstance(extensions, (tuple, list)) and not extensions):
        return ()
    if _is_extension(extensions) or not isinstance(extensions, Iterable):
        raise ValidationError(
            "extensions", expected="a list of feature extensions", got=type(extensions).__name__
        )
    out: list[FeatureExtension] = []
    seen: set[str] = set(FEATURE_COLUMNS)
    for item in extensions:
        if not _is_extension(item):
            raise ValidationError(
                "extensions",
                expected="feature extensions (columns, needs, frame, one)",
                got=type(item).__name__,
            )
        for name in item.columns:
            if not isinstance(name, str) or not name or name in seen:
                raise ValidationError(
                    "extensions",
                    expected="column names that are not features nor another extension's",
                    got=name,
                )
            seen.add(name)
        unknown = [n for n in item.needs if n not in FEATURE_INPUTS]
        if unknown:
            raise ValidationError(
                "extensions", expected="needs that are number features", got=unknown
            )
        out.append(item)
    return tuple(out)


def extend_frame(
    frame: pd.DataFrame, extensions: tuple[FeatureExtension, ...], time_unit: TimeUnit
) -> pd.DataFrame:
    """*frame* with every extension's columns added (float64, after the features)."""
    if not extensions:
        return frame
    out = frame.assign(**extension_columns(frame, extensions, time_unit))
    out.attrs.update(frame.attrs)
    return out


def extension_columns(
    frame: pd.DataFrame, extensions: Iterable[FeatureExtension], time_unit: TimeUnit
) -> dict[str, Any]:
    """Every extension's columns for the rows of *frame*, as float64 arrays, checked.

    *extensions* come from :func:`check_extensions`; *time_unit* is the unit of
    ``repeat_span`` and ``age`` in *frame*.

    Raises:
        FrameError: an extension gave a frame of the wrong shape.

    >>> import pandas as pd
    >>> class Doubled:
    ...     columns, needs = ("double_spend",), ("total_spend",)
    ...     def frame(self, features, *, time_unit):
    ...         return pd.DataFrame({"double_spend": 2 * features["total_spend"]})
    ...     def one(self, features, *, time_unit):
    ...         return {"double_spend": 2.0 * features["total_spend"]}
    >>> extension_columns(pd.DataFrame({"total_spend": [1.5, 4.0]}), [Doubled()], "D")
    {'double_spend': array([3., 8.])}
    """
    added: dict[str, Any] = {}
    for ext in extensions:
        part = ext.frame(frame, time_unit=time_unit)
        columns = tuple(ext.columns)
        if (
            not isinstance(part, pd.DataFrame)
            or tuple(part.columns) != columns
            or not part.index.equals(frame.index)
        ):
            raise FrameError(
                f"the extension {type(ext).__name__} gave a frame of the wrong shape",
                expected=f"a DataFrame with the features' index and columns {list(columns)}",
                got=type(part).__name__
                if not isinstance(part, pd.DataFrame)
                else f"columns {list(part.columns)}",
            )
        for name in columns:
            added[name] = np.ascontiguousarray(
                part[name].to_numpy(dtype=np.float64, na_value=np.nan)
            )
    return added


def extend_one(
    values: dict[str, Any], extensions: tuple[FeatureExtension, ...], time_unit: TimeUnit
) -> dict[str, Any]:
    """*values* (one customer's features) with every extension's values added, in place."""
    for ext in extensions:
        part = ext.one(values, time_unit=time_unit)
        if not isinstance(part, Mapping) or set(part) != set(ext.columns):
            raise ValidationError(
                f"{type(ext).__name__}.one",
                expected=f"a mapping with keys {list(ext.columns)}",
                got=part,
            )
        for name in ext.columns:
            value = part[name]
            values[name] = None if value is None or value != value else float(value)
    return values
