"""The one helper every strategy module shares: build each strategy once per arguments."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar, cast

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _shared(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Build a strategy once per distinct arguments, then hand out the same object.

    Hypothesis validates every new strategy object on its first draw, which
    costs more than drawing; composites that build their parts on every draw
    would pay it every time. Strategies are immutable, so sharing is safe.
    """
    return cast("Callable[_P, _R]", functools.cache(fn))
