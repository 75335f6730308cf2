"""``offtrust verify`` and ``offtrust inspect`` on a mutated copy of the example trust directory.

The property of the command line: exit status 0, 1 or 2; no traceback; every
``offtrust: error:`` line followed only by hints; and nothing written (the
tree, file modes included, is the same after the command as before).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from fuzzkit import APP, PASSPHRASES, TOOLS, cases, copy_example, example_files, mutate
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from offtrust.cli import app

# Metadata files and key files: each can be mutated.
TARGETS = tuple(
    (name, data)
    for name, data in sorted(example_files().items())
    if name.endswith((".json", ".key"))
)
COMMANDS = (
    ("verify", APP),
    ("verify", "--all"),
    ("verify", "--json", TOOLS),
    ("inspect", APP),
    ("inspect", "--pretty", APP),
    ("inspect", f"{APP}:v1.0"),
    ("delegation", "list", APP),
    ("key", "list", "--json"),
)


def snapshot(root: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every path under *root* with its mode and, for files, its bytes."""
    out: dict[str, tuple[int, bytes | None]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            info = path.lstat()
            content = path.read_bytes() if path.is_file() and not path.is_symlink() else None
            out[path.relative_to(root).as_posix()] = (info.st_mode, content)
    return out


def check_result(result: Result) -> None:
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code in (0, 1, 2), (result.exit_code, result.stderr)
    lines = result.stderr.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("offtrust: error: internal error"):
            raise AssertionError(result.stderr)
        if line.startswith("offtrust: error:") and i + 1 < len(lines):
            following = lines[i + 1]
            assert following.startswith(("hint: ", "offtrust: error:")), result.stderr
    if result.exit_code == 0:
        assert "offtrust: error:" not in result.stderr


@cases(150)
@given(st.data())
def test_read_commands_on_a_mutated_trust_dir(data: st.DataObject) -> None:
    name, content = TARGETS[data.draw(st.integers(0, len(TARGETS) - 1))]
    mutated = mutate(data.draw, content, is_json=name.endswith(".json"))
    commands = data.draw(st.lists(st.sampled_from(COMMANDS), min_size=1, max_size=2, unique=True))
    with tempfile.TemporaryDirectory() as tmp:
        trust = copy_example(Path(tmp) / "trust")
        (trust / name).write_bytes(mutated)
        before = snapshot(Path(tmp))
        for command in commands:
            result = CliRunner().invoke(app, ["-d", str(trust), *command], env=PASSPHRASES)
            check_result(result)
        assert snapshot(Path(tmp)) == before
