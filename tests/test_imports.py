"""The package's import graph: DESIGN.md's allowed arrows, and no cycle of any kind (lazy imports
inside functions included)."""

import ast
import json
import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "hf_contrastive"


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every hf_contrastive module `path` imports, at module level or inside functions."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            candidates = [target] + [f"{target}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        found.update(c for c in candidates if c.split(".")[0] == "hf_contrastive" and _exists(c))
    return found - {name}


def _exists(module: str) -> bool:
    relative = Path(*module.split("."))
    return (REPO_ROOT / relative).with_suffix(".py").exists() or (REPO_ROOT / relative / "__init__.py").exists()


def graph() -> dict[str, set[str]]:
    return {module_name(path): imports_of(path) for path in PACKAGE.rglob("*.py")}


def find_cycle(edges: dict[str, set[str]]) -> list[str]:
    """A cycle of `edges` as a list of modules (first == last), or [] when there is none."""
    done: set[str] = set()

    def visit(module: str, stack: list[str]) -> list[str]:
        for target in sorted(edges.get(module, ())):
            if target in stack:
                return stack[stack.index(target) :] + [target]
            if target not in done:
                cycle = visit(target, stack + [target])
                if cycle:
                    return cycle
        done.add(module)
        return []

    for module in sorted(edges):
        cycle = visit(module, [module]) if module not in done else []
        if cycle:
            return cycle
    return []


def test_no_import_cycle_lazy_imports_included():
    # (a package's __init__ importing its own submodules, and they naming the package, is no arrow back)
    edges = {m: {t for t in targets if not m.startswith(t + ".")} for m, targets in graph().items()}
    assert find_cycle(edges) == []
    assert find_cycle({**edges, "hf_contrastive.optim": {"hf_contrastive.training.loop"}})  # the check finds one


def test_the_allowed_arrows_of_design_md():
    edges = graph()
    forbidden = {
        "hf_contrastive.training": ("hf_contrastive.recipes",),
        "hf_contrastive.modeling": ("hf_contrastive.",),  # imports nothing from the rest of the package
        "hf_contrastive.data": ("hf_contrastive.training", "hf_contrastive.recipes"),
        "hf_contrastive.augment": ("hf_contrastive.training", "hf_contrastive.recipes"),
        "hf_contrastive.evaluation": ("hf_contrastive.training", "hf_contrastive.recipes"),
        "hf_contrastive.hub": ("hf_contrastive.modeling", "hf_contrastive.recipes", "hf_contrastive.training"),
    }
    for module, targets in edges.items():
        for source, banned in forbidden.items():
            if module == source or module.startswith(source + "."):
                bad = [t for t in targets if t.startswith(banned) and not t.startswith(source)]
                assert not bad, f"{module} imports {bad}"


def test_every_module_imports_in_a_fresh_interpreter_and_training_pulls_in_no_recipe():
    modules = sorted(graph())
    script = (
        "import importlib, json, sys\n"
        f"importlib.import_module('hf_contrastive.training')\n"
        "after_training = sorted(m for m in sys.modules if m.startswith('hf_contrastive.recipes'))\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps({'after_training': after_training, 'loaded': sorted(m for m in sys.modules if m.startswith('hf_contrastive'))}))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["after_training"] == []
    assert set(modules) <= set(report["loaded"])
