"""The package's shape: layers that import only downwards (import-linter, configured in
pyproject.toml), no import cycles, short import chains, small modules, and function-local imports
only with a stated reason. Imports inside functions count as imports; ``if TYPE_CHECKING:`` blocks
do not (they never run)."""
import ast
import functools
import subprocess
import sys
from pathlib import Path

import pytest

grimp = pytest.importorskip("grimp")
PACKAGE = Path(__file__).resolve().parents[1] / "onepixel"
MAX_CHAIN = 9       # modules in the longest chain of imports
MAX_LINES = 350     # a longer module states why in its docstring ("long because ...")


@functools.cache
def graph():
    return grimp.build_graph("onepixel", exclude_type_checking_imports=True)


def imports(module: str) -> set[str]:
    """Modules of the package that ``module`` imports (a package's own ``__init__`` aside)."""
    return {m for m in graph().find_modules_directly_imported_by(module) if m != "onepixel"}


def test_layers_import_only_downwards():
    lint = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(lint), "--config", str(PACKAGE.parent / "pyproject.toml")], capture_output=True,
                         text=True, cwd=PACKAGE.parent)
    assert out.returncode == 0, out.stdout[-3000:]


def test_no_import_cycles_and_chains_at_most_nine_modules():
    modules = sorted(graph().modules)
    chain: dict[str, list[str]] = {}

    def longest(module: str, path: tuple[str, ...]) -> list[str]:
        assert module not in path, f"import cycle: {' -> '.join(path[path.index(module):] + (module,))}"
        if module not in chain:
            below = [longest(m, path + (module,)) for m in sorted(imports(module))]
            chain[module] = [module, *max(below, key=len, default=[])]
        return chain[module]
    deepest = max((longest(m, ()) for m in modules), key=len)
    assert len(deepest) <= MAX_CHAIN, " -> ".join(deepest)


def test_modules_are_short_or_say_why():
    for path in PACKAGE.rglob("*.py"):
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        lines = len(path.read_text().splitlines())
        assert lines <= MAX_LINES or "long because" in doc, f"{path.relative_to(PACKAGE)}: {lines} lines"


def test_function_local_imports_give_their_reason():
    """Imports inside functions only defer an optional or heavy dependency (or break a cycle),
    and say which on the same line."""
    for path in PACKAGE.rglob("*.py"):
        source = path.read_text()
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    if isinstance(inner, (ast.Import, ast.ImportFrom)):
                        line = lines[inner.end_lineno - 1]
                        assert "#" in line, f"{path.relative_to(PACKAGE)}:{inner.lineno}: {line.strip()}"
