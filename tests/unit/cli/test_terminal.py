"""Bulk work in a terminal and shell completion: progress, one line per GUN, the last line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from builders import REPOSITORY_PASSPHRASE, ROOT_PASSPHRASE, copy_example
from typer.testing import CliRunner, Result

from offtrust.cli import _common, app
from offtrust.passphrase import RETRY, Passphrases

APP, TOOLS = "example.com/app", "example.com/tools"
ENV = {
    "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE": ROOT_PASSPHRASE,
    "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": REPOSITORY_PASSPHRASE,
}


@pytest.fixture
def trust(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "trust")


def run(trust: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, ["-d", str(trust), *args], env=ENV if env is None else env)


def test_done_line_after_every_multi_gun_command(trust: Path) -> None:
    result = run(trust, "signer", "remove", "alice", "--all")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines()[-1] == "done: 1 changed, 1 skipped, 0 failed"
    verified = run(trust, "verify", "--all")
    assert verified.stderr.splitlines()[-1] == "done: 2 verified, 0 skipped, 0 failed"


def test_a_failed_gun_is_one_stderr_line_naming_it_once(trust: Path) -> None:
    result = run(trust, "signer", "remove", "alice", APP, TOOLS)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    failed = [line for line in lines if TOOLS in line and "no signer alice" in line]
    assert failed == [f"offtrust: error: no signer alice in {TOOLS}"], lines
    assert "done: 1 changed, 0 skipped, 1 failed" in lines
    assert TOOLS not in result.stdout


def test_one_prompt_per_key_across_guns(trust: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """signer add over two GUNs asks once per key it needs, never once per GUN and key."""
    generated = run(trust, "key", "generate", "dave", "--dir", str(trust.parent))
    assert generated.exit_code == 0, generated.stderr
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        return REPOSITORY_PASSPHRASE

    def source() -> Any:
        scripted = Passphrases({}, prompt, interactive=True)
        scripted.say = asked.append
        return scripted

    monkeypatch.setattr(_common, "passphrases", source)
    monkeypatch.setattr("offtrust.cli.edit.passphrases", source)
    pub = str(trust.parent / "dave.pub")
    result = run(trust, "signer", "add", "dave", APP, TOOLS, "--key", pub, env={})
    assert result.exit_code == 0, result.stderr
    assert asked, "the targets keys are encrypted: something must be asked"
    assert RETRY not in asked
    assert len(asked) == len(set(asked)), asked


def test_progress_bar_says_what_it_does_and_pauses_for_a_prompt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    items = iter(_common.progress(["a", "b", "c"], "signer remove jeff"))
    assert next(items) == "a"
    (bar,) = _common._ACTIVE_BARS
    assert bar.tasks[0].description == "signer remove jeff"
    assert bar.live.is_started
    with _common.paused():
        assert not bar.live.is_started
    assert bar.live.is_started
    assert list(items) == ["b", "c"]
    assert _common._ACTIVE_BARS == []


def test_piped_output_has_no_progress_bar() -> None:
    assert list(_common.progress(["a", "b"], "verify")) == ["a", "b"]
    assert _common._ACTIVE_BARS == []


def test_gun_completion_lists_the_guns_of_the_trust_dir(trust: Path) -> None:
    root = typer.main.get_command(app)
    ctx = typer.Context(root, info_name="offtrust")
    ctx.params = {"trust_dir": trust}
    sub = typer.Context(root.get_command(ctx, "verify"), parent=ctx, info_name="verify")  # type: ignore[attr-defined,arg-type]
    assert _common.complete_gun(sub, "") == [APP, TOOLS]
    assert _common.complete_gun(sub, "example.com/t") == [TOOLS]


def test_gun_completion_of_a_missing_trust_dir_is_empty(tmp_path: Path) -> None:
    ctx = typer.Context(typer.main.get_command(app))
    ctx.params = {"trust_dir": tmp_path / "nowhere"}
    assert _common.complete_gun(ctx, "") == []


def test_key_list_json_has_null_for_no_gun(trust: Path) -> None:
    result = run(trust, "key", "list", "--json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)["keys"]
    assert any(row["gun"] is None for row in rows)
    assert all(row["gun"] is None or row["gun"].startswith("example.com/") for row in rows)


def test_verify_json_uses_guns_and_hint(trust: Path) -> None:
    doc = json.loads(run(trust, "verify", "--all", "--json").stdout)
    assert set(doc) == {"ok", "guns"}
    for gun in doc["guns"]:
        for problem in gun["problems"]:
            assert "fix" not in problem
            assert "hint" in problem
