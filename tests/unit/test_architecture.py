"""The structure of the product's code, read from its source with `ast` (no import runs,
no database, no process): no import loop between the modules of config/, core/ and
datatransfer/; core depends on nothing of datatransfer's command line; datatransfer reaches
the domain's models only through the registry; no function of datatransfer/ is over 60
lines (the mccabe complexity is ruff's C901, pyproject.toml).

Imports inside functions count: an import moved into a function to dodge a loop at import
time is still a loop in the structure."""

import ast
import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("config", "core", "datatransfer")
MAX_FUNCTION_LINES = 60

# What is still to change (empty today; a new entry needs a reason):
# each entry is exact (a loop must be this very set of modules, a function this very one),
# and test_the_known_exceptions_still_hold names an entry to delete once it no longer holds.
KNOWN_LOOPS = []
KNOWN_LONG_FUNCTIONS = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _source_files() -> dict[str, Path]:
    """Every module of the product by dotted name; the migrations are Django's to write."""
    return {
        _module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
    }


MODULES = _source_files()


def _imported_names(name: str, path: Path):
    """The dotted names that module `name` imports, anywhere in it; `from X import Y`
    gives X.Y when that is a module, else X. Relative imports are resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield submodule if submodule in MODULES else base


def _product_module(dotted: str) -> str | None:
    """The product's module that `dotted` names or lies in; None for anything else."""
    while dotted and dotted not in MODULES:
        dotted = dotted.rpartition(".")[0]
    return dotted or None


@functools.cache
def import_graph() -> dict[str, set[str]]:
    """Module -> the product's modules it imports. A package importing its own submodules
    is left out: importing a submodule imports its package first, so that is no loop.
    Read once per session (the tests below only read it)."""
    graph = {}
    for name, path in MODULES.items():
        targets = {_product_module(dotted) for dotted in _imported_names(name, path)}
        graph[name] = {
            target
            for target in targets
            if target and target != name and not target.startswith(name + ".")
        }
    return graph


def strongly_connected_components(graph: dict[str, set[str]]) -> list[set[str]]:
    """The import loops: Tarjan's components of more than one module (iterative, so that a
    deep chain of imports never reaches Python's recursion limit)."""
    index, low, on_stack, stack, loops = {}, {}, set(), [], []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        loops.append(component)
    return loops


@functools.cache
def long_functions() -> dict[str, int]:
    """`path:qualified name` -> lines, for every function of datatransfer/ over the limit
    (from its `def`, decorators aside, to its last line, docstring included)."""
    found = {}

    def visit(node, path, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                qualified = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    lines = child.end_lineno - child.lineno + 1
                    if lines > MAX_FUNCTION_LINES:
                        found[f"{path.relative_to(ROOT).as_posix()}:{qualified}"] = lines
                visit(child, path, qualified + ".")
            else:
                visit(child, path, prefix)

    for path in sorted((ROOT / "datatransfer").rglob("*.py")):
        visit(ast.parse(path.read_text(), filename=str(path)), path, "")
    return found


def test_the_analysis_sees_a_loop_and_a_long_function():
    """The checks below would pass on a graph they cannot read: they are shown one first."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert strongly_connected_components(graph) == [{"a", "b", "c"}]
    assert strongly_connected_components({"a": {"b"}, "b": set()}) == []
    assert "datatransfer.exporter" in import_graph()["datatransfer.management.commands.dumpdomain"]


def test_no_import_loop_between_the_modules_of_config_core_and_datatransfer():
    loops = strongly_connected_components(import_graph())
    unexpected = [sorted(loop) for loop in loops if loop not in KNOWN_LOOPS]
    assert not unexpected, f"import loops: {unexpected}"


def test_core_imports_nothing_from_the_command_line_of_datatransfer():
    """Commands (and their helpers) are the top of the structure: core's own commands use
    modules outside datatransfer.management (datatransfer.progress for the bars)."""
    offenders = {
        name: sorted(target for target in targets if target.startswith("datatransfer.management"))
        for name, targets in import_graph().items()
        if name.split(".")[0] == "core"
    }
    assert not {name: found for name, found in offenders.items() if found}


def test_datatransfer_reaches_the_domain_models_only_through_the_registry():
    """The domain apps are a setting (DATATRANSFER_APPS): datatransfer never imports one by
    name (the admin's subset root, for one, is the registry's subset_root_table)."""
    offenders = {
        name: sorted(target for target in targets if target.split(".")[0] == "core")
        for name, targets in import_graph().items()
        if name.split(".")[0] == "datatransfer"
    }
    assert not {name: found for name, found in offenders.items() if found}


def test_no_function_of_datatransfer_is_over_60_lines():
    found = long_functions()
    unexpected = {name: lines for name, lines in found.items() if name not in KNOWN_LONG_FUNCTIONS}
    assert not unexpected, f"functions over {MAX_FUNCTION_LINES} lines: {unexpected}"


def test_the_known_exceptions_still_hold():
    """Each entry of KNOWN_LOOPS and KNOWN_LONG_FUNCTIONS is still true: once the work that
    removes one lands, this says which entry to delete, so the lists only ever shrink."""
    loops = strongly_connected_components(import_graph())
    gone_loops = [sorted(loop) for loop in KNOWN_LOOPS if loop not in loops]
    long = long_functions()
    gone_functions = sorted(name for name in KNOWN_LONG_FUNCTIONS if name not in long)
    assert not gone_loops, f"no longer an import loop, delete from KNOWN_LOOPS: {gone_loops}"
    assert not gone_functions, (
        f"no longer over {MAX_FUNCTION_LINES} lines, delete from KNOWN_LONG_FUNCTIONS: "
        f"{gone_functions}"
    )
