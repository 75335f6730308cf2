"""offtrust ``verify`` on trust data made by the real Docker / notary tools.

Fresh repos verify clean; a one-byte change to any metadata file is caught and
attributed to the right role; unreadable files are usage errors (exit 2)
naming the file; and a repo whose only ``targets/releases`` signer was
removed with the real tools fails verification but stays inspectable.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from offtrust_helpers import run_offtrust
from realtools import TrustRepo, canonical_key_id, copy_trust_dir, refresh_cache

# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #

PROBLEM = re.compile(r"^  (error|warning): (\S+): (.*)$")


def offtrust(trust_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``offtrust -d TRUST_DIR ARGS...`` with no passphrases; the caller checks the exit status."""
    return run_offtrust(trust_dir, *args, passphrases=None, check=False)


def error_roles(stdout: str) -> set[str]:
    """Roles named by the ``error:`` lines of a text ``verify`` report."""
    return {m[2] for line in stdout.splitlines() if (m := PROBLEM.match(line)) and m[1] == "error"}


def assert_one_error_line(stderr: str) -> str:
    """stderr holds exactly one ``offtrust: error:`` line (plus an optional hint, and the
    ``done:`` line of a run over several GUNs); return it."""
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    errors = [line for line in lines if line.startswith("offtrust: error: ")]
    assert len(errors) == 1, stderr
    assert all(
        line.startswith(("offtrust: error: ", "hint: ", "offtrust: warning: ", "done: "))
        for line in lines
    ), stderr
    return errors[0]


def metadata_file(trust: Path, gun: str, role: str) -> Path:
    return trust / "tuf" / gun / "metadata" / f"{role}.json"


def flip_signature_byte(data: bytes) -> bytes:
    """Change one base64 character in the middle of the first signature.

    A middle character (not the last before padding) always changes the
    decoded bytes.
    """
    start = data.index(b'"sig":"') + len(b'"sig":"')
    i = start + 10
    new = b"B" if data[i : i + 1] != b"B" else b"C"
    return data[:i] + new + data[i + 1 :]


def flip_length_digit(data: bytes) -> bytes:
    """Change the first digit of the first ``"length":`` value (a target or meta length)."""
    m = re.search(rb'"length":\s*(\d)', data)
    assert m is not None
    i = m.start(1)
    new = b"9" if data[i : i + 1] != b"9" else b"8"
    return data[:i] + new + data[i + 1 :]


# --------------------------------------------------------------------------- #
# Fresh repos verify
# --------------------------------------------------------------------------- #


@pytest.mark.interop
@pytest.mark.parametrize("which", ["docker_repo", "notary_repo"])
def test_verify_fresh_repo_passes(which: str, request: pytest.FixtureRequest) -> None:
    repo: TrustRepo = request.getfixturevalue(which)
    proc = offtrust(repo.trust_dir, "verify", repo.gun)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == [f"{repo.gun}: OK"]
    assert proc.stderr == ""

    report = json.loads(offtrust(repo.trust_dir, "verify", "--json").stdout)
    assert report["ok"] is True
    (gun_report,) = report["guns"]
    assert gun_report["gun"] == repo.gun
    assert gun_report["problems"] == []
    assert set(gun_report["checked"]) >= {"root", "targets", "snapshot", "timestamp"}


@pytest.mark.interop
def test_verify_all_guns_of_one_trust_dir(
    docker_repo: TrustRepo, notary_repo: TrustRepo, tmp_path: Path
) -> None:
    trust = copy_trust_dir(docker_repo.trust_dir, tmp_path / "trust")
    copy_trust_dir(notary_repo.trust_dir / "tuf" / notary_repo.gun, trust / "tuf" / notary_repo.gun)
    proc = offtrust(trust, "verify", "--all")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(proc.stdout.splitlines()) == sorted(
        [f"{docker_repo.gun}: OK", f"{notary_repo.gun}: OK"]
    )

    # One GUN tampered: reported, the other still verified, exit 1.
    path = metadata_file(trust, notary_repo.gun, "targets/releases")
    path.write_bytes(flip_length_digit(path.read_bytes()))
    proc = offtrust(trust, "verify", "--all")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"{docker_repo.gun}: OK" in proc.stdout.splitlines()
    assert f"{notary_repo.gun}: FAILED" in proc.stdout.splitlines()
    assert_one_error_line(proc.stderr)


# --------------------------------------------------------------------------- #
# Tampering
# --------------------------------------------------------------------------- #

#: (file changed, how, roles blamed). A changed length in snapshot's meta
#: (root's, the first entry) breaks snapshot's signature and makes root
#: disagree with what snapshot records, so both are named.
TAMPER_CASES = [
    ("targets", flip_signature_byte, {"targets"}),
    ("targets/releases", flip_length_digit, {"targets/releases"}),
    ("root", flip_signature_byte, {"root"}),
    ("snapshot", flip_signature_byte, {"snapshot"}),
    ("timestamp", flip_signature_byte, {"timestamp"}),
    ("snapshot", flip_length_digit, {"snapshot", "root"}),
]


