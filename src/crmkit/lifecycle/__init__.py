"""Lifecycle state machines: definitions as data, stepping, classifying and replaying.

* :class:`Lifecycle` is a definition: states, an initial state, final states
  and guarded transitions, loaded from a dict, TOML or JSON and validated when
  built. :meth:`Lifecycle.five_stage` is the domain's five stages,
  :meth:`Lifecycle.b2b_funnel` a B2B lead funnel.
* The machine does not own the state: :meth:`Lifecycle.step` takes one
  customer's stage and features and returns the next stage with a
  :class:`LifecycleTransition` record; :meth:`Lifecycle.classify` does the
  same for a whole frame; :func:`replay` runs a transaction log period by
  period.
* :class:`TransitionHistory` is the repository Protocol for transition
  records (:class:`InMemoryTransitionHistory` here, SQLite in
  :mod:`crmkit.adapters.sqlite`); :class:`RewritableTransitionHistory` adds
  ``rewrite``, which re-points stored transitions (a merge of duplicates).
* :func:`churn_warning` flags customers at risk, with the reason.

See the Lifecycle concept page for the semantics and the five-stage guards.
"""

from crmkit.lifecycle._churn import ChurnWarning, churn_warning
from crmkit.lifecycle._definition import Lifecycle, replay
from crmkit.lifecycle._inputs import DERIVED, GUARD_INPUTS
from crmkit.lifecycle._plan import Step, Transition
from crmkit.lifecycle._records import (
    InMemoryTransitionHistory,
    LifecycleTransition,
    RewritableTransitionHistory,
    TransitionHistory,
    check_transition,
    check_transition_rewrite,
    plan_transition_rewrite,
)
from crmkit.lifecycle._replay import REPLAY_INPUTS, Replay

__all__ = [
    "DERIVED",
    "GUARD_INPUTS",
    "REPLAY_INPUTS",
    "ChurnWarning",
    "InMemoryTransitionHistory",
    "Lifecycle",
    "LifecycleTransition",
    "Replay",
    "RewritableTransitionHistory",
    "Step",
    "Transition",
    "TransitionHistory",
    "check_transition",
    "check_transition_rewrite",
    "check_window",
    "churn_warning",
    "plan_transition_rewrite",
    "replay",
]

for _cls in (
    ChurnWarning,
    InMemoryTransitionHistory,
    Lifecycle,
    LifecycleTransition,
    Replay,
    RewritableTransitionHistory,
    Step,
    Transition,
    TransitionHistory,
):
    _cls.__module__ = "crmkit.lifecycle"
del _cls
