"""Replaying a transaction log period by period: every customer's stage at every period end.

Features are computed incrementally, not from scratch per period: the log is
sorted once by customer and time, bucketed by period (and by the edges of the
three-month spend windows), and the running per-customer aggregates at each
period end are cumulative sums over the buckets. The features derived from
them are the ones :func:`~crmkit.scoring.features` gives ``as_of`` the
period's last instant. Feature extensions (``extensions=``, e.g. the
forecasts of ``crmkit.clv.ClvFeatures``) are computed at each period end from
that period's features.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd

from crmkit.core import (
    NS_PER_DAY,
    TICKS_PER_SECOND,
    FrameError,
    ValidationError,
    amount_array,
    check_frame,
    date_ticks,
    did_you_mean,
    distinct,
    factorize,
    first_rows,
    parse_as_of,
    shift_months,
)
from crmkit.domain import FrozenDict
from crmkit.lifecycle._inputs import _DERIVED_FORMULAS, DERIVED, derive_arrays
from crmkit.lifecycle._plan import _Plan
from crmkit.lifecycle._records import LifecycleTransition
from crmkit.lifecycle._stored import read_stored_stages, stored_ns, to_microseconds
from crmkit.scoring import (
    MODEL_INPUTS,
    AsOf,
    FeatureExtension,
    check_extensions,
    derive_features,
    extension_columns,
)

if TYPE_CHECKING:  # the definition imports this module, never the other way round
    from crmkit.lifecycle._definition import Lifecycle

__all__ = ["REPLAY_INPUTS", "Replay", "run_replay"]

#: The feature columns :func:`replay` computes per period (guards may read these and DERIVED).
REPLAY_INPUTS: Final = (
    "total_spend",
    "refund_total",
    "purchase_count",
    "purchase_days",
    "days_since_last_purchase",
    "tenure_months",
    "active_months",
    "monthly_frequency",
    "monthly_avg_spend",
    "spend_last_3m",
    "spend_prev_3m",
    "repeat_purchases",
    "repeat_span",
    "age",
    "repeat_avg_spend",
)

_FREQS: Final = {"D": "D", "W": "W", "M": "M", "Q": "Q", "Y": "Y"}
_INT64_MIN: Final = np.iinfo(np.int64).min

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


@attrs.frozen(eq=False)
class Replay:
    """The result of :func:`replay`: stage codes per customer and period, and what fired.

    Attributes:
        lifecycle: the definition replayed.
        customers: the customers, in order of first appearance in the log.
        periods: the periods (a ``PeriodIndex``).
        codes: ``(customers, periods)`` stage codes (index into
            ``lifecycle.states``); -1 before the customer's first purchase.
        fired: ``(customers, periods)`` codes of the transition that fired at
            the period's end (index into ``lifecycle.transitions``); -1 for none.
        inputs: for each input a guard reads, its value at each transition
            (in the order of :attr:`transitions`); NaN where the transition's
            guard does not read it, or it was null.
        as_of: the instant the last period was cut at, if any.
        resumed: per customer, the code of the stored stage the replay
            continued from (``resume=``); -1 for a customer replayed from the
            first purchase. ``None``: nobody was resumed.
        resumed_from: per customer, the first period stepped (0 for a
            customer replayed from the first purchase).
    """

    lifecycle: Lifecycle
    customers: pd.Index[Any]
    periods: pd.PeriodIndex
    codes: npt.NDArray[np.int8]
    fired: npt.NDArray[np.int16]
    inputs: dict[str, Floats] = attrs.field(factory=dict, repr=False)
    as_of: pd.Timestamp | None = None
    resumed: npt.NDArray[np.int8] | None = None
    resumed_from: npt.NDArray[np.int64] | None = None

    @property
    def ends(self) -> pd.DatetimeIndex:
        """The last instant of each period (UTC): the ``as_of`` of each step.

        With an ``as_of``, the last period ends there (it may be partial).
        """
        ends = pd.DatetimeIndex(self.periods.end_time).tz_localize("UTC")
        if self.as_of is not None and len(ends) and ends[-1] > self.as_of:
            ends = pd.DatetimeIndex([*ends[:-1], self.as_of])
        return ends

    @property
    def stages(self) -> pd.DataFrame:
        """Every customer's stage at every period end: customers x periods, categorical (NaN before).

        NaN before the customer's first purchase; for a customer resumed from a
        stored stage (``resume=``), NaN at the period ends before the stored
        time, and the stored stage at a period end equal to it (to the
        microsecond): those periods are not stepped.
        """
        dtype = pd.CategoricalDtype(list(self.lifecycle.states))
        return pd.DataFrame(
            {
                p: pd.Categorical.from_codes(self.codes[:, j], dtype=dtype)
                for j, p in enumerate(self.periods)
            },
            index=self.customers,
        )

    def _from_codes(self) -> npt.NDArray[np.int8]:
        """The stage each customer stepped from at each period end (-1 where absent)."""
        before = np.empty_like(self.codes)
        initial = np.int8(self.lifecycle.states.index(self.lifecycle.initial))
        start: Any = initial
        if self.resumed is not None:  # a resumed customer starts from the stored stage
            start = np.where(self.resumed >= 0, self.resumed, initial)[:, None]
        before[:, :1] = np.where(self.codes[:, :1] >= 0, start, -1)
        if self.codes.shape[1] > 1:
            prev = self.codes[:, :-1]
            now = self.codes[:, 1:]
            before[:, 1:] = np.where(prev >= 0, prev, np.where(now >= 0, start, -1))
        return before

    def _stepped(self, j: Any) -> npt.NDArray[np.bool_]:
        """Which customers stepped at period *j*'s end."""
        here = self.codes[:, j] >= 0
        if self.resumed_from is not None:
            here &= self.resumed_from <= j
        return here

    @property
    def transitions(self) -> pd.DataFrame:
        """The full transition history, one row per transition, ordered by period then customer.

        Columns: the customer column (named like ``customers``), ``period``,
        ``at`` (the period's last instant, UTC), ``from_stage``, ``to_stage``,
        ``transition`` (categoricals).
        """
        cols_, rows_ = np.nonzero(self.fired.T >= 0)
        fired = self.fired[rows_, cols_]
        before = self._from_codes()
        states = pd.CategoricalDtype(list(self.lifecycle.states))
        names = pd.CategoricalDtype([t.name for t in self.lifecycle.transitions])
        return pd.DataFrame(
            {
                _column_name(self.customers): self.customers[rows_],
                "period": self.periods[cols_],
                "at": self.ends[cols_],
                "from_stage": pd.Categorical.from_codes(before[rows_, cols_], dtype=states),
                "to_stage": pd.Categorical.from_codes(self.codes[rows_, cols_], dtype=states),
                "transition": pd.Categorical.from_codes(fired, dtype=names),
            }
        )

    @property
    def transition_inputs(self) -> pd.DataFrame:
        """The values each transition's guard read, one row per row of :attr:`transitions`.

        One column per input any guard reads; NaN where the transition's guard
        does not read it (or it was null).
        """
        return pd.DataFrame(dict(self.inputs), index=pd.RangeIndex(int((self.fired >= 0).sum())))

    def counts(self) -> pd.DataFrame:
        """Customers in each stage at each period end: periods x states.

        >>> import pandas as pd
        >>> tx = pd.DataFrame({"customer_id": ["a", "a", "b"], "amount": [10.0, 5.0, 7.0],
        ...     "occurred_at": pd.to_datetime(["2025-01-03", "2025-02-10", "2025-02-11"])})
        >>> from crmkit.lifecycle import Lifecycle, replay
        >>> replay(Lifecycle.five_stage(), tx, start="2025-01", end="2025-03").counts()
        stage    introduction  growth  maturity  decline  departed
        period
        2025-01             1       0         0        0         0
        2025-02             1       1         0        0         0
        2025-03             1       1         0        0         0
        """
        k = len(self.lifecycle.states)
        table = (
            np.stack(
                [np.bincount(col[col >= 0], minlength=k) for col in self.codes.T.astype(np.int64)]
            )
            if self.codes.shape[1]
            else np.zeros((0, k), dtype=np.int64)
        )
        return pd.DataFrame(
            table,
            index=pd.PeriodIndex(self.periods, name="period"),
            columns=pd.Index(list(self.lifecycle.states), name="stage"),
        )

    def matrix(self, period: object) -> pd.DataFrame:
        """The from -> to transition matrix of one period: customers by stage before and after.

        Rows are the stage each customer stepped from at that period's end (the
        previous period's stage, or the initial state for a customer new in
        this period, or the stored stage for a customer resumed in it), columns
        the stage after; the diagonal are the customers who stayed. Customers
        resumed after that period's end did not step there and are not counted.

        Raises:
            ValidationError: *period* is not one of the replayed periods.
        """
        try:
            j = self.periods.get_loc(pd.Period(period, freq=self.periods.freq))  # type: ignore[arg-type]
        except (KeyError, ValueError, TypeError):
            raise ValidationError(
                "period",
                expected=f"a period from {self.periods[0]} to {self.periods[-1]}",
                got=period,
            ) from None
        k = len(self.lifecycle.states)
        before = self._from_codes()[:, j].astype(np.int64)
        after = self.codes[:, j].astype(np.int64)
        here = self._stepped(j)
        table = np.bincount(before[here] * k + after[here], minlength=k * k).reshape(k, k)
        states = list(self.lifecycle.states)
        return pd.DataFrame(
            table,
            index=pd.Index(states, name="from"),
            columns=pd.Index(states, name="to"),
        )

    def records(self) -> list[LifecycleTransition]:
        """The transitions as records, for a :class:`TransitionHistory`.

        ``at`` is the period's last instant, to the microsecond (what a
        ``datetime`` holds); ``inputs`` are the values the transition's guard
        read (``None`` for null).
        """
        frame = self.transitions
        lc = self.lifecycle
        reads = {t.name: sorted(t.guard.names) for t in lc.transitions}
        columns = {k: v.tolist() for k, v in self.inputs.items()}
        out = []
        for i, (c, at, f, t, name) in enumerate(
            zip(
                frame.iloc[:, 0],
                frame["at"],
                frame["from_stage"],
                frame["to_stage"],
                frame["transition"],
                strict=True,
            )
        ):
            values = {k: columns[k][i] for k in reads[str(name)]}
            out.append(
                LifecycleTransition(
                    customer_id=str(c),
                    from_stage=str(f),
                    to_stage=str(t),
                    at=at.floor("us").to_pydatetime(),  # datetime holds microseconds
                    transition=str(name),
                    inputs=FrozenDict({k: None if v != v else v for k, v in values.items()}),
                    lifecycle=lc.name,
                    version=lc.version,
                )
            )
        return out


