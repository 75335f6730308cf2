"""The online half of the air-gapped workflow against a real notary-server.

``fetch`` of a GUN the server does not know, offline initialisation with
``signer add``, ``stage``, ``publish`` (dry run, twice, stale, tampered, several
GUNs), each checked against what the server then serves (raw bytes through
the harness's own HTTP client) and, where it matters, against a fresh
``docker trust inspect``.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from offtrust_helpers import ROLES, SMALL_REPO, server_args
from realtools import (
    DOCKER_PASSPHRASES,
    NotaryServer,
    TrustRepo,
    canonical_id_of_tuf_key,
    canonical_key_id,
    copy_trust_dir,
    install_docker_ca,
    run_docker,
    tag_content,
    tool_env,
    unique_gun,
)

pytestmark = pytest.mark.interop

DIGEST = "sha256:" + "ab" * 32

# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #


def run_offtrust(
    trust_dir: Path, *args: str, cwd: Path | None = None, home: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m offtrust -d TRUST_DIR ARGS...`` with the TEST Docker passphrases."""
    env = {
        k: v
        for k, v in tool_env(home, DOCKER_PASSPHRASES.docker_env()).items()
        if not k.startswith("OFFTRUST_")
    }
    return subprocess.run(
        [sys.executable, "-m", "offtrust", "-d", str(trust_dir), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def describe(proc: subprocess.CompletedProcess[str]) -> str:
    return f"{proc.args!r} -> {proc.returncode}\n--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}"


def ok(trust_dir: Path, *args: str, **kw: Path | None) -> subprocess.CompletedProcess[str]:
    proc = run_offtrust(trust_dir, *args, **kw)
    assert proc.returncode == 0, describe(proc)
    assert "Traceback" not in proc.stderr, describe(proc)
    return proc


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The single ``offtrust: error:`` line of a failed run (a ``hint:`` line may follow)."""
    assert proc.returncode != 0, describe(proc)
    assert "Traceback" not in proc.stderr, describe(proc)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("offtrust: error:")]
    assert len(errors) == 1, describe(proc)
    return errors[0]


def served(server: NotaryServer, gun: str, roles: Iterable[str] = ROLES) -> dict[str, bytes | None]:
    """The raw bytes the server serves for each role (None: 404)."""
    out: dict[str, bytes | None] = {}
    for role in roles:
        status, body = server.get(f"/v2/{gun}/_trust/tuf/{role}.json")
        assert status in (200, 404), f"GET {gun} {role}: {status} {body[:200]!r}"
        out[role] = body if status == 200 else None
    return out


def tree(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` with its bytes (to show nothing changed)."""
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def move_releases(repo: TrustRepo, tag: str) -> None:
    """Change the server behind offtrust's back: the real notary signs a tag into releases."""
    content = tag_content(repo.gun, tag)
    repo.notary(
        "addhash",
        repo.gun,
        tag,
        str(len(content)),
        "--sha256",
        hashlib.sha256(content).hexdigest(),
        "-r",
        "targets/releases",
    )
    repo.notary("publish", repo.gun)


def stage_tag(repo: TrustRepo, offline: Path, bundle: Path, tag: str = "v9") -> None:
    """Offline: sign ``tag`` into targets/releases of ``offline`` and stage a bundle."""
    ok(offline, "target", "add", repo.gun, tag, "--digest", DIGEST, "--size", "77")
    ok(offline, "stage", "--output", str(bundle))


@pytest.fixture
def staged(
    make_docker_repo: Callable[..., TrustRepo], tmp_path: Path
) -> tuple[TrustRepo, Path, Path]:
    """A small Docker repo, an offline copy with tag v9 staged, and its bundle."""
    repo = make_docker_repo("publish", **SMALL_REPO)
    offline = copy_trust_dir(repo.trust_dir, tmp_path / "offline")
    bundle = tmp_path / "ceremony.bundle"
    stage_tag(repo, offline, bundle)
    return repo, offline, bundle


# --------------------------------------------------------------------------- #
# 1. A new GUN: fetch online, initialise offline, publish, docker reads it
# --------------------------------------------------------------------------- #


def test_new_gun_fetch_init_offline_publish(notary_server: NotaryServer, tmp_path: Path) -> None:
    gun = unique_gun("new")
    online = tmp_path / "trust"

    proc = ok(online, "fetch", gun, *server_args(notary_server))
    assert f"{gun}: new" in proc.stdout, describe(proc)
    keys_dir = online / "offtrust" / "server" / gun
    recorded = tree(keys_dir)
    assert sorted(recorded) == ["snapshot.key.json", "timestamp.key.json"], recorded
    for role in ("snapshot", "timestamp"):
        assert json.loads(recorded[f"{role}.key.json"])["keyval"]["public"]

    # Until the GUN has a root, the server hands out a new key on every request,
    # so a second fetch must keep the keys recorded the first time.
    status, body = notary_server.get(f"/v2/{gun}/_trust/tuf/timestamp.key")
    assert status == 200
    assert (
        json.loads(body)["keyval"]["public"]
        != json.loads(recorded["timestamp.key.json"])["keyval"]["public"]
    )
    proc = ok(online, "fetch", gun, *server_args(notary_server))
    assert f"{gun}: new" in proc.stdout, describe(proc)
    assert tree(keys_dir) == recorded

    # Offline: a new signer initialises the GUN (new root key, new targets key).
    offline = copy_trust_dir(online, tmp_path / "offline")
    keys = tmp_path / "keys"
    keys.mkdir()
    ok(offline, "key", "generate", "alice", "--dir", str(keys))
    alice_id = canonical_key_id((keys / "alice.pub").read_bytes())
    ok(offline, "signer", "add", "alice", gun, "--key", str(keys / "alice.pub"))
    local = json.loads(ok(offline, "key", "list", "--json").stdout)["keys"]
    by_role = {(k["role"], k["gun"]): k["keyid"] for k in local}
    # Keys with no GUN say so with null, as every JSON output does.
    assert set(by_role) == {("alice", None), ("root", None), ("targets", gun)}, local
    assert by_role["alice", None] == alice_id
    bundle = tmp_path / "new.bundle"
    ok(offline, "stage", "--output", str(bundle))

    assert served(notary_server, gun, ("root",)) == {"root": None}
    proc = ok(offline, "publish", str(bundle), *server_args(notary_server))
    assert f"{gun}: published" in proc.stdout, describe(proc)

    # The published root uses the recorded server keys and offtrust's root key.
    root = json.loads(notary_server.metadata(gun, "root"))["signed"]
    for role in ("snapshot", "timestamp"):
        (kid,) = root["roles"][role]["keyids"]
        assert root["keys"][kid] == json.loads(recorded[f"{role}.key.json"]), role
    (root_kid,) = root["roles"]["root"]["keyids"]
    assert canonical_id_of_tuf_key(root["keys"][root_kid]) == by_role["root", None]

    # A Docker client that never saw this GUN: only the CA installed.
    config = tmp_path / "fresh-docker"
    install_docker_ca(config, notary_server)
    proc = run_docker(config, "trust", "inspect", gun, server=notary_server, home=tmp_path / "home")
    assert "using cached" not in proc.stderr, proc.stderr
    (inspected,) = json.loads(proc.stdout)
    assert inspected["Name"] == gun
    assert inspected["SignedTags"] == []
    assert inspected["Signers"] == [{"Name": "alice", "Keys": [{"ID": alice_id}]}]
    admin = {a["Name"]: [k["ID"] for k in a["Keys"]] for a in inspected["AdministrativeKeys"]}
    assert admin == {"Root": [root_kid], "Repository": [by_role["targets", gun]]}


def test_signer_add_new_gun_without_fetch_fails(tmp_path: Path) -> None:
    trust = tmp_path / "trust"
    keys = tmp_path / "keys"
    keys.mkdir()
    ok(trust, "key", "generate", "alice", "--dir", str(keys))
    before = tree(trust)
    gun = unique_gun("never-fetched")

    proc = run_offtrust(trust, "signer", "add", "alice", gun, "--key", str(keys / "alice.pub"))

    assert proc.returncode in (1, 2), describe(proc)
    line = one_error_line(proc)
    assert gun in line, line
    assert f"fetch {gun} --server URL` on the networked machine first" in proc.stderr, describe(
        proc
    )
    assert tree(trust) == before


# --------------------------------------------------------------------------- #
# 2. A stale bundle is refused and the server left alone
# --------------------------------------------------------------------------- #


def test_stale_bundle_is_refused(staged: tuple[TrustRepo, Path, Path]) -> None:
    repo, offline, bundle = staged
    server = repo.server
    move_releases(repo, "v7")  # the real tools move targets/releases meanwhile
    before = served(server, repo.gun)

    proc = run_offtrust(offline, "publish", str(bundle), *server_args(server))

    line = one_error_line(proc)
    assert proc.returncode == 1, describe(proc)
    assert repo.gun in line, line
    assert "moved past" in line, line
    assert "base" in line, line
    assert f"{repo.gun}: published" not in proc.stdout, describe(proc)
    assert served(server, repo.gun) == before


# --------------------------------------------------------------------------- #
# 3. Publishing twice is safe; 5. --dry-run uploads nothing
# --------------------------------------------------------------------------- #


def test_dry_run_uploads_nothing(staged: tuple[TrustRepo, Path, Path]) -> None:
    repo, offline, bundle = staged
    before = served(repo.server, repo.gun)

    proc = ok(offline, "publish", str(bundle), *server_args(repo.server), "--dry-run")

    assert f"{repo.gun}: would-publish" in proc.stdout, describe(proc)
    assert "targets/releases" in proc.stdout, describe(proc)
    assert served(repo.server, repo.gun) == before


def test_publish_twice_is_safe(staged: tuple[TrustRepo, Path, Path]) -> None:
    repo, offline, bundle = staged
    before = served(repo.server, repo.gun)

    proc = ok(offline, "publish", str(bundle), *server_args(repo.server))
    assert f"{repo.gun}: published" in proc.stdout, describe(proc)
    first = served(repo.server, repo.gun)
    for role in ("targets/releases", "snapshot", "timestamp"):
        assert first[role] != before[role], role
    assert b'"v9"' in (first["targets/releases"] or b"")

    proc = ok(offline, "publish", str(bundle), *server_args(repo.server))
    assert f"{repo.gun}: already-published" in proc.stdout, describe(proc)
    assert served(repo.server, repo.gun) == first


# --------------------------------------------------------------------------- #
# 4. A tampered bundle is refused offline and by publish
# --------------------------------------------------------------------------- #


#: Where one byte is flipped, and a word the error must use to name the problem.
TAMPERING = {
    "member": "sha256",  # inside targets/releases.json: its hash no longer matches
    "manifest-hash": "sha256",  # a digit of a sha256 in the manifest (still valid JSON)
    "manifest-base": "snapshot",  # the base version of a role the bundle does not upload
    "manifest-syntax": "json",  # the manifest's first byte: no longer JSON
}


def tamper(bundle: Path, where: str) -> Path:
    """A copy of ``bundle`` with exactly one bit of one byte flipped."""
    data = bytearray(bundle.read_bytes())
    with tarfile.open(bundle) as tar:
        members = {m.name: m for m in tar.getmembers()}
    manifest = members["manifest.json"]
    text = bytes(data[manifest.offset_data : manifest.offset_data + manifest.size])
    if where == "member":
        member = members[next(n for n in members if n.endswith("/targets/releases.json"))]
        offset = member.offset_data + member.size // 2
    elif where == "manifest-hash":
        at = text.index(b'"', text.index(b":", text.index(b'"sha256"'))) + 1
        at += next(i for i, c in enumerate(text[at:]) if chr(c).isdigit())
        offset = manifest.offset_data + at
    elif where == "manifest-base":
        # "base" sorts before "files", so the first "snapshot": N is the base.
        offset = manifest.offset_data + text.index(b'"snapshot": ') + len(b'"snapshot": ')
        assert chr(data[offset]).isdigit()
    else:
        offset = manifest.offset_data
    data[offset] ^= 0x01
    out = bundle.with_name(f"tampered-{where}.bundle")
    out.write_bytes(bytes(data))
    return out


def test_tampered_bundle_is_refused(staged: tuple[TrustRepo, Path, Path]) -> None:
    repo, offline, bundle = staged
    ok(offline, "bundle", "verify", str(bundle))
    before = served(repo.server, repo.gun)
    for where, word in TAMPERING.items():
        bad = tamper(bundle, where)

        proc = run_offtrust(offline, "bundle", "verify", str(bad))
        line = one_error_line(proc)
        assert str(bad) in line, (where, line)
        assert word in line.lower(), (where, line)

        proc = run_offtrust(offline, "publish", str(bad), *server_args(repo.server))
        assert one_error_line(proc) == line, (where, describe(proc))
        assert served(repo.server, repo.gun) == before, where


# --------------------------------------------------------------------------- #
# 6. Several GUNs, one stale: the others are still published
# --------------------------------------------------------------------------- #


def test_one_stale_gun_does_not_stop_the_others(
    make_docker_repo: Callable[..., TrustRepo], tmp_path: Path
) -> None:
    # Named so the stale GUN sorts (and is published) first.
    stale = make_docker_repo("multi-a-stale", **SMALL_REPO)
    good = make_docker_repo(
        "multi-b-good",
        signers=(("bob", "ecdsa"),),
        tags=SMALL_REPO["tags"],
        config_dir=stale.config_dir,
    )
    assert sorted([stale.gun, good.gun]) == [stale.gun, good.gun]
    assert stale.trust_dir == good.trust_dir
    offline = copy_trust_dir(stale.trust_dir, tmp_path / "offline")
    for repo in (stale, good):
        ok(offline, "target", "add", repo.gun, "v9", "--digest", DIGEST, "--size", "77")
    bundle = tmp_path / "two.bundle"
    ok(offline, "stage", "--output", str(bundle))
    shown = json.loads(ok(offline, "bundle", "show", str(bundle), "--json").stdout)
    assert sorted(shown["manifest"]["guns"]) == [stale.gun, good.gun], shown

    move_releases(stale, "v7")
    stale_before = served(stale.server, stale.gun)
    good_before = served(good.server, good.gun)

    proc = run_offtrust(offline, "publish", str(bundle), *server_args(good.server))

    assert proc.returncode == 1, describe(proc)
    assert f"{good.gun}: published" in proc.stdout, describe(proc)
    # The stale GUN's failure: one stderr line naming it, then the summary.
    errors = [line for line in proc.stderr.splitlines() if line.startswith("offtrust: error:")]
    (failed,) = [line for line in errors if stale.gun in line]
    assert "moved past" in failed, failed
    assert errors[-1] == "offtrust: error: publish failed for 1 of 2 GUN(s)", describe(proc)
    assert "done: 1 changed, 0 skipped, 1 failed" in proc.stderr, describe(proc)
    assert served(stale.server, stale.gun) == stale_before
    good_after = served(good.server, good.gun)
    assert good_after["targets/releases"] != good_before["targets/releases"]
    assert b'"v9"' in (good_after["targets/releases"] or b"")
