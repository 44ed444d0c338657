"""The package's import layers, enforced: lower rooms never import higher ones.

From the bottom: the table types and address helpers; config and health; the pure plan
(reconcile) and the shells beside it (checks, the kernel backends, logging, metrics,
control); the daemon; the command line. Pure modules do no I/O: they import nothing that
talks to the outside world and never call ``open``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lvsd"

# (layer, module prefixes) from the bottom up; a module's layer is its longest matching prefix.
LAYERS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (0, ("lvsd.errors", "lvsd.addr", "lvsd.ipvs.table", "lvsd.ipvs.sync")),
    (1, ("lvsd.config", "lvsd.health")),
    (2, ("lvsd.reconcile", "lvsd.checks", "lvsd.ipvs", "lvsd.log", "lvsd.logtext", "lvsd.metrics",
         "lvsd.control", "lvsd.watchfile", "lvsd.monitorfile", "lvsd.loaded", "lvsd.pair", "lvsd.ecmp")),
    (3, ("lvsd.daemon",)),
    (4, ("lvsd.cli", "lvsd.__main__")),
)
NAMES = {0: "foundations", 1: "config and health", 2: "plan, checks, kernel and outputs", 3: "daemon", 4: "CLI"}

# Rooms of the same layer that still must not see each other.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "lvsd.checks": ("lvsd.ipvs", "lvsd.reconcile", "lvsd.loaded", "lvsd.control", "lvsd.metrics"),
    "lvsd.ipvs": ("lvsd.checks", "lvsd.reconcile", "lvsd.loaded"),
    "lvsd.reconcile": ("lvsd.checks", "lvsd.ipvs.netlink", "lvsd.ipvs.messages", "lvsd.log", "lvsd.metrics"),
    "lvsd.config": ("lvsd.health",),
    "lvsd.health": ("lvsd.config",),
}

PURE = ("lvsd.health", "lvsd.reconcile", "lvsd.ipvs.table", "lvsd.addr", "lvsd.config.model",
        "lvsd.config.values", "lvsd.config.lexer", "lvsd.config.errors", "lvsd.config.directives",
        "lvsd.config.addresses", "lvsd.config.reals", "lvsd.cli.planview", "lvsd.daemon.status",
        "lvsd.daemon.resync", "lvsd.ipvs.sync",
        "lvsd.pair.roles", "lvsd.pair.track", "lvsd.pair.keepalived", "lvsd.config.pair", "lvsd.config.pulse",
        "lvsd.config.ecmp", "lvsd.ecmp.announce", "lvsd.ecmp.maglev")
IO_MODULES = ("asyncio", "socket", "subprocess", "select", "selectors", "ssl", "signal", "threading",
              "multiprocessing", "time", "os", "shutil", "smtplib", "urllib", "http", "aiohttp", "pyroute2",
              "structlog", "yaml", "io", "pathlib", "tempfile", "fcntl", "resource")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, ast.Module]:
    return {module_name(p): ast.parse(p.read_text(), str(p)) for p in sorted(PACKAGE.rglob("*.py"))}


def imports(name: str, tree: ast.Module) -> Iterator[tuple[str, int]]:
    """Every module ``name`` imports, as absolute names, with the line."""
    package = name if (PACKAGE.parent / name.replace(".", "/") / "__init__.py").exists() else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base, node.lineno
            for alias in node.names:  # `from lvsd import daemon` imports the module lvsd.daemon
                yield f"{base}.{alias.name}", node.lineno


def layer_of(name: str) -> int:
    if name == "lvsd":
        return 0  # the package's face: its version
    best, layer = -1, -1
    for number, prefixes in LAYERS:
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best:
                best, layer = len(prefix), number
    return layer


def known(name: str, all_modules: dict[str, ast.Module]) -> bool:
    return name in all_modules


def test_every_module_has_a_layer() -> None:
    assert [n for n in modules() if layer_of(n) < 0] == []


def test_no_module_imports_a_higher_layer() -> None:
    found = modules()
    wrong = []
    for name, tree in found.items():
        mine = layer_of(name)
        for target, line in imports(name, tree):
            if not known(target, found):
                continue
            theirs = layer_of(target)
            if theirs > mine:
                wrong.append(f"{name}:{line} ({NAMES[mine]}) imports {target} ({NAMES[theirs]})")
    assert wrong == []


def test_rooms_of_one_layer_keep_to_themselves() -> None:
    found = modules()
    wrong = []
    for name, tree in found.items():
        for room, banned in FORBIDDEN.items():
            if name != room and not name.startswith(room + "."):
                continue
            for target, line in imports(name, tree):
                if known(target, found) and any(target == b or target.startswith(b + ".") for b in banned):
                    if not (room == "lvsd.ipvs" and target == "lvsd.ipvs.table"):
                        wrong.append(f"{name}:{line} imports {target}")
    assert wrong == []


@pytest.mark.parametrize("pure", PURE)
def test_pure_modules_do_no_io(pure: str) -> None:
    found = modules()
    if pure not in found:
        pytest.fail(f"{pure} is listed as pure but does not exist: update PURE")
    tree = found[pure]
    io = [f"{pure}:{line} imports {target}" for target, line in imports(pure, tree)
          if target.split(".")[0] in IO_MODULES]
    io += [f"{pure}:{node.lineno} calls open()" for node in ast.walk(tree)
           if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open"]
    assert io == []


def test_the_checker_sees_a_violation() -> None:
    """The rules bite: a daemon import from config would be reported."""
    tree = ast.parse("from lvsd.daemon import Daemon\nimport socket\n")
    targets = [t for t, _ in imports("lvsd.config.model", tree)]
    assert "lvsd.daemon.Daemon" in targets and "socket" in targets
    assert layer_of("lvsd.daemon.loop") > layer_of("lvsd.config.model")
    assert layer_of("lvsd.cli") > layer_of("lvsd.daemon")


def edges(name: str, tree: ast.Module, found: dict[str, ast.Module]) -> set[str]:
    """The lvsd modules ``name`` imports (type-only imports included): ``from P import m`` is an edge to P.m."""
    out: set[str] = set()
    package = name if (PACKAGE.parent / name.replace(".", "/") / "__init__.py").exists() else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in found)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            subs = {f"{base}.{a.name}" for a in node.names} & found.keys()
            out.update(subs or ({base} & found.keys()))
    out.discard(name)
    return out


def test_no_import_cycles() -> None:
    """Not even type-only ones: a cycle means two modules are one job, or a type lives in the wrong one."""
    found = modules()
    graph = {n: edges(n, t, found) for n, t in found.items()}
    cycles: list[list[str]] = []
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
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
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert cycles == []
