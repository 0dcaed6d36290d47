"""The layer contract of the Development page, enforced on every import in ``src/crmkit``.

* A module may import its own package, and packages of LOWER layers, nothing else:
  no upward import, no sideways import between packages of one layer.
* No module imports another package's private (``_``) module.
* The import graph between modules has no cycle.

Every ``import`` counts, wherever it stands (module level, inside a function,
under ``TYPE_CHECKING``), except that type-only imports are left out of the
cycle check. The last tests plant violations in a copy of the tree and show
that the checker finds them.
"""

from __future__ import annotations

import ast
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Lowest first. Packages on one line are siblings: they may not import each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("core",),
    ("domain",),
    ("expr",),
    ("scoring",),
    ("segmentation", "lifecycle", "loyalty", "clv"),
    ("quality", "privacy", "backtest"),
    ("adapters", "testing"),
    ("app",),
    ("config", "errors"),  # public names of app and core
    ("__init__",),  # the front door
)
RANK = {package: rank for rank, line in enumerate(LAYERS) for package in line}


class Import:
    __slots__ = ("line", "module", "target", "typing_only")

    def __init__(self, module: str, target: str, line: int, typing_only: bool) -> None:
        self.module, self.target, self.line, self.typing_only = module, target, line, typing_only

    def __repr__(self) -> str:
        return f"{self.module}:{self.line} imports {self.target}"


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.with_suffix("").relative_to(root).parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _typing_blocks(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports(root: Path) -> Iterator[Import]:
    """Every import of a crmkit module in the tree under *root* (``root/crmkit/...``)."""
    for path in sorted((root / "crmkit").rglob("*.py")):
        module = _module_name(path, root)
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = _typing_blocks(tree)
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = module.split(".") if is_package else module.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    prefix = ".".join([*base, node.module] if node.module else base)
                else:
                    prefix = node.module or ""
                # "from crmkit.x import y" may name a module: count it as the import of y.
                named = [f"{prefix}.{a.name}" for a in node.names]
                modules = [m for m in named if _is_module(root, m)]
                targets = modules if len(modules) == len(named) else [prefix, *modules]
            for target in targets:
                if target == "crmkit" or target.startswith("crmkit."):
                    yield Import(module, target, node.lineno, node.lineno in typing_only)


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _is_module(root: Path, dotted: str) -> bool:
    path = root.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def violations(root: Path) -> list[str]:
    """Layer, privacy and cycle violations in the tree under *root*."""
    found: list[str] = []
    edges: dict[str, set[str]] = {}
    for imp in imports(root):
        source, target = _package(imp.module), _package(imp.target)
        if source not in RANK:
            found.append(f"{imp}: package {source!r} is not in the layer table")
            continue
        if target not in RANK:
            found.append(f"{imp}: package {target!r} is not in the layer table")
            continue
        if source != target:
            if RANK[target] > RANK[source]:
                found.append(f"{imp}: upward ({source} is below {target})")
            elif RANK[target] == RANK[source]:
                found.append(f"{imp}: sideways ({source} and {target} are one layer)")
            private = [
                p for p in imp.target.split(".")[2:] if p.startswith("_") and not p.startswith("__")
            ]
            if private:
                found.append(f"{imp}: private module of another package")
        if not imp.typing_only:
            target_module = imp.target
            while not _is_module(root, target_module):
                target_module = target_module.rsplit(".", 1)[0]
            if target_module != imp.module:
                edges.setdefault(imp.module, set()).add(target_module)
    found += [f"import cycle: {' -> '.join(c)}" for c in _cycles(edges)]
    return found


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            # A package's __init__ importing its own modules is how packages are built.
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_source_tree_keeps_the_layer_contract() -> None:
    problems = violations(SRC)
    assert not problems, "\n".join(problems)


def test_every_package_is_in_the_layer_table() -> None:
    packages = {p.name for p in (SRC / "crmkit").iterdir() if (p / "__init__.py").is_file()}
    modules = {p.stem for p in (SRC / "crmkit").glob("*.py") if p.stem != "__init__"}
    public = {m for m in modules if not m.startswith("_")}
    assert packages | public <= set(RANK), sorted((packages | public) - set(RANK))
    assert not (modules - public), "no private modules at the top level: put them in a package"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    shutil.copytree(SRC / "crmkit", tmp_path / "crmkit")
    return tmp_path


def _plant(tree: Path, module: str, line: str) -> None:
    path = tree.joinpath(*module.split(".")).with_suffix(".py")
    path.write_text(path.read_text(encoding="utf-8") + "\n" + line + "\n", encoding="utf-8")


def test_a_planted_upward_import_is_found(tree: Path) -> None:
    assert violations(tree) == []
    _plant(tree, "crmkit.domain._values", "from crmkit.scoring import features  # upward")
    (problem,) = [p for p in violations(tree) if "upward" in p]
    assert "crmkit.domain._values" in problem
    assert "domain is below scoring" in problem


def test_a_planted_sideways_private_and_cyclic_import_is_found(tree: Path) -> None:
    _plant(tree, "crmkit.loyalty._tiers", "from crmkit.lifecycle._replay import replay")
    _plant(tree, "crmkit.scoring._value", "import crmkit.scoring._monthly")
    found = violations(tree)
    assert any("sideways (loyalty and lifecycle" in p for p in found), found
    assert any("private module of another package" in p for p in found), found
    assert any(p.startswith("import cycle") and "crmkit.scoring._monthly" in p for p in found), (
        found
    )
