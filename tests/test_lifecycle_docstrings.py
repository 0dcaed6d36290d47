"""Run the ``>>>`` examples of the lifecycle methods.

``--doctest-modules`` finds a class's docstring under ``crmkit.lifecycle``
(the classes are re-homed there) but not the docstrings of its methods, which
doctest attributes to the private module; this collects them all.
"""

from __future__ import annotations

import doctest
import inspect
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

import crmkit.adapters._sqlite_lifecycle
import crmkit.lifecycle._churn
import crmkit.lifecycle._definition
import crmkit.lifecycle._records
import crmkit.lifecycle._replay

MODULES: tuple[ModuleType, ...] = (
    crmkit.lifecycle._definition,
    crmkit.lifecycle._replay,
    crmkit.lifecycle._churn,
    crmkit.lifecycle._records,
    crmkit.adapters._sqlite_lifecycle,
)
FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS


def _docstrings() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for module in MODULES:
        for name, obj in vars(module).items():
            if not inspect.isclass(obj) and not inspect.isfunction(obj):
                continue
            if getattr(obj, "__module__", None) not in (module.__name__, "crmkit.lifecycle"):
                continue
            members: list[tuple[str, Any]] = [(name, obj)]
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    target = member.fget if isinstance(member, property) else member
                    target = getattr(target, "__func__", target)
                    members.append((f"{name}.{attr}", target))
            for qualified, target in members:
                doc = (
                    inspect.getdoc(target) if callable(target) or inspect.isclass(target) else None
                )
                if doc and ">>>" in doc:
                    yield f"{module.__name__}.{qualified}", doc, vars(module)


CASES = sorted({name: (doc, env) for name, doc, env in _docstrings()}.items())


def test_the_method_examples_are_collected() -> None:
    names = [name for name, _ in CASES]
    assert "crmkit.lifecycle._definition.Lifecycle.step" in names
    assert "crmkit.lifecycle._definition.Lifecycle.classify" in names


@pytest.mark.parametrize(("name", "case"), CASES, ids=[name for name, _ in CASES])
def test_docstring_examples_run(name: str, case: tuple[str, dict[str, Any]]) -> None:
    doc, env = case
    test = doctest.DocTestParser().get_doctest(doc, dict(env), name, None, 0)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    out: list[str] = []
    runner.run(test, out=out.append)
    assert runner.failures == 0, "".join(out)
