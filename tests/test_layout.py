"""The shape of the package: small modules and functions, and a core that loads no shell."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).parent.parent / "src" / "painterly"
SHELLS = ("cli", "video", "batches", "explain", "server")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_modules_and_functions_are_short(path: Path) -> None:
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_MODULE_LINES, f"{path.name}: over {MAX_MODULE_LINES} lines"
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)" for node in ast.walk(ast.parse(text))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"{path.name}: functions over {MAX_FUNCTION_LINES} lines: {', '.join(long)}"


@pytest.mark.slow
def test_import_painterly_loads_only_the_core() -> None:
    code = ("import sys, painterly; print(' '.join(m for m in sys.modules if m.startswith('painterly.') "
            f"and m.split('.')[1] in {SHELLS!r}))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == []


def test_the_core_imports_no_shell() -> None:
    for path in SRC.glob("*.py"):
        if path.name in ("__init__.py", "__main__.py"):  # the public API (painterly.batch when first used), the entry
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                assert node.module.split(".")[0] not in SHELLS, f"{path.name} imports the shell {node.module}"


def _imports() -> dict[str, set[str]]:
    """Each module (``painterly.video.render``) -> the package's modules it imports, at the top or inside a function."""
    def name(p: Path) -> str:
        parts = list(p.relative_to(SRC.parent).with_suffix("").parts)
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    modules = {name(p): p for p in _modules()}
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                deps |= {f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target for a in node.names}
        graph[module] = (deps & modules.keys()) - {module}
    return graph


def test_no_module_imports_another_in_a_circle() -> None:
    """Imports point one way: no module reaches itself through the package's imports, a function-level
    import included (video/render -> parallel -> chunks -> render was hidden by one)."""
    graph = _imports()

    def reaches(start: str) -> list[str] | None:
        seen: set[str] = set()
        todo = [(start, [start])]
        while todo:
            module, path = todo.pop()
            for dep in graph[module]:
                if dep == start:
                    return [*path, start]
                if dep not in seen:
                    seen.add(dep)
                    todo.append((dep, [*path, dep]))
        return None

    circles = [" -> ".join(c) for m in sorted(graph) if (c := reaches(m))]
    assert not circles, circles[0]