def _check_id_kinds(stored: pd.Index[Any], customers: pd.Index[Any], customer: str) -> None:
    """Stored ids and the log's compare by value: refuse text against numbers (none would match)."""
    if not len(stored) or not len(customers):
        return
    kinds = [
        pd.api.types.infer_dtype(np.asarray(ids, dtype=object), skipna=True)
        for ids in (stored, customers)
    ]
    if kinds[0] != kinds[1]:
        raise FrameError(
            f"the stored stages' customer ids are {kinds[0]}, the transactions' are {kinds[1]}",
            column=customer,
            rows=list(stored[:10]),
            expected=f"customer ids of the transactions' kind ({kinds[1]})",
            got=kinds[0],
            hint="a TransitionHistory's ids are text: give the transactions text ids",
        )


def _column_name(index: pd.Index[Any]) -> str:
    return "customer_id" if index.name is None else str(index.name)


def _needed(lifecycle: Lifecycle, extensions: tuple[FeatureExtension, ...] = ()) -> set[str]:
    """The features replay computes: those the guards read, and those the extensions read."""
    added = {c for ext in extensions for c in ext.columns}
    wanted: set[str] = {n for ext in extensions for n in ext.needs}
    for name in lifecycle.names:
        if name in DERIVED:
            wanted |= _DERIVED_FORMULAS[name].names
        elif name not in added:
            wanted.add(name)
    unsupported = sorted(wanted - set(REPLAY_INPUTS))
    if unsupported:
        hints = [h for u in unsupported if (h := did_you_mean(u, REPLAY_INPUTS))]
        if any(u in MODEL_INPUTS for u in unsupported):
            hints.append("pass extensions=[crmkit.clv.ClvFeatures(...)] for the model outputs")
        raise ValidationError(
            "lifecycle",
            expected="guards over the features replay computes from transactions: "
            + ", ".join(REPLAY_INPUTS)
            + (", and the extensions' " + ", ".join(sorted(added)) if added else ""),
            got=unsupported,
            hint="; ".join(hints)
            or "step or classify with your own features for guards over other inputs",
        )
    return wanted