@pytest.mark.interop
@pytest.mark.parametrize("which", ["docker_repo", "notary_repo"])
@pytest.mark.parametrize(
    ("role", "tamper", "blamed"),
    TAMPER_CASES,
    ids=[f"{r}-{f.__name__}" for r, f, _ in TAMPER_CASES],
)
def test_verify_detects_one_changed_byte(
    which: str,
    role: str,
    tamper: Callable[[bytes], bytes],
    blamed: set[str],
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    repo: TrustRepo = request.getfixturevalue(which)
    trust = copy_trust_dir(repo.trust_dir, tmp_path / "trust")
    path = metadata_file(trust, repo.gun, role)
    before = path.read_bytes()
    after = tamper(before)
    assert len(after) == len(before)
    assert sum(a != b for a, b in zip(before, after, strict=True)) == 1

    path.write_bytes(after)
    proc = offtrust(trust, "verify", repo.gun)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"{repo.gun}: FAILED" in proc.stdout
    # The changed file's role is named first, and nothing unrelated is blamed.
    assert error_roles(proc.stdout) == blamed, proc.stdout
    line = assert_one_error_line(proc.stderr)
    assert line.startswith(f"offtrust: error: {repo.gun}: {role}: "), line

    # verify never writes.
    assert path.read_bytes() == after


@pytest.mark.interop
@pytest.mark.parametrize("which", ["docker_repo", "notary_repo"])
def test_verify_json_names_changed_role(
    which: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    repo: TrustRepo = request.getfixturevalue(which)
    trust = copy_trust_dir(repo.trust_dir, tmp_path / "trust")
    path = metadata_file(trust, repo.gun, "targets/releases")
    path.write_bytes(flip_signature_byte(path.read_bytes()))
    proc = offtrust(trust, "verify", "--json", repo.gun)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is False
    (gun_report,) = report["guns"]
    assert (gun_report["gun"], gun_report["ok"]) == (repo.gun, False)
    errors = [p for p in gun_report["problems"] if p["severity"] == "error"]
    assert {p["role"] for p in errors} == {"targets/releases"}
    assert all(p["hint"] for p in errors)
    assert any("does not match snapshot" in p["reason"] for p in errors)
    # Only the first signature was damaged: in the Docker repo targets/releases
    # still has three valid ones (threshold 1), in the notary repo none.
    sig_errors = [p for p in errors if "signatures" in p["reason"]]
    assert len(sig_errors) == (1 if which == "notary_repo" else 0), errors
    # The file's bytes are no longer the ones the snapshot records, so
    # re-signing it (witness) is not offered: fetching it again repairs it.
    for p in sig_errors:
        assert p["hint"] == f"offtrust -d {shlex.quote(str(trust))} fetch {repo.gun} --server URL"
    assert_one_error_line(proc.stderr)


def truncate(data: bytes) -> bytes:
    return data[: len(data) // 2]


@pytest.mark.interop
@pytest.mark.parametrize("role", ["targets/releases", "root"])
def test_verify_malformed_json_is_exit_2(role: str, docker_repo: TrustRepo, tmp_path: Path) -> None:
    trust = copy_trust_dir(docker_repo.trust_dir, tmp_path / "trust")
    path = metadata_file(trust, docker_repo.gun, role)
    path.write_bytes(truncate(path.read_bytes()))
    rel = f"{docker_repo.gun}/metadata/{role}.json"

    for args in (["verify", docker_repo.gun], ["inspect", docker_repo.gun]):
        proc = offtrust(trust, *args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        line = assert_one_error_line(proc.stderr)
        assert rel in line, line
        assert "malformed JSON" in line, line
    if role == "root":
        proc = offtrust(trust, "verify", "--json", docker_repo.gun)
        assert proc.returncode == 2
        assert json.loads(proc.stdout)["ok"] is False


def set_version_zero(data: bytes) -> bytes:
    doc = json.loads(data)
    doc["signed"]["version"] = 0
    return json.dumps(doc, separators=(",", ":")).encode()


def length_as_string(data: bytes) -> bytes:
    doc = json.loads(data)
    doc["signed"]["targets"]["v1"]["length"] = str(doc["signed"]["targets"]["v1"]["length"])
    return json.dumps(doc, separators=(",", ":")).encode()


SCHEMA_CASES = [
    ("targets/releases", set_version_zero, "$.signed.version"),
    ("snapshot", set_version_zero, "$.signed.version"),
    ("targets/releases", length_as_string, "$.signed.targets.v1.length"),
]


@pytest.mark.interop
@pytest.mark.parametrize(
    ("role", "edit", "json_path"),
    SCHEMA_CASES,
    ids=[f"{r}-{f.__name__}" for r, f, _ in SCHEMA_CASES],
)
def test_verify_schema_violation_is_exit_2(
    role: str,
    edit: Callable[[bytes], bytes],
    json_path: str,
    docker_repo: TrustRepo,
    tmp_path: Path,
) -> None:
    trust = copy_trust_dir(docker_repo.trust_dir, tmp_path / "trust")
    path = metadata_file(trust, docker_repo.gun, role)
    path.write_bytes(edit(path.read_bytes()))
    json.loads(path.read_bytes())  # still valid JSON
    proc = offtrust(trust, "verify", docker_repo.gun)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line = assert_one_error_line(proc.stderr)
    assert f"{docker_repo.gun}/metadata/{role}.json" in line, line
    assert f"{json_path}:" in line, line


# --------------------------------------------------------------------------- #
# targets/releases left without a valid signature
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def orphaned_releases(make_docker_repo: Callable[..., TrustRepo]) -> TrustRepo:
    """A Docker repo whose tags were signed by alice alone, then alice was removed.

    alice is the only signer when the tags are signed, so targets/releases
    (and targets/alice) carry only her signature; bob is added afterwards
    (which only changes targets.json). Then alice's key is removed from
    targets/releases and targets/alice is deleted with the real notary CLI
    (``docker trust signer remove`` does nothing non-interactively in 28.x).
    targets/releases is left with bob's key only and no valid signature.
    """
    repo = make_docker_repo(
        "orphan",
        signers=(("alice", "ecdsa"),),
        tags=(("v1", ("targets/releases", "targets/alice")), ("v2", ("targets/releases",))),
    )
    releases = json.loads((repo.metadata_dir / "targets" / "releases.json").read_bytes())
    assert [s["keyid"] for s in releases["signatures"]] == repo.signer_key_ids("alice")

    repo.docker("trust", "key", "generate", "bob", "--dir", str(repo.keys_dir))
    repo.docker("trust", "signer", "add", "bob", repo.gun, "--key", str(repo.keys_dir / "bob.pub"))
    (alice,) = repo.signer_key_ids("alice")
    repo.notary("delegation", "remove", repo.gun, "targets/releases", alice, "-p")
    repo.notary("delegation", "remove", repo.gun, "targets/alice", "-p", "-y")
    refresh_cache(repo)

    targets = json.loads((repo.metadata_dir / "targets.json").read_bytes())["signed"]
    roles = {r["name"]: r["keyids"] for r in targets["delegations"]["roles"]}
    assert set(roles) == {"targets/releases", "targets/bob"}
    assert alice not in roles["targets/releases"]
    return repo


@pytest.mark.interop
def test_verify_names_releases_without_valid_signature(orphaned_releases: TrustRepo) -> None:
    repo = orphaned_releases
    proc = offtrust(repo.trust_dir, "verify", repo.gun)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert error_roles(proc.stdout) == {"targets/releases"}, proc.stdout
    # The fix can be pasted: it names the trust directory the command was given.
    fix = f"offtrust -d {shlex.quote(str(repo.trust_dir))} witness {repo.gun} targets/releases"
    assert f"fix: {fix}" in proc.stdout
    line = assert_one_error_line(proc.stderr)
    assert f"{repo.gun}: targets/releases:" in line
    assert f"hint: {fix}" in proc.stderr.splitlines()

    report = json.loads(offtrust(repo.trust_dir, "verify", "--json", repo.gun).stdout)
    (problem,) = report["guns"][0]["problems"]
    assert (problem["role"], problem["severity"], problem["hint"]) == (
        "targets/releases",
        "error",
        fix,
    )


@pytest.mark.interop
def test_inspect_shows_what_docker_shows_and_fails(orphaned_releases: TrustRepo) -> None:
    repo = orphaned_releases
    proc = offtrust(repo.trust_dir, "inspect", repo.gun)
    # A role fails verification: exit 1, so scripts gating on the JSON notice.
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line]
    assert any(line.startswith("offtrust: warning: ") for line in lines), proc.stderr
    assert any("targets/releases" in line for line in lines)
    assert lines[-2].startswith("offtrust: error: "), proc.stderr

    (ours,) = json.loads(proc.stdout)
    docker = repo.inspect()
    # Signers, administrative keys and tags are exactly Docker's (alice is gone,
    # and the tags of the unverifiable targets/releases are not shown).
    assert ours["Signers"] == docker["Signers"]
    assert [s["Name"] for s in ours["Signers"]] == ["bob"]
    assert ours["AdministrativeKeys"] == docker["AdministrativeKeys"]
    assert docker["SignedTags"] == []
    assert ours["SignedTags"] == docker["SignedTags"]


@pytest.mark.interop
def test_delegation_list_still_works(orphaned_releases: TrustRepo) -> None:
    repo = orphaned_releases
    proc = offtrust(repo.trust_dir, "delegation", "list", repo.gun, "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    roles = {d["role"]: d for d in data["delegations"]}
    assert set(roles) == {"targets/releases", "targets/bob"}
    bob = canonical_key_id((repo.keys_dir / "bob.pub").read_bytes())
    assert roles["targets/releases"]["canonical_keyids"] == [bob]
    assert roles["targets/releases"]["targets"] == 2
    assert roles["targets/bob"]["has_metadata"] is False
    assert any("targets/releases" in line for line in proc.stderr.splitlines())
