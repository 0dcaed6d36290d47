"""Scoring a split at its calibration end and measuring every score against the holdout."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

import attrs
import numpy as np
import pandas as pd

from crmkit.backtest._metrics import auc, spearman, top_share
from crmkit.backtest._split import Split, split
from crmkit.core import FrameError, ValidationError
from crmkit.expr import Formula
from crmkit.lifecycle import ChurnWarning, Lifecycle
from crmkit.scoring import AsOf, FeatureExtension, ValueModel
from crmkit.segmentation import RFM, SegmentRules

__all__ = ["BacktestResult", "Signal", "backtest", "evaluate", "score_of"]

Predicts = Literal["purchases", "spend"]

SUMMARY_COLUMNS = (
    "kind",
    "customers",
    "coverage",
    "auc",
    "spearman_purchases",
    "spearman_spend",
    "top_decile_spend_share",
    "predicted_total",
    "actual_total",
    "ordering",
)


def _check_order(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (
        not isinstance(value, tuple) or not value or not all(isinstance(v, str) for v in value)
    ):
        raise ValidationError("Signal.order", expected="a non-empty tuple of labels", got=value)


def _to_order(value: object) -> tuple[str, ...] | None:
    if value is None or isinstance(value, str):
        return value  # type: ignore[return-value]  # a bare string is refused by the validator
    if isinstance(value, list | tuple):
        return tuple(value)
    return value  # type: ignore[return-value]  # refused by the validator


def _check_predicts(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value not in (None, "purchases", "spend"):
        raise ValidationError("Signal.predicts", expected="None, 'purchases' or 'spend'", got=value)


def _check_risk(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, bool):
        raise ValidationError("Signal.risk", expected="True, False or None", got=value)


@attrs.frozen
class Signal:
    """A score to backtest, and how to read it.

    Attributes:
        source: what computes the score at the calibration end: a formula
            (text or :class:`~crmkit.Formula`) over the features, a
            :class:`~crmkit.ValueModel` (its ``value``), a
            :class:`~crmkit.segmentation.SegmentRules` (the segment: fitted
            on the calibration features when it uses statistics), an
            :class:`~crmkit.RFM` (``r_score + f_score + m_score``, bins fitted
            on the calibration features), a :class:`~crmkit.Lifecycle` (the
            stage after replaying the calibration log month by month, at the
            end of the month that holds the calibration end), a
            :class:`~crmkit.ChurnWarning` (its ``risk`` column when it has one,
            else ``at_risk``), a pandas Series indexed by customer, or a
            callable that takes the :class:`Split` and returns such a Series
            (CLV predictions plug in here).
        risk: ``True`` when a high score means *less* likely to buy again (a
            churn risk); ``None`` (default) infers it: true for a
            :class:`~crmkit.ChurnWarning`, false otherwise.
        predicts: ``"purchases"`` or ``"spend"`` when the score is a forecast
            of holdout purchase days or spend: the summary then compares its
            total with the actual one.
        order: for a categorical score, the categories from the most to the
            least likely to buy again. Without it they are ordered by their
            holdout buy-again rate, which is the best any fixed order can do
            (an in-sample upper bound, said so in the ``ordering`` column).

    >>> Signal("total_spend", predicts="spend").predicts
    'spend'
    """

    source: Any
    risk: bool | None = attrs.field(default=None, validator=_check_risk)
    predicts: Predicts | None = attrs.field(default=None, validator=_check_predicts)
    order: tuple[str, ...] | None = attrs.field(
        default=None, converter=_to_order, validator=_check_order
    )

    @property
    def is_risk(self) -> bool:
        """Whether a high score means less likely to buy again."""
        if self.risk is not None:
            return self.risk
        return isinstance(self.source, ChurnWarning)


def _lifecycle_stage(lc: Lifecycle, s: Split) -> pd.Series[Any]:
    r = lc.replay(
        s.calibration,
        start=s.calibration_start,
        end=s.calibration_end,
        customer=s.customer,
        date=s.date,
        amount=s.amount,
        extensions=s.extensions,
    )
    return r.stages.iloc[:, -1]


def score_of(source: Any, s: Split) -> pd.DataFrame:
    """The score(s) *source* gives for every customer of the split, as of its calibration end.

    Returns a frame indexed like ``s.outcome`` with one column per score (a
    multi-label rule set gives one bool column per segment, others one
    column); categorical columns for segments and stages.

    >>> import pandas as pd
    >>> from crmkit.backtest import split
    >>> tx = pd.DataFrame({"customer_id": ["a", "a", "b", "b"],
    ...     "occurred_at": pd.to_datetime(["2025-01-05", "2025-02-01", "2025-02-03", "2025-03-09"]),
    ...     "amount": [10.0, 20.0, 5.0, 8.0]})
    >>> score_of("total_spend / 10", split(tx, calibration_end="2025-03-01"))
                 score
    customer_id
    a              3.0
    b              0.5
    """
    if isinstance(source, Signal):
        source = source.source
    if isinstance(source, str):
        source = Formula(source)
    if isinstance(source, Formula):
        out: Any = source.evaluate(s.features())
    elif isinstance(source, ValueModel):
        out = source.score(s.features())["value"]
    elif isinstance(source, RFM):
        rfm = source if source.is_fitted else source.fit(s.features())
        scores = rfm.score(s.features())
        out = (
            scores["r_score"].astype("Float64")
            + scores["f_score"].astype("Float64")
            + scores["m_score"].astype("Float64")
        )
    elif isinstance(source, SegmentRules):
        rules = source if source.is_fitted else source.fit(s.features())
        labels = rules.assign(s.features())
        if rules.mode == "exclusive":
            out = labels["segment"]
        else:
            out = labels.drop(columns="segments")
    elif isinstance(source, ChurnWarning):
        flags = source.flag(s.features())
        out = flags["risk"] if "risk" in flags.columns else flags["at_risk"]
    elif isinstance(source, Lifecycle):
        out = _lifecycle_stage(source, s)
    elif isinstance(source, pd.Series | pd.DataFrame):
        out = source
    elif callable(source):
        out = source(s)
        if not isinstance(out, pd.Series | pd.DataFrame):
            raise ValidationError(
                "source",
                expected="a callable that returns a pandas Series indexed by customer",
                got=type(out).__name__,
            )
    else:
        raise ValidationError(
            "source",
            expected=(
                "a formula, ValueModel, SegmentRules, RFM, Lifecycle, ChurnWarning,"
                " a Series indexed by customer, or a callable(split) -> Series"
            ),
            got=type(source).__name__,
        )
    frame = out.to_frame("score") if isinstance(out, pd.Series) else out
    extra = frame.index.difference(s.customers)
    if frame.index.has_duplicates:
        raise FrameError(
            "the score has more than one value for some customers",
            rows=list(frame.index[frame.index.duplicated()]),
        )
    if len(extra) and len(extra) == len(frame.index):
        raise FrameError(
            "the score's index shares no customer with the split's base",
            expected=f"customer ids such as {list(s.customers[:3])}",
            got=f"{list(frame.index[:3])}",
        )
    frame = frame.reindex(s.customers)
    frame.index.name = s.customers.name
    return frame


def _numeric(values: pd.Series[Any], column: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    try:
        out = values.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        raise FrameError(
            f"score {column!r} is neither numeric nor categorical",
            column=column,
            got=str(values.dtype),
        ) from None
    return np.asarray(out, dtype=np.float64)


def _is_categorical(values: pd.Series[Any]) -> bool:
    dtype = values.dtype
    return isinstance(dtype, pd.CategoricalDtype) or not (
        pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
    )


@attrs.frozen(eq=False)
class BacktestResult:
    """What :func:`backtest` measured.

    Attributes:
        summary: one row per score (index ``score``): ``kind`` (``number``
            or ``category``), ``customers`` scored, ``coverage`` (their share
            of the base; the metrics are over them), ``auc`` for buying again
            in the holdout, ``spearman_purchases`` and ``spearman_spend`` (rank
            correlation with holdout purchase days and spend),
            ``top_decile_spend_share`` (the share of holdout spend of the 10%
            who score highest), ``predicted_total`` / ``actual_total`` (for
            forecasts), ``ordering`` (how a categorical score was ranked).
            Risk scores are turned round first, so 1 is always a perfect
            ranking of buyers and 0.5 no better than chance.
        categories: for categorical scores, one row per (score, category):
            ``customers``, ``share`` of the scored base, ``buy_again_rate``,
            ``mean_purchases``, ``mean_spend`` in the holdout, and ``rank``
            (1 = the category ranked most likely to buy).
        ranks: the oriented scores (high = more likely to buy again; a
            category replaced by its rank), customers x scores.
        outcome: the split's holdout outcome per customer.
    """

    summary: pd.DataFrame
    categories: pd.DataFrame
    ranks: pd.DataFrame
    outcome: pd.DataFrame

    def gains(self, points: int = 100) -> pd.DataFrame:
        """The cumulative share of holdout spend captured by the top share of customers, per score.

        Rows are the shares of customers ``1/points .. 1`` (ties counted in
        proportion, as in :func:`~crmkit.backtest.top_share`).
        """
        if isinstance(points, bool) or not isinstance(points, int) or points < 1:
            raise ValidationError("points", expected="an integer >= 1", got=points)
        shares = np.arange(1, points + 1) / points
        spend = self.outcome["holdout_spend"].to_numpy(dtype=np.float64)
        data = {
            name: [top_share(self.ranks[name].to_numpy(), spend, float(q)) for q in shares]
            for name in self.ranks.columns
        }
        return pd.DataFrame(data, index=pd.Index(shares, name="share_of_customers"))


def evaluate(s: Split, signals: Mapping[str, Any]) -> BacktestResult:
    """Score every signal at the split's calibration end and measure it against the holdout.

    *signals* maps names to :class:`Signal` objects or to bare sources (read
    as ``Signal(source)``). See :func:`backtest`.
    """
    if not isinstance(s, Split):
        raise ValidationError("split", expected="a Split", got=type(s).__name__)
    if not isinstance(signals, Mapping) or not signals:
        raise ValidationError(
            "signals", expected="a non-empty mapping of names to scores", got=signals
        )
    y = s.outcome["buys_again"].to_numpy()
    purchases = s.outcome["holdout_purchases"].to_numpy(dtype=np.float64)
    spend = s.outcome["holdout_spend"].to_numpy(dtype=np.float64)
    n = len(y)
    rows: list[dict[str, Any]] = []
    names: list[str] = []
    cat_rows: list[dict[str, Any]] = []
    ranks: dict[str, Any] = {}
    for key, value in signals.items():
        if not isinstance(key, str) or not key:
            raise ValidationError("signals", expected="names (non-empty strings)", got=key)
        signal = value if isinstance(value, Signal) else Signal(value)
        frame = score_of(signal, s)
        for column in frame.columns:
            name = key if len(frame.columns) == 1 else f"{key}[{column}]"
            values = frame[column]
            row: dict[str, Any] = dict.fromkeys(SUMMARY_COLUMNS, np.nan)
            if _is_categorical(values):
                oriented, ordering = _rank_categories(name, values, signal, s, cat_rows)
                row["kind"] = "category"
                row["ordering"] = ordering
            else:
                oriented = _numeric(values, name)
                if signal.is_risk:
                    oriented = -oriented
                row["kind"] = "number"
                row["ordering"] = "risk: reversed" if signal.is_risk else "score"
            known = ~np.isnan(oriented)
            row["customers"] = int(known.sum())
            row["coverage"] = float(known.mean()) if n else np.nan
            row["auc"] = auc(oriented, y)
            row["spearman_purchases"] = spearman(oriented, purchases)
            row["spearman_spend"] = spearman(oriented, spend)
            row["top_decile_spend_share"] = top_share(oriented, spend, 0.1)
            if signal.predicts is not None and row["kind"] == "number":
                raw = _numeric(values, name)
                actual = purchases if signal.predicts == "purchases" else spend
                row["predicted_total"] = float(raw[known].sum())
                row["actual_total"] = float(actual[known].sum())
            rows.append(row)
            names.append(name)
            ranks[name] = oriented
    summary = pd.DataFrame(rows, index=pd.Index(names, name="score"), columns=list(SUMMARY_COLUMNS))
    summary["customers"] = summary["customers"].astype(np.int64)
    cats = pd.DataFrame(
        cat_rows,
        columns=[
            "score",
            "category",
            "customers",
            "share",
            "buy_again_rate",
            "mean_purchases",
            "mean_spend",
            "rank",
        ],
    ).set_index(["score", "category"])
    return BacktestResult(
        summary=summary,
        categories=cats,
        ranks=pd.DataFrame(ranks, index=s.customers),
        outcome=s.outcome,
    )


def _rank_categories(
    name: str,
    values: pd.Series[Any],
    signal: Signal,
    s: Split,
    cat_rows: list[dict[str, Any]],
) -> tuple[np.ndarray[Any, np.dtype[np.float64]], str]:
    labels = values.astype("object")
    known = labels.notna().to_numpy()
    present = pd.unique(labels[known])
    present_str = [str(p) for p in present]
    table = pd.DataFrame(
        {
            "category": labels[known].astype(str).to_numpy(),
            "buy": s.outcome["buys_again"].to_numpy()[known],
            "purchases": s.outcome["holdout_purchases"].to_numpy()[known],
            "spend": s.outcome["holdout_spend"].to_numpy()[known],
        }
    )
    stats = table.groupby("category", sort=False).agg(
        customers=("buy", "size"),
        buy_again_rate=("buy", "mean"),
        mean_purchases=("purchases", "mean"),
        mean_spend=("spend", "mean"),
    )
    if isinstance(values.dtype, pd.CategoricalDtype):
        declared = [str(c) for c in values.dtype.categories]
        stats = stats.reindex([c for c in declared if c in stats.index])
    if signal.order is not None:
        unknown = sorted(set(present_str) - set(signal.order))
        if unknown:
            raise ValidationError(
                "Signal.order",
                expected=f"every category of score {name!r}",
                got=signal.order,
                hint="add " + ", ".join(repr(u) for u in unknown),
            )
        ordered = [c for c in signal.order if c in stats.index]
        ordering = "declared order"
    else:
        rates = stats["buy_again_rate"]
        position = {c: i for i, c in enumerate(stats.index)}
        ordered = sorted(stats.index, key=lambda c: (-float(rates[c]), position[c]))
        ordering = "holdout rate (in-sample)"
    if signal.is_risk:
        ordered = ordered[::-1]
        ordering += ", risk: reversed"
    rank = {c: i + 1 for i, c in enumerate(ordered)}
    total = int(stats["customers"].sum())
    table_of: dict[Any, dict[Any, Any]] = stats.to_dict("index")
    cat_rows.extend(
        {
            "score": name,
            "category": c,
            "customers": int(table_of[c]["customers"]),
            "share": float(table_of[c]["customers"]) / total if total else np.nan,
            "buy_again_rate": float(table_of[c]["buy_again_rate"]),
            "mean_purchases": float(table_of[c]["mean_purchases"]),
            "mean_spend": float(table_of[c]["mean_spend"]),
            "rank": rank[c],
        }
        for c in stats.index
    )
    oriented = np.full(len(values), np.nan)
    codes = labels[known].astype(str).map(rank).to_numpy(dtype=np.float64)
    oriented[known] = -codes
    return oriented, ordering


def backtest(
    transactions: pd.DataFrame,
    signals: Mapping[str, Any],
    *,
    calibration_end: AsOf,
    holdout_end: AsOf | None = None,
    calibration_start: AsOf | None = None,
    customer: str = "customer_id",
    date: str = "occurred_at",
    amount: str = "amount",
    extensions: Iterable[FeatureExtension] = (),
) -> BacktestResult:
    """Backtest scores on a transaction log: ``evaluate(split(...), signals)``.

    Splits *transactions* at *calibration_end* (see :func:`split`), computes
    every score as of that instant from the calibration log only, and
    measures it against what each customer of the base did in the holdout.

    Args:
        transactions: one row per purchase.
        signals: name -> :class:`Signal`, or name -> a bare source (a formula,
            a value model, a segment rule set, an RFM, a lifecycle, a churn
            warning, a Series by customer, or a callable of the split).
        calibration_end: the instant the scores are computed as of.
        holdout_end: the end of the holdout (default: the last transaction).
        calibration_start: ignore transactions before this instant.
        customer: the customer-id column.
        date: the timestamp column (naive = UTC).
        amount: the amount column.
        extensions: feature extensions whose columns the scores may read
            (e.g. :class:`crmkit.clv.ClvFeatures` of models fitted on the
            calibration period), see :func:`split`.

    Returns:
        A :class:`BacktestResult`; ``.summary`` has one row per score.

    Raises:
        MissingColumnError, FrameError: bad transactions, an empty
            calibration period or holdout, a score that is not per customer.
        ValidationError: bad arguments.

    >>> import pandas as pd
    >>> tx = pd.DataFrame({"customer_id": list("aabbcd") + list("acc"),
    ...     "occurred_at": pd.to_datetime(["2025-01-03", "2025-02-20", "2025-01-10", "2025-01-12",
    ...         "2025-02-25", "2025-01-30", "2025-04-01", "2025-04-11", "2025-05-02"]),
    ...     "amount": [10.0, 12.0, 30.0, 5.0, 8.0, 20.0, 15.0, 9.0, 11.0]})
    >>> result = backtest(tx, {"recent": Signal("days_since_last_purchase", risk=True),
    ...     "spend": "total_spend"}, calibration_end="2025-02-28")
    >>> result.summary[["customers", "auc", "spearman_spend", "top_decile_spend_share"]]
            customers   auc  spearman_spend  top_decile_spend_share
    score
    recent          4  1.00        0.948683                0.228571
    spend           4  0.25       -0.632456                0.000000
    """
    s = split(
        transactions,
        calibration_end=calibration_end,
        holdout_end=holdout_end,
        calibration_start=calibration_start,
        customer=customer,
        date=date,
        amount=amount,
        extensions=extensions,
    )
    return evaluate(s, signals)
