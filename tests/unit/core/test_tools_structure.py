"""tools/countersign_dev/ is split by role, with no import cycle (issue 22, item 2).

- `emulation/`: the AWS emulation (the local stack, its containers, gateway, stream poller,
  provisioning from template.yaml);
- `devtools/`: dev servers and generators (jwks-serve, example events, the OpenAPI document);
- the CLI: `cli.py` (dispatch only), `commands/` (one module per command group), and what they
  share: `target.py` (the one target resolver), `render.py` (the one table renderer),
  `admin_api.py`, `errors.py`; the CLI-independent libraries `apps.py` and `lake.py`.

Imports are read from the source (every `import`, function-level ones included: a cycle hidden
inside a function is still a cycle), so the test needs nothing of the package to run.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "countersign_dev"
ROOT = Path(__file__).resolve().parents[3] / "tools" / PACKAGE
#: The modules only the CLI may import.
CLI = ("cli", "commands", "target", "render", "admin_api")


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join((PACKAGE, *parts[:-1])) if parts[-1] == "__init__" else ".".join((PACKAGE, *parts))
        found[name] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules `path` imports (a `from X import name` of a submodule counts as it)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith(PACKAGE)}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PACKAGE) and not node.level:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in modules else node.module)
    return {name for name in found if name in modules}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def _role(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_import_cycle_in_tools() -> None:
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_modules_are_grouped_by_role() -> None:
    modules = set(_modules())
    roles = {_role(name) for name in modules} - {""}
    assert {"emulation", "devtools", "commands"} <= roles
    top_level = {name for name in modules if name.count(".") == 1}
    assert {f"{PACKAGE}.{name}" for name in ("cli", "target", "render", "admin_api", "errors")} <= top_level
    assert all(
        (ROOT / part).is_dir() or (ROOT / f"{part}.py").is_file() for part in ("emulation", "devtools", "commands")
    )


def test_the_emulation_dev_tools_and_libraries_never_import_the_cli() -> None:
    leaks = [
        f"{name} imports {imported}"
        for name, imported_set in _graph().items()
        if _role(name) not in CLI
        for imported in imported_set
        if _role(imported) in CLI
    ]
    assert leaks == []


def test_the_emulation_imports_no_dev_tool_but_the_openapi_document() -> None:
    """The local stack serves /openapi.json from the OpenAPI generator; nothing else goes up."""
    leaks = [
        f"{name} imports {imported}"
        for name, imported_set in _graph().items()
        if _role(name) == "emulation"
        for imported in imported_set
        if _role(imported) == "devtools" and imported != f"{PACKAGE}.devtools.openapi"
    ]
    assert leaks == []


def test_cli_py_only_dispatches_and_every_group_registers_itself() -> None:
    tree = ast.parse((ROOT / "cli.py").read_text())
    calls = {
        node.func.attr for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert "add_parser" not in calls  # every command's parser is built by its group's module
    assert _graph()[f"{PACKAGE}.cli"] & {f"{PACKAGE}.commands"} == {f"{PACKAGE}.commands"}
    groups = sorted(path.stem for path in (ROOT / "commands").glob("*.py") if path.stem != "__init__")
    init = ast.parse((ROOT / "commands" / "__init__.py").read_text())
    listed = next(
        node.value
        for node in ast.walk(init)
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == "GROUPS"
    )
    assert isinstance(listed, ast.Tuple)
    assert sorted(element.id for element in listed.elts if isinstance(element, ast.Name)) == groups
    for group in groups:
        module = ast.parse((ROOT / "commands" / f"{group}.py").read_text())
        functions = {node.name for node in module.body if isinstance(node, ast.FunctionDef)}
        assert "register" in functions, group


def test_one_target_resolver_and_one_table_renderer() -> None:
    """Only target.py reads local.json or a stack's outputs; only render.py lays out a table."""
    readers, renderers = [], []
    for name, path in _modules().items():
        text = path.read_text()
        if name == f"{PACKAGE}.target" or _role(name) in {"emulation", "devtools"}:
            continue
        if "describe_stacks" in text or '"local.json"' in text or "read_state(" in text:
            readers.append(name)
        if name != f"{PACKAGE}.render" and ".ljust(" in text:
            renderers.append(name)
    assert (readers, renderers) == ([], [])
