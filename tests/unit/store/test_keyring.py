"""The keyring: one decryption (one prompt) per key for a whole command, and keys checked."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from builders import EXAMPLE, EXAMPLE_NOW, ROOT_PASSPHRASE, copy_example

from offtrust.errors import KeyMismatchError
from offtrust.ops.context import Context
from offtrust.ops.edit import resign
from offtrust.store.keyring import Keyring
from offtrust.store.layout import TrustDir

APP, TOOLS = "example.com/app", "example.com/tools"
ROOT_ID = EXAMPLE["guns"][APP]["root_canonical_id"]


class CountingPassphrases:
    """Answers with the example's passphrases and records every ask."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str, int]] = []

    def __call__(self, role: str, keyid: str, attempt: int) -> str:
        self.asked.append((role, keyid, attempt))
        passphrases = EXAMPLE["passphrases_TEST_ONLY"]
        if role == "root":
            return str(passphrases["DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE"])
        return str(passphrases["DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE"])

    def new(self, role: str, keyid: str) -> str:
        raise AssertionError("no new key expected")


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    return Context(TrustDir(copy_example(tmp_path / "trust")), clock=lambda: EXAMPLE_NOW)


def test_one_command_decrypts_each_key_once_across_guns(ctx: Context) -> None:
    # Both example GUNs share the Docker root key: re-signing both roots in one
    # command must ask for its passphrase once, not once per GUN.
    source = CountingPassphrases()
    resign(ctx, APP, ["root"], source)
    resign(ctx, TOOLS, ["root"], source)
    assert [a for a in source.asked if a[0] == "root"] == [("root", ROOT_ID, 0)]
    assert ctx.keyring(source) is ctx.keyring(source)


def test_another_passphrase_source_gets_its_own_keyring(ctx: Context) -> None:
    first, second = CountingPassphrases(), CountingPassphrases()
    assert ctx.keyring(first) is not ctx.keyring(second)
    ctx.keyring(first).private_key(ROOT_ID)
    ctx.keyring(second).private_key(ROOT_ID)
    assert len(first.asked) == len(second.asked) == 1


def test_a_key_file_holding_another_key_is_refused(ctx: Context) -> None:
    private = ctx.trust.private
    alice = EXAMPLE["guns"][APP]["signers"]["alice"][0]["canonical_id"]
    # The root key's file, stored under alice's ID.
    shutil.copy(private / f"{ROOT_ID}.key", private / f"{alice}.key")
    keyring = Keyring(ctx.keys, lambda role, keyid, attempt: ROOT_PASSPHRASE)  # type: ignore[arg-type]
    with pytest.raises(KeyMismatchError) as caught:
        keyring.private_key(alice)
    assert alice[:12] in caught.value.message
    assert ROOT_ID[:12] in caught.value.message
    assert caught.value.exit_code == 1


def _count_derivations(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Record each passphrase a PKCS#8 key is decrypted with (one PBKDF2 each)."""
    from offtrust.crypto import private

    tried: list[bytes] = []
    real = private._decrypt_pkcs8

    def spy(params: object, passphrase: bytes) -> object:
        tried.append(passphrase)
        return real(params, passphrase)  # type: ignore[arg-type]

    monkeypatch.setattr(private, "_decrypt_pkcs8", spy)
    return tried


def test_a_passphrase_from_a_variable_opens_a_key_in_one_derivation(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    from offtrust.passphrase import DOCKER_ROOT, Passphrases

    tried = _count_derivations(monkeypatch)
    source = Passphrases(environ={DOCKER_ROOT: ROOT_PASSPHRASE}, interactive=False)
    opened = Keyring(ctx.keys, source).open(ROOT_ID)
    assert opened.key.keyid == ROOT_ID
    assert opened.passphrase == ROOT_PASSPHRASE
    # Not the empty passphrase first: one key derivation, not two.
    assert tried == [ROOT_PASSPHRASE.encode()]


def test_a_wrong_variable_still_falls_back_to_the_prompt(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    from offtrust.passphrase import DOCKER_ROOT, Passphrases

    tried = _count_derivations(monkeypatch)
    prompts: list[str] = []

    def prompt(text: str) -> str:
        prompts.append(text)
        return str(ROOT_PASSPHRASE)

    source = Passphrases(
        environ={DOCKER_ROOT: "not-the-passphrase"}, prompt=prompt, interactive=True
    )
    source.say = lambda line: None
    opened = Keyring(ctx.keys, source).open(ROOT_ID)
    assert opened.passphrase == ROOT_PASSPHRASE
    assert len(prompts) == 1
    # The variable, then notary's way: the empty passphrase, each passphrase.
    assert tried[0] == b"not-the-passphrase"
    assert b"" in tried
    assert tried[-1] == ROOT_PASSPHRASE.encode()
