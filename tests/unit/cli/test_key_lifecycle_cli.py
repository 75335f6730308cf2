"""The key import/export/passwd/remove commands: exit statuses, one-line errors, done lines."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from builders import EXAMPLE, REPOSITORY_PASSPHRASE, ROOT_PASSPHRASE, copy_example, read_tree
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from typer.testing import CliRunner, Result

from offtrust import crypto
from offtrust.cli import app

APP = "example.com/app"
ROOT_ID = EXAMPLE["guns"][APP]["root_canonical_id"]
ALICE = EXAMPLE["guns"][APP]["signers"]["alice"][0]["key_id"]
BOB = EXAMPLE["guns"][APP]["signers"]["bob"][0]["key_id"]


@pytest.fixture
def trust(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE", ROOT_PASSPHRASE)
    monkeypatch.setenv("DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE", REPOSITORY_PASSPHRASE)
    monkeypatch.delenv("OFFTRUST_NEW_PASSPHRASE", raising=False)
    copy: Path = copy_example(tmp_path / "trust")
    return copy


def run(trust: Path, *args: str) -> Result:
    result = CliRunner().invoke(app, ["-d", str(trust), *args])
    assert "Traceback" not in result.stdout + result.stderr
    return result


def errors(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("offtrust: error:")]


def key_pem(tmp_path: Path, headers: dict[str, str]) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    block = crypto.parse_pem(data)[0]
    path = tmp_path / "in.pem"
    path.write_bytes(crypto.encode_pem(crypto.PemBlock(block.type, headers, block.der)))
    os.chmod(path, 0o600)
    return path


@pytest.mark.parametrize("command", ["import", "export", "passwd", "remove"])
def test_help_has_a_summary_and_an_example(trust: Path, command: str) -> None:
    result = run(trust, "key", command, "--help")
    assert result.exit_code == 0
    assert "Example: offtrust key " + command in " ".join(result.stdout.split())


def test_import_prints_the_key_id_and_a_done_line(trust: Path, tmp_path: Path) -> None:
    path = key_pem(tmp_path, {})
    result = run(trust, "key", "import", str(path), "--role", "targets", "--gun", "example.com/x")
    assert result.exit_code == 0, result.stderr
    keyid = result.stdout.strip()
    assert (trust / "private" / f"{keyid}.key").exists()
    assert result.stderr.splitlines()[-1] == "done: 1 imported, 0 skipped, 0 failed"


def test_import_of_a_contradicting_header_is_one_line_and_exit_2(
    trust: Path, tmp_path: Path
) -> None:
    path = key_pem(tmp_path, {"role": "targets"})
    before = read_tree(trust)
    result = run(trust, "key", "import", str(path), "--role", "root")
    assert result.exit_code == 2
    assert errors(result) == [
        f"offtrust: error: {path}: the key's PEM header says role 'targets', not 'root'"
    ]
    assert read_tree(trust) == before


def test_export_writes_a_0600_file_and_refuses_to_replace_one(trust: Path, tmp_path: Path) -> None:
    out = tmp_path / "backup.pem"
    result = run(trust, "key", "export", ALICE, BOB, "--output", str(out))
    assert result.exit_code == 0, result.stderr
    assert out.stat().st_mode & 0o777 == 0o600
    assert [b.headers["path"] for b in crypto.parse_pem(out.read_bytes())] == [ALICE, BOB]
    assert result.stderr.splitlines()[-1] == "done: 2 exported, 0 skipped, 0 failed"
    again = run(trust, "key", "export", ALICE, "-o", str(out))
    assert again.exit_code == 2
    assert errors(again) == [f"offtrust: error: {out} already exists"]


def test_export_to_standard_output(trust: Path) -> None:
    result = run(trust, "key", "export", ROOT_ID[:8], "-o", "-")
    assert result.exit_code == 0, result.stderr
    assert crypto.parse_pem(result.stdout.encode())[0].headers == {"path": ROOT_ID, "role": "root"}


def test_export_needs_an_output_and_an_existing_key(trust: Path, tmp_path: Path) -> None:
    assert run(trust, "key", "export", ALICE).exit_code == 2
    missing = run(trust, "key", "export", "ab" * 32, "-o", str(tmp_path / "x.pem"))
    assert missing.exit_code == 2
    assert len(errors(missing)) == 1
    assert not (tmp_path / "x.pem").exists()


def test_export_public_certificate(trust: Path, tmp_path: Path) -> None:
    out = tmp_path / "root.crt"
    no_gun = run(trust, "key", "export", ROOT_ID, "--public", "-o", str(out))
    assert no_gun.exit_code == 2
    assert "--gun" in errors(no_gun)[0]
    result = run(
        trust, "key", "export", ROOT_ID, "--public", "--gun", "example.com/c", "-o", str(out)
    )
    assert result.exit_code == 0, result.stderr
    cert = crypto.load_public_key_pem(out.read_bytes())
    assert crypto.certificate_info(cert).common_name == "example.com/c"
    assert run(trust, "key", "export", ALICE, "--gun", "x.com/y", "-o", "-").exit_code == 2


def test_passwd_without_a_new_passphrase_names_the_variable(trust: Path) -> None:
    before = read_tree(trust)
    result = run(trust, "key", "passwd", ALICE)
    assert result.exit_code == 1
    assert "OFFTRUST_NEW_PASSPHRASE" in errors(result)[0]
    assert read_tree(trust) == before


def test_passwd_with_the_variable(trust: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OFFTRUST_NEW_PASSPHRASE", "a-brand-new-passphrase")
    result = run(trust, "key", "passwd", ALICE)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"Successfully updated passphrase for key ID: {ALICE}",
        "done: 1 changed, 0 skipped, 0 failed",
    ]
    wrong = run(trust, "key", "export", ALICE, "-o", "-")
    assert wrong.exit_code == 1
    assert "wrong passphrase" in errors(wrong)[0]


def test_remove_needs_confirmation_without_a_terminal(trust: Path) -> None:
    before = read_tree(trust)
    result = run(trust, "key", "remove", ALICE)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        f"offtrust: warning: key {ALICE[:12]} is the last local key able to sign "
        f"targets/alice of {APP}"
    )
    assert "no terminal to confirm on" in errors(result)[0]
    assert read_tree(trust) == before


@pytest.mark.parametrize("flag", ["--yes", "-y", "--force", "-f"])
def test_remove_with_yes_or_force(trust: Path, flag: str) -> None:
    result = run(trust, "key", "remove", ALICE, flag)
    assert result.exit_code == 0, result.stderr
    assert not (trust / "private" / f"{ALICE}.key").exists()
    assert result.stderr.splitlines()[-1] == "done: 1 removed, 0 skipped, 0 failed"


def test_remove_of_an_unknown_id_removes_nothing(trust: Path) -> None:
    before = read_tree(trust)
    result = run(trust, "key", "remove", ALICE, "cd" * 32, "--yes")
    assert result.exit_code == 2
    assert len(errors(result)) == 1
    assert read_tree(trust) == before
