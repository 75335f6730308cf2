"""The progress bar is off the screen while a real prompt is shown.

tests/unit/cli/test_terminal.py checks ``_common.paused()`` on its own; this
runs a real bulk command on a (pretended) terminal and looks at the bar at
the moment the passphrase prompt of the contract's source is shown.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

import pytest
from builders import REPOSITORY_PASSPHRASE, copy_example

from offtrust.cli import _common, app


def test_a_bulk_command_s_passphrase_prompt_pauses_its_progress_bar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trust = copy_example(tmp_path / "trust")
    for name in list(__import__("os").environ):
        if name.startswith(("DOCKER_CONTENT_TRUST_", "NOTARY_")):
            monkeypatch.delenv(name)
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    seen: list[tuple[str, list[str], list[bool]]] = []

    def fake_getpass(prompt: str = "", stream: Any = None) -> str:
        bars = list(_common._ACTIVE_BARS)
        seen.append(
            (
                prompt,
                [task.description for bar in bars for task in bar.tasks],
                [bar.live.is_started for bar in bars],
            )
        )
        return str(REPOSITORY_PASSPHRASE)

    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    with pytest.raises(SystemExit) as exited:
        app(["-d", str(trust), "resign", "--all", "targets"])
    assert exited.value.code == 0
    assert seen, "the repository keys are encrypted: something must be asked"
    for prompt, descriptions, started in seen:
        assert "repository key" in prompt
        # The bar of this bulk command exists (it says what it does) ...
        assert descriptions, prompt
        assert all("resign" in d for d in descriptions), descriptions
        # ... and is off the screen while the prompt is shown.
        assert started, prompt
        assert not any(started), (prompt, started)
    assert _common._ACTIVE_BARS == []
