"""Lifecycles: valid lifecycle definitions (configuration dicts) and transition records."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import pandas as pd
from hypothesis import strategies as st

from crmkit.lifecycle import DERIVED, GUARD_INPUTS, REPLAY_INPUTS, LifecycleTransition
from crmkit.testing.strategies._basics import aware_datetimes, ids, texts
from crmkit.testing.strategies._formulas import FormulaType, formulas
from crmkit.testing.strategies._share import _shared

# ================================================================ lifecycles
# Lifecycle definitions that are valid by construction (every state reachable,
# no dead ends, one priority per transition), guards drawn from formulas over
# declared inputs, and transition records.


@st.composite
def lifecycle_configs(
    draw: st.DrawFn, schema: dict[str, FormulaType], *, max_states: int = 5
) -> dict[str, Any]:
    """A valid lifecycle configuration (the TOML layout as a dict) whose guards read *schema*.

    *schema* is declared as the definition's ``inputs``. States form a chain
    from the initial state (so all are reachable), plus random extra
    transitions; the last state is either final or leads back to the first.

    >>> from hypothesis import given
    >>> from crmkit.lifecycle import Lifecycle
    >>> from crmkit.testing import strategies as cks
    >>> @given(cks.lifecycle_configs({"x": "number"}))
    ... def test_builds(config):
    ...     Lifecycle.from_dict(config)
    >>> test_builds()
    """
    k = draw(st.integers(2, max_states))
    states = draw(
        st.lists(
            st.text(st.sampled_from("abcdefgh_"), min_size=1, max_size=6),
            min_size=k,
            max_size=k,
            unique=True,
        )
    )
    final = draw(st.booleans())
    edges: list[tuple[list[str], str]] = [([states[i]], states[i + 1]) for i in range(k - 1)]
    if not final:
        edges.append(([states[-1]], states[0]))
    movable = states if not final else states[:-1]
    for _ in range(draw(st.integers(0, 4))):
        target = draw(st.sampled_from(states))
        sources = draw(
            st.lists(
                st.sampled_from([s for s in movable if s != target] or movable),
                min_size=1,
                max_size=3,
                unique=True,
            )
        )
        if target not in sources:
            edges.append((sources, target))
    priorities = draw(st.permutations(range(len(edges))))
    transitions: dict[str, Any] = {}
    for i, ((sources, target), priority) in enumerate(zip(edges, priorities, strict=True)):
        transitions[f"t{i}"] = {
            "from": sources,
            "to": target,
            "guard": draw(formulas(schema, result_type="bool", max_depth=3)),
            "priority": priority,
        }
    head: dict[str, Any] = {
        "name": "generated",
        "version": "1",
        "states": states,
        "initial": states[0],
    }
    if final:
        head["final"] = [states[-1]]
    return {"lifecycle": head, "inputs": dict(schema), "transitions": transitions}


@_shared
def lifecycle_transitions(
    *, customer_id: st.SearchStrategy[str] | None = None
) -> st.SearchStrategy[LifecycleTransition]:
    """Transition records (from != to; inputs of numbers, bools, text and None)."""
    stages = st.sampled_from(("introduction", "growth", "maturity", "decline", "departed"))
    values = st.one_of(
        st.none(), st.booleans(), st.floats(allow_nan=False, allow_infinity=False), texts()
    )
    return (
        st.tuples(stages, stages)
        .filter(lambda p: p[0] != p[1])
        .flatmap(
            lambda p: st.builds(
                LifecycleTransition,
                customer_id=customer_id if customer_id is not None else ids(prefix="c-"),
                from_stage=st.just(p[0]),
                to_stage=st.just(p[1]),
                at=aware_datetimes(),
                transition=st.sampled_from(("second_purchase", "lapsed", "slowing", "win_back")),
                inputs=st.dictionaries(
                    st.sampled_from(("purchase_days", "days_since_last_purchase", "x")),
                    values,
                    max_size=3,
                ),
                lifecycle=st.just("five-stage"),
                version=st.sampled_from(("1", "2")),
            )
        )
    )


# ================================================================ replay
# Lifecycles over the features replay computes, and short dense transaction
# logs (a few customers, months with purchases on the edges of month ends), for
# comparing replay, resuming from stored stages, and stepping one customer.

#: The features a replayed guard may read, with their formula types.
_REPLAYED: dict[str, FormulaType] = {
    name: cast("FormulaType", GUARD_INPUTS[name]) for name in (*REPLAY_INPUTS, *DERIVED)
}


@st.composite
def replay_lifecycle_configs(draw: st.DrawFn, *, max_states: int = 4) -> dict[str, Any]:
    """A valid lifecycle configuration whose guards read features :meth:`Lifecycle.replay` computes.

    As :func:`lifecycle_configs` over one to three of ``REPLAY_INPUTS`` and
    ``DERIVED`` (declared with their own types), so that replay, resuming
    from stored stages and ``replay_one`` can all run it.

    >>> from hypothesis import given
    >>> from crmkit.lifecycle import Lifecycle
    >>> from crmkit.testing import strategies as cks
    >>> @given(cks.replay_lifecycle_configs())
    ... def test_builds(config):
    ...     Lifecycle.from_dict(config)
    >>> test_builds()
    """
    names = draw(st.lists(st.sampled_from(sorted(_REPLAYED)), min_size=1, max_size=3, unique=True))
    return draw(lifecycle_configs({n: _REPLAYED[n] for n in names}, max_states=max_states))


@st.composite
def replay_transaction_frames(
    draw: st.DrawFn,
    *,
    customer: str = "customer_id",
    date: str = "occurred_at",
    amount: str = "amount",
    start: datetime = datetime(2024, 1, 1),
    months: int = 16,
    max_rows: int = 40,
) -> pd.DataFrame:
    """A short transaction log: up to five text ids, naive UTC times over *months* months from *start*.

    A third of the times fall on month ends (the last microsecond, or
    midnight of the next day), so steps are tested on the period edges;
    amounts are multiples of 0.25 (exact sums in any order).
    """
    rows = draw(st.integers(0, max_rows))
    pool = draw(st.lists(ids(prefix="c"), min_size=1, max_size=5, unique=True))
    span = (pd.Timestamp(start) + pd.DateOffset(months=months) - pd.Timestamp(start)).days
    edge = st.tuples(st.integers(0, months - 1), st.sampled_from([-1, 0])).map(
        lambda me: (
            pd.Timestamp(start) + pd.DateOffset(months=me[0] + 1) + pd.Timedelta(microseconds=me[1])
        )
    )
    inside = st.tuples(st.integers(0, span - 1), st.integers(0, 86_399)).map(
        lambda ds: pd.Timestamp(start) + pd.Timedelta(days=ds[0], seconds=ds[1])
    )
    times = draw(st.lists(inside | edge, min_size=rows, max_size=rows))
    return pd.DataFrame(
        {
            customer: pd.Series(
                draw(st.lists(st.sampled_from(pool), min_size=rows, max_size=rows)), dtype=object
            ),
            date: pd.DatetimeIndex(times, dtype="datetime64[ns]"),
            amount: pd.Series(
                draw(st.lists(st.integers(0, 400), min_size=rows, max_size=rows)), dtype=float
            )
            / 4,
        }
    )