def run_replay(
    lifecycle: Lifecycle,
    transactions: pd.DataFrame,
    *,
    start: AsOf,
    end: AsOf | None,
    freq: str = "M",
    customer: str = "customer_id",
    date: str = "occurred_at",
    amount: str = "amount",
    as_of: AsOf | None = None,
    extensions: Iterable[FeatureExtension] = (),
    resume: object = None,
) -> Replay:
    """The replay engine behind :func:`crmkit.lifecycle.replay` (arguments checked here but *lifecycle*)."""
    if not isinstance(freq, str) or freq not in _FREQS:
        raise ValidationError(
            "freq",
            expected="one of " + ", ".join(repr(f) for f in _FREQS),
            got=freq,
            hint=did_you_mean(freq, _FREQS) if isinstance(freq, str) else None,
        )
    for field, value in (("customer", customer), ("date", date), ("amount", amount)):
        if not isinstance(value, str) or not value:
            raise ValidationError(field, expected="a column name (a non-empty str)", got=value)
    cut = None if as_of is None else parse_as_of(as_of, field="as_of")
    if end is None:
        if cut is None:
            raise ValidationError("end", expected="a time in the last period (or as_of)", got=end)
        end = cut
    first_p = parse_as_of(start, field="start").tz_localize(None).to_period(freq)
    last_p = parse_as_of(end, field="end").tz_localize(None).to_period(freq)
    if cut is not None and cut.tz_localize(None).to_period(freq) != last_p:
        raise ValidationError(
            "as_of",
            expected=f"a time in the last period ({last_p})",
            got=str(cut),
            hint="as_of cuts the last period short: give end=as_of, or leave end out",
        )
    if last_p < first_p:
        raise ValidationError("end", expected=f"a time at or after {start}", got=end)
    # Only the extensions whose columns a guard reads are computed (at every period end).
    exts = tuple(e for e in check_extensions(extensions) if set(e.columns) & lifecycle.names)
    wanted = _needed(lifecycle, exts)

    frame = check_frame(transactions, "transactions", [customer, date, amount])
    periods = pd.period_range(first_p, last_p, freq=freq)
    ends_ns = np.asarray(pd.DatetimeIndex(periods.end_time).as_unit("ns").asi8, dtype=np.int64)
    if cut is not None:  # the last period ends at as_of: activity after it is not there yet
        ends_ns[-1] = min(int(ends_ns[-1]), int(cut.value))
    codes_all, uniques = factorize(frame[customer])
    if len(codes_all) and codes_all.min() < 0:
        raise FrameError(
            f"transactions[{customer!r}] has missing customer ids",
            column=customer,
            rows=first_rows(frame, codes_all < 0),
            expected="a customer id in every row",
        )
    ticks = date_ticks(frame, "transactions", date)
    amounts = amount_array(frame, "transactions", amount)
    factor = 1_000_000_000 // TICKS_PER_SECOND[ticks.unit]
    t_ns = ticks.values if factor == 1 else ticks.values * factor

    # Keep the rows up to the last period end; renumber customers who appear there.
    keep = t_ns <= ends_ns[-1]
    if not keep.all():
        codes_all, t_ns, amounts = codes_all[keep], t_ns[keep], amounts[keep]
    present_codes, codes = np.unique(codes_all, return_inverse=True)
    customers = pd.Index(uniques, name=customer)[present_codes]
    n = len(customers)
    p = len(periods)
    plan: _Plan = lifecycle._plan
    stage_codes = np.full((n, p), -1, dtype=np.int8)
    fired_codes = np.full((n, p), -1, dtype=np.int16)
    resumed: npt.NDArray[np.int8] | None = None
    resumed_from: npt.NDArray[np.int64] | None = None
    if resume is not None:
        # A customer with a stored stage steps from it at the first period end
        # after the stored time (compared to the microsecond, what a datetime holds).
        last_end = pd.Timestamp(int(ends_ns[-1]), tz="UTC")
        stored = read_stored_stages(
            lifecycle, resume, customer=customer, until=last_end, customers=customers
        )
        resumed = np.full(n, -1, dtype=np.int8)
        resumed_from = np.zeros(n, dtype=np.int64)
        _check_id_kinds(stored.index, customers, customer)
        where = customers.get_indexer(stored.index)
        hit = where >= 0
        rows_r = where[hit]
        at_us = to_microseconds(stored_ns(stored["at"]))[hit]
        ends_us = to_microseconds(ends_ns)
        resumed[rows_r] = np.asarray(stored["stage"].cat.codes, dtype=np.int8)[hit]
        resumed_from[rows_r] = np.searchsorted(ends_us, at_us, side="right")
        held = resumed_from[rows_r] - 1
        exact = (held >= 0) & (ends_us[np.maximum(held, 0)] == at_us)
        stage_codes[rows_r[exact], held[exact]] = resumed[rows_r[exact]]
    if n == 0:
        empty = {name: np.empty(0) for name in sorted(lifecycle.names)}
        return Replay(
            lifecycle,
            customers,
            periods,
            stage_codes,
            fired_codes,
            empty,
            as_of=cut,
            resumed=resumed,
            resumed_from=resumed_from,
        )

    # One sort, by customer then time.
    order = np.lexsort((t_ns, codes))
    c = codes[order]
    t = t_ns[order]
    a = amounts[order]
    pb = np.searchsorted(ends_ns, t, side="left")  # the period whose end first covers t
    key = c * p + pb
    seg_start = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    first_ns = t[seg_start]
    first_day = first_ns // NS_PER_DAY
    day = t // NS_PER_DAY

    def per_period(weights: Any = None, where: Any = None) -> Any:
        k = key if where is None else key[where]
        w = weights if (weights is None or where is None) else weights[where]
        out = np.bincount(k, weights=w, minlength=n * p).reshape(n, p)
        return np.cumsum(out, axis=1)

    count = per_period().astype(np.int64)
    # Last purchase at each period end: the last row of each (customer, period) run.
    run_end = np.flatnonzero(np.r_[key[1:] != key[:-1], True])
    last_mat = np.full(n * p, _INT64_MIN, dtype=np.int64)
    last_mat[key[run_end]] = t[run_end]
    last_mat = np.maximum.accumulate(last_mat.reshape(n, p), axis=1)
    spend_mat: Floats | None = None
    days_mat: npt.NDArray[np.int64] | None = None
    first_day_spend: Floats | None = None
    if wanted & {"purchase_days", "repeat_purchases", "repeat_avg_spend"}:
        new_day = np.r_[True, (c[1:] != c[:-1]) | (day[1:] != day[:-1])]
        days_mat = per_period(where=new_day).astype(np.int64)
    if "active_months" in wanted:
        month = t.astype("datetime64[ns]").astype("datetime64[M]").astype(np.int64)
        new_month = np.r_[True, (c[1:] != c[:-1]) | (month[1:] != month[:-1])]
        months_mat = per_period(where=new_month).astype(np.int64)
    if wanted & {"total_spend", "monthly_avg_spend", "repeat_avg_spend"}:
        spend_mat = per_period(weights=a)
    if "repeat_avg_spend" in wanted:
        first_day_spend = np.bincount(
            c[day == first_day[c]], weights=a[day == first_day[c]], minlength=n
        ).astype(np.float64)
    windows = wanted & {"spend_last_3m", "spend_prev_3m"}
    if windows:
        stamps = [pd.Timestamp(e, tz="UTC") for e in ends_ns]
        s3 = np.array([shift_months(s, -3).value for s in stamps], dtype=np.int64)
        s6 = np.array([shift_months(s, -6).value for s in stamps], dtype=np.int64)
        edges = distinct(np.concatenate([ends_ns, s3, s6]))
        fb = np.searchsorted(edges, t, side="left")
        kk = len(edges)
        fine = np.bincount(c * kk + fb, weights=a, minlength=n * kk).reshape(n, kk)
        i_end = np.searchsorted(edges, ends_ns)
        i_s3 = np.searchsorted(edges, s3)
        i_s6 = np.searchsorted(edges, s6)

    initial = plan.codes[lifecycle.initial]
    prev = np.full(n, -1, dtype=np.int64) if resumed is None else resumed.astype(np.int64)
    read = sorted(lifecycle.names)
    readers = {
        name: [plan.index[t.name] for t in lifecycle.transitions if name in t.guard.names]
        for name in read
    }
    gathered: dict[str, list[Floats]] = {name: [] for name in read}
    for j in range(p):
        e = int(ends_ns[j])
        cnt = count[:, j]
        rows = np.flatnonzero(cnt > 0 if resumed_from is None else (cnt > 0) & (resumed_from <= j))
        if not len(rows):
            continue
        cnt_r = cnt[rows]
        # The base aggregates at this period end; the derived features come from
        # crmkit.scoring's one declaration of them, as features() computes them.
        base: dict[str, Any] = {
            "count": cnt_r,
            "first_ns": first_ns[rows],
            "last_ns": last_mat[rows, j],
            "as_of_ns": e,
            "days_per_unit": 1,
            "refund_total": np.zeros(len(rows)),
            "first_day": first_day[rows],
        }
        base["last_day"] = base["last_ns"] // NS_PER_DAY
        if spend_mat is not None:
            base["gross"] = spend_mat[rows, j]
        if days_mat is not None:
            base["days"] = days_mat[rows, j]
        if first_day_spend is not None and spend_mat is not None:
            base["repeat_spend"] = spend_mat[rows, j] - first_day_spend[rows]
        cols: dict[str, Any] = derive_features(base, wanted)
        for name in wanted - cols.keys():
            if name == "purchase_count":
                cols[name] = cnt_r
            elif name == "refund_total":
                cols[name] = base["refund_total"]
            elif name == "purchase_days":
                cols[name] = base["days"]
            elif name == "active_months":
                cols[name] = months_mat[rows, j]
            elif name == "spend_last_3m":
                cols[name] = fine[rows, i_s3[j] + 1 : i_end[j] + 1].sum(axis=1)
            elif name == "spend_prev_3m":
                cols[name] = fine[rows, i_s6[j] + 1 : i_s3[j] + 1].sum(axis=1)
        if exts:
            # The extensions read this period end's features (in days, as replay computes them).
            at_end = pd.DataFrame({k: cols[k] for k in sorted(wanted)}, copy=False)
            cols.update(extension_columns(at_end, exts, "D"))
        derive_arrays(cols, lifecycle.names, len(rows))
        current = prev[rows]
        current = np.where(current >= 0, current, initial)
        target, fired = plan.run(current, cols, len(rows))
        stage_codes[rows, j] = target
        fired_codes[rows, j] = fired
        prev[rows] = target
        hit = np.flatnonzero(fired >= 0)
        which = fired[hit]
        for name in read:
            values = np.full(len(hit), np.nan)
            mine = np.isin(which, readers[name])
            values[mine] = np.asarray(cols[name], dtype=np.float64)[hit[mine]]
            gathered[name].append(values)
    inputs = {
        name: np.concatenate(parts) if parts else np.empty(0) for name, parts in gathered.items()
    }
    return Replay(
        lifecycle,
        customers,
        periods,
        stage_codes,
        fired_codes,
        inputs,
        as_of=cut,
        resumed=resumed,
        resumed_from=resumed_from,
    )
