"""No import cycle among service/, schemas/ and sandbox/, and schemas/ leaning on nothing in the
domain but the plain constants of service/constants/.

The graph is read from the source with ``ast``: every ``import`` counts, at module level or inside
a function (an import inside a function is a cycle that only waits for its first call). Known
cycles would be listed below, commented; the lists are empty since issue #16, and anything not
listed fails.

The tests themselves: no file under tests/ imports from a test module (``test_*``) or a conftest.
Shared helpers are plain modules in tests/support/ and shared fixtures live in the nearest
conftest.py that covers their users, which pytest finds without an import.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("service", "schemas", "sandbox")

# Modules importing each other, directly or round a loop (strongly connected components).
KNOWN_MODULE_CYCLES: set[frozenset[str]] = set()

# A package reached again through a module outside it that it depends on: (importer, imported).
KNOWN_PACKAGE_BACK_EDGES: set[tuple[str, str]] = set()

# schemas/ depends on nothing in the domain but plain constants: the modules of service/constants/,
# which hold names bound to literal values and nothing else (the last test below checks that).
CONSTANTS_PACKAGE = "service.constants"


@cache
def source_modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported_modules(name: str, path: Path) -> set[str]:
    """The project modules ``name`` imports anywhere in its source (``from p import m`` is p.m)."""
    modules = source_modules()
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                if f"{target}.{alias.name}" in modules:
                    found.add(f"{target}.{alias.name}")
                elif target in modules:
                    found.add(target)
    return found - {name}


@cache
def import_graph() -> dict[str, frozenset[str]]:
    return {name: frozenset(imported_modules(name, path)) for name, path in source_modules().items()}


def cycles(graph: dict[str, set[str]]) -> Iterator[frozenset[str]]:
    """Strongly connected components of more than one node (Tarjan's algorithm, iteratively)."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    for root in sorted(graph):
        if root in order:
            continue
        work = [(root, iter(sorted(graph[root])))]
        order[root] = low[root] = len(order)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in order:
                    order[child] = low[child] = len(order)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], order[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == order[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    yield frozenset(component)


def package_back_edges() -> set[tuple[str, str]]:
    """Per subpackage, seen as one node: imports into it from modules on a loop back to it."""
    graph = import_graph()
    subpackages = [
        name for name, path in source_modules().items() if path.name == "__init__.py" and "." in name
    ]
    found = set()
    for package in subpackages:

        def node(name: str, package: str = package) -> str:
            return package if name == package or name.startswith(package + ".") else name

        collapsed: dict[str, set[str]] = {}
        for name, targets in graph.items():
            collapsed.setdefault(node(name), set()).update(node(t) for t in targets if node(t) != node(name))
        for component in cycles(collapsed):
            if package in component:
                found |= {
                    (name, target)
                    for name in component - {package}
                    for target in graph[name]
                    if node(target) == package
                }
    return found


def test_the_graph_sees_imports_at_module_and_function_level() -> None:
    graph = import_graph()
    assert "service.settings" in graph["service"]  # from .settings import ... at the top
    assert "service.ledger.payments" in graph["service.ledger.apply_checkout"]  # from . import payments
    assert (
        "service.donations.states" in graph["service.ledger.apply_checkout"]
    )  # from ..donations import states
    assert list(cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})) == [frozenset("abc")]


def test_no_new_import_cycle_between_modules() -> None:
    found = set(cycles(dict(import_graph())))
    assert found - KNOWN_MODULE_CYCLES == set(), "a new import cycle"
    assert KNOWN_MODULE_CYCLES - found == set(), "a known cycle is gone: take it off the list"


def test_no_package_is_imported_back_by_a_module_it_depends_on() -> None:
    found = package_back_edges()
    assert found - KNOWN_PACKAGE_BACK_EDGES == set(), "a new cycle through a package"
    assert KNOWN_PACKAGE_BACK_EDGES - found == set(), "a known cycle is gone: take it off the list"


