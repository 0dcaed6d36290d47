"""Run the ``>>>`` examples of every method of a re-homed public class.

Public classes are defined in private modules and re-homed (their
``__module__`` set to the public one: ``crmkit.expr``, ``crmkit.errors``,
``crmkit.lifecycle``...), so tracebacks and pickles use stable names.
``--doctest-modules`` then finds the class docstring under the public module
but skips its methods (doctest attributes them to the private module, where
the class claims not to live). This collects those method examples, for every
package at once, so that no example in the reference goes unrun.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from typing import Any

import pytest

import crmkit

FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
_OPTIONAL = {"dask", "distributed", "pyarrow", "polars", "matplotlib", "tqdm"}


def _modules() -> Iterator[Any]:
    for info in pkgutil.walk_packages(crmkit.__path__, prefix="crmkit."):
        if info.name.startswith("crmkit.testing") or info.name == "crmkit.__main__":
            continue
        try:
            yield importlib.import_module(info.name)
        except ModuleNotFoundError as err:  # an adapter whose optional dependency is missing
            if (err.name or "").split(".")[0] not in _OPTIONAL:
                raise


def _cases() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for module in _modules():
        for name, obj in vars(module).items():
            # Only classes defined here but re-homed elsewhere; the rest --doctest-modules runs.
            if not inspect.isclass(obj) or obj.__module__ == module.__name__:
                continue
            if not obj.__module__.startswith("crmkit") or name.startswith("_"):
                continue
            defined_here = any(
                getattr(getattr(m, "__func__", m), "__globals__", None) is vars(module)
                for m in vars(obj).values()
            )
            if not defined_here:
                continue
            for attr, member in vars(obj).items():
                target = member.fget if isinstance(member, property) else member
                target = getattr(target, "__func__", target)
                if not inspect.isfunction(target):
                    continue
                doc = inspect.getdoc(target)
                if doc and ">>>" in doc:
                    yield f"{obj.__module__}.{name}.{attr}", doc, vars(module)


CASES = sorted({name: (doc, env) for name, doc, env in _cases()}.items())


def test_method_examples_of_re_homed_classes_are_collected() -> None:
    names = [name for name, _ in CASES]
    assert "crmkit.expr.Formula.evaluate" in names
    assert "crmkit.expr.Formula.transform" in names
    assert "crmkit.errors.Problem.render" in names


@pytest.mark.parametrize(("name", "case"), CASES, ids=[name for name, _ in CASES])
def test_docstring_examples_run(name: str, case: tuple[str, dict[str, Any]]) -> None:
    doc, env = case
    test = doctest.DocTestParser().get_doctest(doc, dict(env), name, None, 0)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    out: list[str] = []
    runner.run(test, out=out.append)
    assert runner.failures == 0, "".join(out)
