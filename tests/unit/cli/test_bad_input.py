"""Bad input gets one clear line and loses nothing (issue 7 findings 1, 8, 11; build item 4).

Each test reproduces a finding through the command line: the exit status of
the contract, one ``offtrust: error:`` line (plus a hint), no traceback, and
nothing on disk changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from builders import REPOSITORY_PASSPHRASE, ROOT_PASSPHRASE, copy_example, read_tree
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from typer.testing import CliRunner, Result

import offtrust.cli
from offtrust import crypto
from offtrust.bundle import read_bundle
from offtrust.cli import app
from offtrust.errors import WrongPassphraseError

APP = "example.com/app"
DIGEST = "sha256:" + "ab" * 32
PASSPHRASES = {
    "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE": ROOT_PASSPHRASE,
    "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": REPOSITORY_PASSPHRASE,
}
SECRET = "s3cret-never-shown-xyzzy"  # TEST-ONLY


@pytest.fixture
def trust(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "trust")


@pytest.fixture
def staged(trust: Path) -> Path:
    """The example with one staged edit, ready for `stage`."""
    result = run(trust, "target", "add", APP, "v2", "--digest", DIGEST, "--size", "42")
    assert result.exit_code == 0, result.stderr
    return trust


def run(trust: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, ["-d", str(trust), *args], env={**PASSPHRASES, **(env or {})})


def error_line(result: Result) -> str:
    """The one error line; anything else on stderr may only be its hint."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("offtrust: error:")]
    assert len(errors) == 1, result.stderr
    after = lines[lines.index(errors[0]) + 1 :]
    assert all(line.startswith("hint: ") for line in after), result.stderr
    return errors[0]


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# -- finding 1: stage --output ------------------------------------------------------------


def test_stage_onto_a_directory_says_it_is_a_directory(staged: Path, tmp_path: Path) -> None:
    out = tmp_path / "outdir"
    out.mkdir()
    before = read_tree(staged)
    result = run(staged, "stage", "--output", str(out))
    line = error_line(result)
    assert result.exit_code == 2
    assert "is a directory" in line
    assert "cannot read" not in line
    assert listing(out) == []
    assert read_tree(staged) == before


def test_stage_into_a_missing_directory_does_not_create_it(staged: Path, tmp_path: Path) -> None:
    result = run(staged, "stage", "-o", str(tmp_path / "nonexistent" / "dir" / "x"))
    line = error_line(result)
    assert result.exit_code == 2
    assert "does not exist" in line
    assert not (tmp_path / "nonexistent").exists()


