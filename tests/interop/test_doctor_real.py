"""``doctor`` on trust directories made by docker and notary: each problem, and nothing else.

One store per kind of problem (made with the real tools where they can make
it: ``docker trust key generate`` for an unused key, chmod for modes; an
expiring role needs ``offtrust resign --expires``, an unencrypted key is
written by offtrust's own key store, since docker and notary always encrypt),
one store with all of them, and fresh healthy stores from docker and notary.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from offtrust_helpers import SMALL_REPO, run_offtrust
from realtools import DOCKER_PASSPHRASES, TrustRepo, copy_trust_dir, run_docker

pytestmark = pytest.mark.interop


def findings(trust: Path) -> list[tuple[str, str]]:
    """(kind, object) of every finding of ``doctor --json``; the exit status must match."""
    proc = run_offtrust(trust, "doctor", "--json", check=False)
    doc = json.loads(proc.stdout)
    assert doc["problems"] == len(doc["findings"])
    assert proc.returncode == (1 if doc["findings"] else 0), proc.stderr
    return [(f["kind"], f["object"]) for f in doc["findings"]]


@pytest.fixture(scope="module")
def docker_small(make_docker_repo: Callable[..., TrustRepo]) -> TrustRepo:
    return make_docker_repo("doctor", **SMALL_REPO)


@pytest.fixture
def store(docker_small: TrustRepo, tmp_path: Path) -> Path:
    return copy_trust_dir(docker_small.trust_dir, tmp_path / "trust")


def test_fresh_stores_from_docker_and_notary_are_healthy(
    docker_small: TrustRepo, notary_repo: TrustRepo
) -> None:
    for repo in (docker_small, notary_repo):
        proc = run_offtrust(repo.trust_dir, "doctor")
        assert proc.stdout == "no problems found\n", (repo.kind, proc.stdout)


def test_a_key_docker_generated_and_no_metadata_uses(
    docker_small: TrustRepo, tmp_path: Path
) -> None:
    config = tmp_path / "docker"
    config.mkdir()
    copy_trust_dir(docker_small.trust_dir, config / "trust")
    run_docker(
        config,
        "trust",
        "key",
        "generate",
        "dave",
        "--dir",
        str(tmp_path),
        server=docker_small.server,
    )
    dave = next(
        p.stem for p in (config / "trust" / "private").iterdir() if "role: dave" in p.read_text()
    )
    assert findings(config / "trust") == [("unused-key", f"key {dave} (dave)")]


def test_an_unencrypted_key(docker_small: TrustRepo, store: Path) -> None:
    alice = docker_small.signers["alice"][0].canonical_id
    decrypt_in_place(store, alice)
    assert findings(store) == [("unencrypted-key", f"key {alice} (alice)")]


def decrypt_in_place(store: Path, keyid: str) -> None:
    """Store key *keyid* without a passphrase (offtrust's key store; the tools never do)."""
    from offtrust.ops.context import Context
    from offtrust.passphrase import Passphrases

    ctx = Context.at(store)
    source = Passphrases(environ=DOCKER_PASSPHRASES.docker_env(), interactive=False)
    key = ctx.keyring(source).private_key(keyid)
    info = ctx.keys.find(keyid)
    ctx.keys.save(key, role=info.role, gun=info.gun, passphrase=None, overwrite=True)


def test_key_files_and_directories_others_can_read(docker_small: TrustRepo, store: Path) -> None:
    alice = docker_small.signers["alice"][0].canonical_id
    (store / "private" / f"{alice}.key").chmod(0o644)
    (store / "private").chmod(0o750)
    assert findings(store) == [
        ("permissions", str(store / "private")),
        ("permissions", str(store / "private" / f"{alice}.key")),
    ]


def test_an_rsa_key_under_2048_bits(store: Path) -> None:
    pem = subprocess.run(
        ["openssl", "genrsa", "-traditional", "1024"], check=True, capture_output=True
    ).stdout
    keyid = "cd" * 32
    path = store / "private" / f"{keyid}.key"
    path.write_bytes(pem.replace(b"-----\n", b"-----\nrole: weak\n\n", 1))
    path.chmod(0o600)
    assert sorted(findings(store)) == [
        ("unencrypted-key", f"key {keyid} (weak)"),
        ("unused-key", f"key {keyid} (weak)"),
        ("weak-rsa-key", f"key {keyid} (weak)"),
    ]


def test_a_role_with_no_local_key(docker_small: TrustRepo, store: Path) -> None:
    (store / "private" / f"{docker_small.targets_key_id}.key").unlink()
    assert findings(store) == [("no-local-key", f"{docker_small.gun} targets")]


def test_expiring_then_staged_then_bundled(docker_small: TrustRepo, store: Path) -> None:
    gun = docker_small.gun
    run_offtrust(store, "resign", gun, "targets/releases", "--expires", "10d")
    assert findings(store) == [
        ("expiring", f"{gun} targets/releases"),
        ("staged-not-bundled", gun),
    ]
    run_offtrust(store, "stage", "--output", str(store.parent / "b.bundle"))
    assert findings(store) == [
        ("expiring", f"{gun} targets/releases"),
        ("bundled-not-published", gun),
    ]


def test_all_problems_at_once(docker_small: TrustRepo, store: Path, tmp_path: Path) -> None:
    gun = docker_small.gun
    alice = docker_small.signers["alice"][0].canonical_id
    run_offtrust(store, "key", "generate", "erin", "--dir", str(tmp_path))
    erin = next(p.stem for p in (store / "private").iterdir() if "role: erin" in p.read_text())
    decrypt_in_place(store, alice)
    (store / "private" / f"{alice}.key").chmod(0o644)
    run_offtrust(store, "resign", gun, "targets/releases", "--expires", "10d")
    assert sorted(findings(store)) == sorted(
        [
            ("unused-key", f"key {erin} (erin)"),
            ("unencrypted-key", f"key {alice} (alice)"),
            ("permissions", str(store / "private" / f"{alice}.key")),
            ("expiring", f"{gun} targets/releases"),
            ("staged-not-bundled", gun),
        ]
    )
