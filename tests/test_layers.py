"""The house's rules, read from the source with ast so they cannot drift.

- Layers: storage ← jobs ← webui ← launch.py (no import points the other way).
- Inside ``jobs/`` the packages have one dependency order (:data:`JOBS_ORDER`, written down in docs/architecture.md): a
  package imports only from itself and the packages before it.
- No import circle between modules, counting the imports inside functions too.
- No first-party import inside a function in ``jobs/``, ``storage/`` or ``webui/``: an import inside a function is for a heavy
  third-party library loaded lazily (torch, transformers, …), never a way around a circle. ``launch.py`` (the command line)
  may load a heavy first-party entry point lazily (one that imports gradio or torch at its top), nothing else.
- The web server does not load the training libraries: ``import webui.app`` leaves torch and transformers unloaded.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIRST_PARTY = ("jobs", "storage", "webui", "launch")
# Lowest first: a package imports only from itself and the packages listed before it.
JOBS_ORDER = ("errors", "metrics", "spec", "data", "models", "hub", "trainers", "inference", "evaluation", "export", "queue")
FORBIDDEN = {
    "storage": {"jobs", "webui", "launch", "torch", "transformers", "peft", "gradio", "diffusers"},
    "jobs": {"webui", "launch", "gradio", "gradio_client"},
    "webui": {"launch"},
}
HEAVY_LIBRARIES = {"torch", "transformers", "peft", "diffusers", "trl", "sentence_transformers", "datasets", "accelerate", "gradio"}


@dataclass
class Module:
    """One first-party module: its imports at module level and inside functions."""

    name: str
    path: Path
    top: set[str] = field(default_factory=set)
    inside_functions: list[tuple[str, int]] = field(default_factory=list)
    third_party_top: set[str] = field(default_factory=set)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_files() -> Iterator[Path]:
    yield ROOT / "launch.py"
    for package in ("jobs", "storage", "webui"):
        yield from sorted((ROOT / package).rglob("*.py"))


def _targets(node: ast.Import | ast.ImportFrom, known: set[str]) -> list[str]:
    """The modules an import statement loads (``from jobs.x import y`` loads ``jobs.x.y`` when that is a module)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level or not node.module:
        return []
    return [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in known else node.module for alias in node.names]


def read_modules() -> dict[str, Module]:
    paths = {module_name(path): path for path in source_files()}
    known = set(paths)
    modules = {name: Module(name, path) for name, path in paths.items()}
    for name, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        in_function: set[int] = set()
        for_type_checkers: set[int] = set()  # ``if TYPE_CHECKING:`` blocks: annotations only, never loaded at run time
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                in_function.update(id(child) for child in ast.walk(node) if child is not node)
            elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                for_type_checkers.update(id(child) for child in ast.walk(node) if child is not node)
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for target in _targets(node, known):
                top_level = target.split(".")[0]
                if top_level not in FIRST_PARTY:
                    if id(node) not in in_function and id(node) not in for_type_checkers:
                        modules[name].third_party_top.add(top_level)
                elif id(node) in in_function:
                    modules[name].inside_functions.append((target, node.lineno))
                else:
                    modules[name].top.add(target)
    return modules


MODULES = read_modules()


def edges(module: Module) -> set[str]:
    """Every first-party module ``module`` imports, at its top or inside a function (a package's import loads its __init__)."""
    return {target for target in module.top | {target for target, _ in module.inside_functions} if target in MODULES}


def jobs_package(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if parts[0] == "jobs" and len(parts) > 1 else None


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layers_never_import_upward(layer: str) -> None:
    offenders = {name: sorted({target.split(".")[0] for target in module.top | {t for t, _ in module.inside_functions}}
                              & FORBIDDEN[layer] | module.third_party_top & FORBIDDEN[layer])
                 for name, module in MODULES.items() if name.split(".")[0] == layer}
    assert not {name: bad for name, bad in offenders.items() if bad}


def test_every_jobs_module_sits_in_a_package_of_the_written_order() -> None:
    assert not [name for name in MODULES if name.startswith("jobs.") and jobs_package(name) not in JOBS_ORDER]


def test_jobs_packages_import_only_from_themselves_and_lower_ones() -> None:
    rank = {package: index for index, package in enumerate(JOBS_ORDER)}
    upward = [f"{name} -> {target}" for name, module in MODULES.items() if (package := jobs_package(name)) in rank
              for target in sorted(edges(module)) if (other := jobs_package(target)) in rank and rank[other] > rank[package]]
    assert not upward, "imports against the order of jobs/ (" + " → ".join(JOBS_ORDER) + "):\n" + "\n".join(upward)


def import_cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), imports inside functions included."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        on_stack.add(name)
        for target in sorted(edges(MODULES[name])):
            if target not in index:
                visit(target)
                low[name] = min(low[name], low[target])
            elif target in on_stack:
                low[name] = min(low[name], index[target])
        if low[name] == index[name]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == name:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for name in sorted(MODULES):
        if name not in index:
            visit(name)
    return cycles


def test_no_import_circles() -> None:
    assert not import_cycles()


def test_no_first_party_import_inside_a_function() -> None:
    hidden = sorted({f"{name}:{line} imports {target}" for name, module in MODULES.items() if name != "launch"
                     for target, line in module.inside_functions})
    assert not hidden, "first-party imports inside functions (move them to the module's top):\n" + "\n".join(hidden)


def heavy_modules() -> set[str]:
    """Modules whose import loads a heavy library at once (directly or through a first-party module's top-level imports)."""
    heavy = {name for name, module in MODULES.items() if module.third_party_top & HEAVY_LIBRARIES}
    changed = True
    while changed:
        changed = False
        for name, module in MODULES.items():
            if name not in heavy and module.top & heavy:
                heavy.add(name)
                changed = True
    return heavy


def test_the_command_line_loads_only_heavy_entry_points_lazily() -> None:
    light = [f"launch.py:{line} imports {target}" for target, line in MODULES["launch"].inside_functions if target not in heavy_modules()]
    assert not light, "launch.py imports these light modules inside functions (move them to its top):\n" + "\n".join(light)


def test_import_counts_are_reported() -> None:
    """The number of lazy imports, kept in view: every one of them is a heavy third-party library."""
    first_party_lazy = sum(len(module.inside_functions) for name, module in MODULES.items() if name != "launch")
    assert first_party_lazy == 0
    assert len(MODULES) > 100  # the walk found the tree (a broken walk would pass every test above)


def test_the_web_server_does_not_load_training_libraries() -> None:
    probe = ("import sys, webui.app; print(','.join(sorted(m for m in ('torch', 'transformers', 'peft', 'diffusers', 'trl', "
             "'sentence_transformers') if m in sys.modules)))")
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    assert loaded.stdout.strip() == ""


def test_every_module_opens_with_a_docstring() -> None:
    missing = [
        str(path.relative_to(ROOT))
        for folder in ("storage", "jobs", "bench", "webui")
        for path in (ROOT / folder).rglob("*.py")
        if path.stat().st_size and ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) is None
    ]
    missing += [name for name in ("launch.py",) if ast.get_docstring(ast.parse((ROOT / name).read_text())) is None]
    assert not missing
