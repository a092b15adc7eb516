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
