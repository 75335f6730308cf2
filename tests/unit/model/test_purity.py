"""The model layer stays pure: no filesystem, environment or clock access."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import offtrust.model

MODEL_DIR = Path(offtrust.model.__file__).parent
FORBIDDEN_MODULES = {
    "os", "pathlib", "shutil", "subprocess", "socket", "io", "tempfile", "sys", "time", "urllib3",
}
FORBIDDEN_CALLS = {"open", "input", "print"}
CLOCK_CALLS = {"now", "utcnow", "today", "fromtimestamp"}


@pytest.mark.parametrize("path", sorted(MODEL_DIR.glob("*.py")), ids=lambda p: p.name)
def test_model_module_is_pure(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            problems += [a.name for a in node.names if a.name.split(".")[0] in FORBIDDEN_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in FORBIDDEN_MODULES:
                problems.append(node.module)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in FORBIDDEN_CALLS:
                problems.append(f"{node.func.id}() at line {node.lineno}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in CLOCK_CALLS
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in ("datetime", "date")
        ):
            problems.append(f"a clock read at line {node.lineno}")
    assert not problems, f"{path.name} reaches outside the model: {problems}"
