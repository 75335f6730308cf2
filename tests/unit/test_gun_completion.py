"""GUN completion through the shell's real protocol.

tests/unit/cli/test_terminal.py calls ``complete_gun`` directly; this asks the
installed entry point (``offtrust._entry:main``, the lazy command tree behind
it) the way bash's completion script does (``_OFFTRUST_COMPLETE=complete_bash``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from builders import copy_example

APP, TOOLS = "example.com/app", "example.com/tools"
ENTRY = "import sys; sys.argv[0] = 'offtrust'; from offtrust._entry import main; main()"


def complete(words: str, env: dict[str, str] | None = None) -> list[str]:
    parts = words.split(" ")
    proc = subprocess.run(
        [sys.executable, "-c", ENTRY],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("OFFTRUST_")},
            "_OFFTRUST_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(parts) - 1),
            **(env or {}),
        },
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stdout.split()


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("verify ", [APP, TOOLS]),
        ("verify example.com/t", [TOOLS]),
        ("inspect ", [APP, TOOLS]),
        ("signer remove alice ", [APP, TOOLS]),
        ("target add ", [APP, TOOLS]),
        ("fetch ", [APP, TOOLS]),
    ],
)
def test_bash_completes_the_guns_of_the_trust_dir(
    tmp_path: Path, command: str, expected: list[str]
) -> None:
    trust = copy_example(tmp_path / "trust")
    assert complete(f"offtrust -d {trust} {command}") == expected


def test_the_trust_dir_variable_is_used_for_completion(tmp_path: Path) -> None:
    trust = copy_example(tmp_path / "trust")
    assert complete("offtrust verify ", {"OFFTRUST_TRUST_DIR": str(trust)}) == [APP, TOOLS]