def test_stage_to_dash_writes_the_bundle_to_stdout(
    staged: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run(staged, "stage", "-o", "-")
    assert result.exit_code == 0, result.stderr
    assert not (tmp_path / "-").exists()
    data = result.stdout_bytes
    bundle = read_bundle(data)
    assert list(bundle.guns) == [APP]
    assert f"sha256:{hashlib.sha256(data).hexdigest()}  -" in result.stderr
    # The same bytes as a bundle file.
    again = run(staged, "stage", "-o", str(tmp_path / "file.bundle"))
    assert again.exit_code == 0, again.stderr
    assert (tmp_path / "file.bundle").read_bytes() == data


def test_stage_onto_a_fifo_refuses_instead_of_hanging(staged: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    results: list[Result] = []
    worker = threading.Thread(
        target=lambda: results.append(run(staged, "stage", "-o", str(fifo))), daemon=True
    )
    worker.start()
    worker.join(30)
    assert not worker.is_alive(), "stage --output FIFO hung"
    line = error_line(results[0])
    assert results[0].exit_code == 2
    assert "FIFO" in line
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_stage_onto_dev_null_refuses_before_writing(staged: Path) -> None:
    before = os.lstat("/dev/null")
    result = run(staged, "stage", "-o", "/dev/null")
    line = error_line(result)
    assert result.exit_code == 2
    assert "character device" in line
    after = os.lstat("/dev/null")
    assert stat.S_ISCHR(after.st_mode)
    assert after.st_ino == before.st_ino


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")
def test_stage_onto_a_device_node_leaves_the_device(staged: Path, tmp_path: Path) -> None:
    device = tmp_path / "null"
    os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    result = run(staged, "stage", "-o", str(device))
    error_line(result)
    assert result.exit_code == 2
    assert stat.S_ISCHR(os.lstat(device).st_mode)
    assert listing(tmp_path) == ["null", "trust"]


def test_stage_writes_a_0644_regular_file(staged: Path, tmp_path: Path) -> None:
    out = tmp_path / "ceremony.bundle"
    result = run(staged, "stage", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert result.stdout == f"sha256:{hashlib.sha256(out.read_bytes()).hexdigest()}  {out}\n"


def test_key_generate_into_a_missing_directory_stores_no_key(trust: Path, tmp_path: Path) -> None:
    before = read_tree(trust)
    result = run(trust, "key", "generate", "gail", "--dir", str(tmp_path / "missing"))
    line = error_line(result)
    assert result.exit_code == 2
    assert "does not exist" in line
    assert read_tree(trust) == before
    assert not (tmp_path / "missing").exists()


def test_key_generate_onto_a_fifo_stores_no_key(trust: Path, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "gail.pub")
    before = read_tree(trust)
    result = run(trust, "key", "generate", "gail", "--dir", str(tmp_path))
    line = error_line(result)
    assert result.exit_code == 2
    assert "FIFO" in line
    assert read_tree(trust) == before


def test_bundle_verify_of_a_fifo_or_a_device_does_not_hang(trust: Path, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "in.fifo")
    for path in (tmp_path / "in.fifo", Path("/dev/zero")):
        result = run(trust, "bundle", "verify", str(path))
        line = error_line(result)
        assert result.exit_code == 2
        assert "not a regular bundle" in line


# -- finding 8: tracebacks instead of one line ----------------------------------------------


def metadata(trust: Path, role: str, gun: str = APP) -> Path:
    return trust / "tuf" / gun / "metadata" / f"{role}.json"


def replace_in(path: Path, old: bytes, new: bytes) -> None:
    data = path.read_bytes()
    assert old in data
    path.write_bytes(data.replace(old, new, 1))


@pytest.mark.parametrize("command", ["verify", "inspect"])
def test_an_integer_of_5000_digits_in_metadata(trust: Path, command: str) -> None:
    replace_in(metadata(trust, "targets"), b'"version":', b'"version":' + b"9" * 5000 + b',"x":')
    before = read_tree(trust)
    result = run(trust, command, APP)
    line = error_line(result)
    assert result.exit_code == 2
    assert "too many digits" in line
    assert read_tree(trust) == before


@pytest.mark.parametrize("command", ["verify", "inspect"])
def test_a_lone_surrogate_in_metadata(trust: Path, command: str) -> None:
    path = metadata(trust, "targets/releases")
    document = json.loads(path.read_bytes())
    document["signed"]["targets"]["\ud800"] = document["signed"]["targets"]["v1.0"]
    path.write_bytes(json.dumps(document).encode())  # ensure_ascii writes "\ud800"
    result = run(trust, command, APP)
    assert "Traceback" not in result.stdout + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code in (1, 2), result.stderr
    assert "surrogate" in result.stderr


@pytest.mark.parametrize("expires", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
@pytest.mark.parametrize("command", ["verify", "inspect"])
def test_an_expiry_out_of_range_in_utc(trust: Path, expires: str, command: str) -> None:
    path = metadata(trust, "targets/releases")
    document = json.loads(path.read_bytes())
    old = document["signed"]["expires"].encode()
    replace_in(path, b'"expires":"' + old + b'"', b'"expires":"' + expires.encode() + b'"')
    result = run(trust, command, APP)
    # The signature no longer matches: a verification failure, told in one line.
    error_line(result)
    assert result.exit_code == 1
    assert "targets/releases" in result.stderr


def test_resign_with_a_lifetime_past_the_year_9999(trust: Path) -> None:
    before = read_tree(trust)
    for lifetime in ("9000y", "999999999y", "9" * 5000 + "d"):
        result = run(trust, "resign", APP, "targets", "--expires", lifetime)
        line = error_line(result)
        assert result.exit_code == 2
        assert "--expires" in line
    assert read_tree(trust) == before


@pytest.mark.parametrize("tag", ["v\udcff", "\udcc3\udca9t\udce9"])
def test_a_tag_that_is_not_utf8(trust: Path, tag: str) -> None:
    """A non-UTF-8 argv byte reaches Python as a surrogate escape (PEP 383)."""
    before = read_tree(trust)
    result = run(trust, "target", "add", APP, tag, "--digest", DIGEST, "--size", "1")
    line = error_line(result)
    assert result.exit_code == 2
    assert "UTF-8" in line
    assert read_tree(trust) == before


def test_a_path_that_is_not_utf8(trust: Path, tmp_path: Path) -> None:
    key = tmp_path / "qa.pub"
    key.write_bytes(crypto.encode_public_key_pem(crypto.generate_private_key().public_key(), {}))
    before = read_tree(trust)
    result = run(
        trust, "delegation", "add", APP, "targets/qa", "--key", str(key), "--path", "rel\udcff"
    )
    line = error_line(result)
    assert result.exit_code == 2
    assert "--path" in line
    assert "UTF-8" in line
    assert read_tree(trust) == before


def test_non_utf8_arguments_through_a_real_process(trust: Path) -> None:
    """The same with real argv bytes, and real (strict UTF-8) standard streams."""
    env = {**os.environ, **PASSPHRASES, "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": ""}
    argv = [sys.executable, "-c", "from offtrust.cli import main; main()", "-d", str(trust)]
    done = subprocess.run(
        [*argv, "target", "add", APP, b"v\xff", "--digest", DIGEST, "--size", "1"],
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert b"Traceback" not in done.stderr
    assert done.stderr.startswith(b"offtrust: error: the tag must be UTF-8 text")


def test_a_non_utf8_passphrase_is_never_echoed(trust: Path) -> None:
    """The environment holds bytes: b"\\xffSECRET" reaches Python as "\\udcffSECRET"."""
    passphrase = "\udcff" + SECRET
    before = read_tree(trust)
    result = run(
        trust,
        "target",
        "add",
        APP,
        "v2",
        "--digest",
        DIGEST,
        "--size",
        "1",
        env={"DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": passphrase},
    )
    line = error_line(result)
    assert result.exit_code == 1
    assert "wrong passphrase" in line
    output = result.stdout + result.stderr
    assert SECRET not in output
    assert "\\udcff" not in output
    assert "position" not in output
    assert read_tree(trust) == before


def test_a_non_utf8_passphrase_encrypts_with_its_bytes_as_notary_does(
    trust: Path, tmp_path: Path
) -> None:
    result = run(
        trust,
        "key",
        "generate",
        "gail",
        "--dir",
        str(tmp_path),
        env={"DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": "\udcff" + SECRET},
    )
    assert result.exit_code == 0, result.stderr
    keyid = result.stdout.strip()
    data = (trust / "private" / f"{keyid}.key").read_bytes()
    block = crypto.parse_pem(data)[0]
    # Go reads the variable's bytes: b"\xff" + SECRET.
    assert crypto.decrypt_private_key(block, "\udcff" + SECRET).keyid == keyid
    with pytest.raises(WrongPassphraseError):
        crypto.decrypt_private_key(block, "\u00ff" + SECRET)


def test_a_non_utf8_passphrase_through_a_real_process(trust: Path, tmp_path: Path) -> None:
    env = os.environb.copy()
    env[b"DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE"] = b"\xff\xfe" + SECRET.encode()
    env[b"DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE"] = ROOT_PASSPHRASE.encode()
    done = subprocess.run(
        [sys.executable, "-c", "from offtrust.cli import main; main()", "-d", str(trust)]
        + ["target", "add", APP, "v2", "--digest", DIGEST, "--size", "1"],
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(b"offtrust: error: ")
    assert b"Traceback" not in done.stderr
    assert b"position" not in done.stderr
    assert SECRET.encode() not in done.stdout + done.stderr


# -- finding 11: key load of a root key under a signer's name --------------------------------


def test_key_load_of_a_root_key_as_dave_is_refused(trust: Path, tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = tmp_path / "root.key"
    path.write_bytes(crypto.encode_pem(crypto.PemBlock("PRIVATE KEY", {"role": "root"}, der)))
    path.chmod(0o600)
    before = read_tree(trust)
    result = run(trust, "key", "load", str(path), "--name", "dave")
    line = error_line(result)
    assert result.exit_code == 2
    assert "'root'" in line
    assert "'dave'" in line
    hint = result.stderr.splitlines()[-1]
    assert hint.startswith("hint: `offtrust -d ")
    assert f"key import {path} --role root`" in hint
    assert read_tree(trust) == before


# -- build item 4: the last-resort handler ---------------------------------------------------


def explode(*args: object, **kwargs: object) -> None:
    raise RuntimeError(f"the passphrase is {SECRET}")


def test_an_unexpected_exception_is_one_line_without_its_message(
    trust: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("offtrust.ops.verify.load_and_verify", explode)
    result = run(trust, "verify", APP)
    assert result.exit_code == 1
    assert result.stderr == (
        "offtrust: error: internal error: RuntimeError\n"
        "hint: rerun with --debug (or OFFTRUST_DEBUG=1) to see the traceback\n"
    )
    assert SECRET not in result.stdout + result.stderr


@pytest.mark.parametrize("how", ["--debug", "OFFTRUST_DEBUG=1"])
def test_debug_shows_the_traceback(trust: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    monkeypatch.setattr("offtrust.ops.verify.load_and_verify", explode)
    if how == "--debug":
        result = CliRunner().invoke(app, ["--debug", "-d", str(trust), "verify", APP])
    else:
        result = CliRunner().invoke(
            app, ["-d", str(trust), "verify", APP], env={"OFFTRUST_DEBUG": "1"}
        )
    assert isinstance(result.exception, RuntimeError)
    # The next command without --debug is back to one line.
    again = run(trust, "verify", APP)
    assert again.stderr.startswith("offtrust: error: internal error: RuntimeError\n")


def run_main(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    error: BaseException,
    *argv: str,
) -> tuple[int, str]:
    def fail() -> None:
        raise error

    monkeypatch.setattr(offtrust.cli, "app", fail)
    monkeypatch.setattr(sys, "argv", ["offtrust", *argv])
    with pytest.raises(SystemExit) as exited:
        offtrust.cli.main()
    return int(exited.value.code or 0), capsys.readouterr().err


def test_main_is_the_last_resort(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run_main(monkeypatch, capsys, ValueError(SECRET))
    assert code == 1
    assert err.splitlines()[0] == "offtrust: error: internal error: ValueError"
    assert SECRET not in err
    code, err = run_main(monkeypatch, capsys, KeyboardInterrupt())
    assert code == 130
    monkeypatch.setenv("OFFTRUST_DEBUG", "1")
    monkeypatch.setattr(offtrust.cli, "app", explode)
    with pytest.raises(RuntimeError):
        offtrust.cli.main()


def test_interrupt_is_130(trust: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupt(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("offtrust.ops.verify.load_and_verify", interrupt)
    result = run(trust, "verify", APP)
    assert result.exit_code == 130
