"""A segment: a name, a boolean rule, a priority and a description."""

from __future__ import annotations

import attrs

__all__ = ["Segment"]


@attrs.frozen
class Segment:
    """One named segment: a boolean rule, a priority (exclusive mode) and a description.

    Attributes:
        name: the segment's name (its column in multi-label output, its label in exclusive).
        rule: the rule, formula text that gives a bool; it may use population
            statistics such as ``quantile(total_spend, 0.8)``.
        priority: in exclusive mode, segments are tried highest priority
            first; equal priorities keep the order of declaration.
        description: what the segment means, for people.
    """

    name: str
    rule: str
    priority: float = 0.0
    description: str = ""