def test_schemas_import_nothing_from_the_domain_but_constants() -> None:
    graph = import_graph()
    found = {
        (name, target)
        for name, targets in graph.items()
        if name.split(".")[0] == "schemas"
        for target in targets
        if target.split(".")[0] != "schemas"
        and not (target == CONSTANTS_PACKAGE or target.startswith(CONSTANTS_PACKAGE + "."))
    }
    assert found == set(), "schemas/ importing a domain module"
    assert any(target.startswith(CONSTANTS_PACKAGE) for targets in graph.values() for target in targets)


# Calls a constants module may make while binding its values (frozenset({...}), and the like).
LITERAL_BUILDERS = {"frozenset", "set", "tuple", "dict", "list"}


def constant_problems(tree: ast.Module) -> list[str]:
    """Anything in a module but a docstring and names bound to literal values."""
    problems = []
    for index, node in enumerate(tree.body):
        if index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        if not isinstance(node, ast.Assign | ast.AnnAssign):
            problems.append(f"line {node.lineno}: {type(node).__name__}")
            continue
        for inner in ast.walk(node.value) if node.value is not None else ():
            if isinstance(inner, ast.Call) and not (
                isinstance(inner.func, ast.Name) and inner.func.id in LITERAL_BUILDERS
            ):
                problems.append(f"line {inner.lineno}: a call to {ast.unparse(inner.func)}")
            elif isinstance(inner, ast.Lambda | ast.Await | ast.Yield | ast.NamedExpr):
                problems.append(f"line {inner.lineno}: {type(inner).__name__}")
    return problems


def test_the_constants_schemas_may_import_hold_nothing_but_constants() -> None:
    modules = {n: p for n, p in source_modules().items() if n.startswith(CONSTANTS_PACKAGE)}
    assert len(modules) > 1
    found = {
        name: problems
        for name, path in modules.items()
        if (problems := constant_problems(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert found == {}
    # The check itself: a function, a class, an import or a computed value are all refused.
    source = "import os\nX = 1\nY = frozenset({1})\nZ = os.getcwd()\ndef f(): pass\nclass C: pass\n"
    assert len(constant_problems(ast.parse(source))) == 4


def forbidden_imports(source: str, module: str) -> set[str]:
    """The test modules and conftests ``source`` (the module named ``module``) imports, anywhere in
    it: ``from tests.x.test_y import f``, ``from . import conftest``, ``import tests.x.test_y``..."""

    def forbidden(name: str) -> bool:
        return any(part == "conftest" or part.startswith("test_") for part in name.split("."))

    package = module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if forbidden(alias.name))
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            if forbidden(target):
                found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names if forbidden(alias.name))
    return found


def test_no_test_file_imports_a_test_module_or_a_conftest() -> None:
    found = {}
    for path in sorted((ROOT / "tests").rglob("*.py")):
        if "node_modules" in path.parts:
            continue
        parts = path.relative_to(ROOT).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if path.name == "__init__.py":
            module += ".__init__"  # relative imports count from the package itself
        if imported := forbidden_imports(path.read_text(encoding="utf-8"), module):
            found[str(path.relative_to(ROOT))] = sorted(imported)
    assert found == {}, "move shared helpers to tests/support/ and shared fixtures to a conftest.py"
    # The check itself: every way of reaching a test module or a conftest is refused, plain ones not.
    source = (
        "from tests.finance.test_pages import sign_in\nfrom .test_pages import csrf\n"
        "from . import conftest\nfrom .conftest import monthly_params\nimport tests.service.test_donor_pages\n"
        "def f():\n    from ..service import test_debit_choice\n"
        "from tests.support.finance import sign_in\nfrom . import helpers\nimport tests.support.ledger\n"
    )
    assert forbidden_imports(source, "tests.finance.test_month_end_report") == {
        "tests.finance.test_pages",
        "tests.finance.conftest",
        "tests.service.test_donor_pages",
        "tests.service.test_debit_choice",
    }
