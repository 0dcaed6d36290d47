"""Every public module imports on its own, first, in a fresh interpreter.

Layers import each other downward and ``crmkit.errors`` lists errors of higher
layers lazily; an import cycle shows only for some import orders, so each
module is tried first.
"""

import subprocess
import sys

import pytest

MODULES = [
    "crmkit",
    "crmkit.errors",
    "crmkit.domain",
    "crmkit.expr",
    "crmkit.scoring",
    "crmkit.segmentation",
    "crmkit.lifecycle",
    "crmkit.loyalty",
    "crmkit.quality",
    "crmkit.privacy",
    "crmkit.config",
    "crmkit.app.cli",
    "crmkit.adapters.sqlite",
    "crmkit.testing",
    "crmkit.clv",
]


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_first_in_a_fresh_interpreter(module: str) -> None:
    code = f"import {module}, crmkit.errors as e; e.FormulaError, e.NotFittedError"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
