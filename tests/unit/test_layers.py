"""The layers are a contract a tool checks: import-linter, on every test run.

The contracts live in ``pyproject.toml`` (``[tool.importlinter]``): cli > ops >
{online, bundle, store} > {crypto, schema, passphrase} > model > errors, a
pure model with no crypto back-end, and no terminal library below the CLI.
Operations never print or prompt: an AST walk over ``offtrust/ops`` (and every
layer below the CLI) checks that no code writes to the terminal.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BELOW_CLI = ["ops", "store", "online", "model", "crypto"]
TERMINAL_CALLS = {"print", "input"}
TERMINAL_ATTRIBUTES = {("sys", "stdout"), ("sys", "stderr"), ("sys", "stdin")}


def test_import_layers_hold() -> None:
    lint_imports = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(lint_imports).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("import-linter is not installed (it is in the test dependencies)")
        pytest.skip("import-linter is not installed")
    proc = subprocess.run(
        [lint_imports, "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def _modules() -> list[Path]:
    files = [p for d in BELOW_CLI for p in sorted((ROOT / "offtrust" / d).rglob("*.py"))]
    return files + [ROOT / "offtrust" / "bundle.py", ROOT / "offtrust" / "schema.py"]


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_nothing_below_the_cli_talks_to_the_terminal(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in TERMINAL_CALLS
        ):
            found.append(f"{node.func.id}() at line {node.lineno}")
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and (node.value.id, node.attr) in TERMINAL_ATTRIBUTES
        ):
            found.append(f"{node.value.id}.{node.attr} at line {node.lineno}")
    assert not found, f"{path.name} talks to the terminal: {found}"
