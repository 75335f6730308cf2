"""Where passphrases come from: the contract's variables, then a hidden prompt."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from offtrust.errors import PassphraseRequiredError, WrongPassphraseError
from offtrust.passphrase import (
    MISMATCH,
    NEW_ATTEMPTS,
    RETRY,
    TOO_SHORT,
    Passphrases,
    variables_for,
)


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("root", ["DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE", "NOTARY_ROOT_PASSPHRASE"]),
        ("targets", ["DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE", "NOTARY_TARGETS_PASSPHRASE"]),
        ("snapshot", ["DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE", "NOTARY_SNAPSHOT_PASSPHRASE"]),
        ("alice", ["DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE", "NOTARY_DELEGATION_PASSPHRASE"]),
        (
            "targets/releases",
            ["DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE", "NOTARY_DELEGATION_PASSPHRASE"],
        ),
    ],
)
def test_variables_in_contract_order(role: str, expected: list[str]) -> None:
    assert variables_for(role) == expected


def test_docker_variable_first_then_notary_then_gives_up() -> None:
    env = {"DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE": "docker", "NOTARY_ROOT_PASSPHRASE": "notary"}
    source = Passphrases(env, interactive=False)
    assert source("root", "ab" * 32, 0) == "docker"
    assert source("root", "ab" * 32, 1) == "notary"
    with pytest.raises(WrongPassphraseError) as info:
        source("root", "ab" * 32, 2)
    assert "docker" not in str(info.value)
    assert "notary" not in str(info.value).replace("NOTARY", "")


def test_no_variable_and_no_terminal_names_the_variable() -> None:
    source = Passphrases({}, interactive=False)
    with pytest.raises(PassphraseRequiredError, match="DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE"):
        source("targets", "ab" * 32, 0)
    with pytest.raises(PassphraseRequiredError, match="DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE"):
        source.new("root", "ab" * 32)


def test_prompt_after_the_variables_on_a_terminal() -> None:
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        return "typed-passphrase"

    source = Passphrases({"NOTARY_DELEGATION_PASSPHRASE": "from-env"}, prompt, interactive=True)
    assert source("alice", "cd" * 32, 0) == "from-env"
    assert source("alice", "cd" * 32, 1) == "typed-passphrase"
    assert asked == ["Enter passphrase for alice key with ID cdcdcdc: "]


def test_new_key_asks_twice_and_checks() -> None:
    answers = iter(["first-passphrase", "first-passphrase"])
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        return next(answers)

    source = Passphrases({}, prompt, interactive=True)
    assert source.new("targets", "ef" * 32) == "first-passphrase"
    assert asked == [
        "Enter passphrase for new repository key with ID efefefe: ",
        "Repeat passphrase for new repository key with ID efefefe: ",
    ]


def scripted(answers: list[str]) -> tuple[Passphrases, list[str]]:
    """A terminal source answering *answers* in turn; the transcript it showed."""
    replies = iter(answers)
    transcript: list[str] = []

    def prompt(text: str) -> str:
        transcript.append(text)
        return next(replies)

    source = Passphrases({}, prompt, interactive=True)
    source.say = transcript.append
    return source, transcript


def test_new_key_short_one_refused_before_the_repeat_then_mismatch_retried() -> None:
    source, transcript = scripted(
        ["short", "one-passphrase", "other-passphrase", "good-pass", "good-pass"]
    )
    assert source.new("jeff", "9d" * 32) == "good-pass"
    assert transcript == [
        "Enter passphrase for new jeff key with ID 9d9d9d9: ",
        TOO_SHORT,
        "Enter passphrase for new jeff key with ID 9d9d9d9: ",
        "Repeat passphrase for new jeff key with ID 9d9d9d9: ",
        MISMATCH,
        "Enter passphrase for new jeff key with ID 9d9d9d9: ",
        "Repeat passphrase for new jeff key with ID 9d9d9d9: ",
    ]


def test_new_key_gives_up_after_a_few_tries() -> None:
    source, transcript = scripted(["short"] * NEW_ATTEMPTS)
    with pytest.raises(PassphraseRequiredError, match="8 characters"):
        source.new("targets", "ef" * 32)
    assert transcript.count(TOO_SHORT) == NEW_ATTEMPTS
    assert not any(line.startswith("Repeat") for line in transcript)


def test_wrong_typed_passphrase_is_retried_as_notary_says_it() -> None:
    source, transcript = scripted(["wrong-1", "wrong-2"])
    assert source("targets", "ab" * 32, 0) == "wrong-1"
    assert source("targets", "ab" * 32, 1) == "wrong-2"
    assert transcript == [
        "Enter passphrase for repository key with ID abababa: ",
        RETRY,
        "Enter passphrase for repository key with ID abababa: ",
    ]


def test_no_retry_message_after_a_wrong_variable() -> None:
    replies = iter(["typed"])
    transcript: list[str] = []
    source = Passphrases(
        {"DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE": "wrong"},
        lambda text: transcript.append(text) or next(replies),  # type: ignore[func-returns-value]
        interactive=True,
    )
    source.say = transcript.append
    assert source("root", "ab" * 32, 0) == "wrong"
    assert source("root", "ab" * 32, 1) == "typed"
    assert transcript == ["Enter passphrase for root key with ID abababa: "]


def _talk(fd: int, until: bytes, timeout: float = 30.0) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while until not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"timed out waiting for {until!r}; got {seen!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    return seen


def test_real_terminal_prompt_is_hidden_and_asked_twice(tmp_path: Path) -> None:
    """On a pseudo-terminal, key generate asks twice and never echoes the passphrase."""
    secret = "pty-secret-passphrase"
    env = {k: v for k, v in os.environ.items() if "PASSPHRASE" not in k}
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "offtrust",
            "-d",
            str(tmp_path / "trust"),
            "key",
            "generate",
            "pat",
            "--dir",
            str(tmp_path),
        ],
        stdin=child,
        stdout=child,
        stderr=child,
        env=env,
        start_new_session=True,
    )
    os.close(child)
    try:
        out = _talk(main, b"Enter passphrase")
        os.write(main, secret.encode() + b"\n")
        out += _talk(main, b"Repeat passphrase")
        os.write(main, secret.encode() + b"\n")
        assert proc.wait(timeout=60) == 0
        while True:
            ready, _, _ = select.select([main], [], [], 0.2)
            if not ready:
                break
            try:
                chunk = os.read(main, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(main)
        if proc.poll() is None:
            proc.kill()
    assert secret.encode() not in out
    from offtrust.ops.context import Context

    keyid = next((tmp_path / "trust" / "private").glob("*.key")).stem
    key = Context.at(tmp_path / "trust").keys.load(
        keyid,
        Passphrases({"DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": secret}, interactive=False),
    )
    assert key.keyid == keyid
