"""``diff`` is coloured on a terminal, plain when piped."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import REPOSITORY_PASSPHRASE, ROOT_PASSPHRASE, copy_example
from typer.testing import CliRunner

from offtrust.cli import app

APP = "example.com/app"
ENV = {
    "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE": ROOT_PASSPHRASE,
    "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": REPOSITORY_PASSPHRASE,
}


@pytest.fixture
def staged(tmp_path: Path) -> Path:
    trust = copy_example(tmp_path / "trust")
    added = CliRunner().invoke(
        app,
        ["-d", str(trust), "target", "add", f"{APP}:hued", "--digest", "sha256:" + "ab" * 32,
         "--size", "7"],
        env=ENV,
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    return trust


def test_diff_piped_is_plain(staged: Path) -> None:
    result = CliRunner().invoke(app, ["-d", str(staged), "diff", APP])
    assert result.exit_code == 0, result.stderr
    assert "\033[" not in result.stdout
    assert any(line.startswith("+") and "hued" in line for line in result.stdout.splitlines()), (
        result.stdout
    )
    assert result.stdout.endswith("\n")


def test_diff_on_a_terminal_is_coloured(
    staged: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdout.isatty", lambda: True, raising=False)
    with pytest.raises(SystemExit) as exited:
        app(["-d", str(staged), "diff", APP])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    added = [line for line in lines if "hued" in line and line.startswith("\033[32m+")]
    assert added, out
    assert all(line.endswith("\033[0m") for line in lines if line.startswith("\033[")), out
    assert any(line.startswith("\033[36m@@") for line in lines), out
    assert any(line.startswith("\033[1m---") for line in lines), out
