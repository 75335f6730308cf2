"""Offline edits made by offtrust, published, then read by the real clients.

Each test makes real trust data with Docker or notary, copies the trust dir
(the export to the air-gapped machine), edits the copy with offtrust, stages
and publishes the bundle, and checks the result with ``docker trust inspect``
/ ``notary`` run on the ORIGINAL trust dir, whose pinned root is the old one.
Tests that publish build their own repo (fresh GUN).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from offtrust_helpers import (
    notary_delegations,
    notary_keys,
    notary_targets,
    run_offtrust,
    stage_and_publish,
)
from realtools import (
    NOTARY_PASSPHRASES,
    TrustRepo,
    canonical_id_of_tuf_key,
    canonical_key_id,
    copy_trust_dir,
    make_ecdsa_keypair,
    make_rsa_certificate,
    refresh_cache,
    run_notary,
    run_tool,
    tool_env,
)

pytestmark = pytest.mark.interop

MakeRepo = Callable[..., TrustRepo]

#: Small Docker repos: one signer, tags only in targets/releases.
ALICE_ONLY = [("alice", "ecdsa")]
RELEASES_TAGS = [("v1", ("targets/releases",)), ("v2", ("targets/releases",))]


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #


def delegations(repo: TrustRepo, trust_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """``notary delegation list GUN`` (from the server) parsed."""
    if trust_dir is None:
        proc = repo.notary("delegation", "list", repo.gun)
    else:
        proc = run_notary(trust_dir, "delegation", "list", repo.gun, server=repo.server)
    assert "using cached" not in proc.stderr, proc.stderr
    return notary_delegations(proc.stdout)


def listed_targets(repo: TrustRepo, *args: str, trust_dir: Path | None = None) -> dict[str, Any]:
    """``notary list GUN ARGS...`` parsed; fails on a cache fallback."""
    if trust_dir is None:
        proc = repo.notary("list", repo.gun, *args)
    else:
        proc = run_notary(trust_dir, "list", repo.gun, *args, server=repo.server)
    assert "using cached" not in proc.stderr, proc.stderr
    assert "Error" not in proc.stderr, proc.stderr
    return notary_targets(proc.stdout)


def inspect_signers(repo: TrustRepo) -> dict[str, list[str]]:
    """``docker trust inspect GUN`` -> {signer: [key IDs]}."""
    return {s["Name"]: [k["ID"] for k in s["Keys"]] for s in repo.inspect()["Signers"]}


def served(repo: TrustRepo, role: str) -> dict[str, Any]:
    """The metadata document the server serves for ``role``."""
    data = json.loads(repo.server.metadata(repo.gun, role))
    assert isinstance(data, dict)
    return data


def signature_canonical_ids(repo: TrustRepo, role: str) -> set[str]:
    """Canonical IDs of the keys whose signatures the served ``role`` carries."""
    targets = served(repo, "targets")["signed"]
    keys = targets["delegations"]["keys"]
    return {canonical_id_of_tuf_key(keys[s["keyid"]]) for s in served(repo, role)["signatures"]}


def docker_key(repo: TrustRepo, name: str) -> tuple[Path, str]:
    """``docker trust key generate NAME`` on the repo's own config: (NAME.pub, canonical ID)."""
    repo.docker("trust", "key", "generate", name, "--dir", str(repo.keys_dir))
    pub = repo.keys_dir / f"{name}.pub"
    return pub, canonical_key_id(pub.read_bytes())


def fake_digest(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


# --------------------------------------------------------------------------- #
# 1. signer add
# --------------------------------------------------------------------------- #


def test_signer_add_docker_key_and_rsa_certificate(
    make_docker_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_docker_repo("signer-add", signers=ALICE_ONLY, tags=RELEASES_TAGS)
    # dave's key pair is made by the real docker; the offline side gets the .pub only.
    dave_pub, dave_id = docker_key(repo, "dave")
    erin_crt, _ = make_rsa_certificate(tmp_path, "erin")
    erin_id = canonical_key_id(erin_crt.read_bytes())

    offline = copy_trust_dir(repo.trust_dir, tmp_path / "offline")
    run_offtrust(offline, "signer", "add", "dave", repo.gun, "--key", str(dave_pub))
    run_offtrust(offline, "signer", "add", "erin", repo.gun, "--key", str(erin_crt))
    stage_and_publish(offline, repo.server, tmp_path)

    signers = inspect_signers(repo)
    assert signers["dave"] == [dave_id]
    assert signers["erin"] == [erin_id]  # the SPKI ID, not the certificate's
    assert signers["alice"] == [repo.signers["alice"][0].canonical_id]

    roles = delegations(repo)
    assert roles["targets/dave"]["keyids"] == [dave_id]
    assert roles["targets/erin"]["keyids"] == [erin_id]
    assert {dave_id, erin_id, repo.signers["alice"][0].canonical_id} == set(
        roles["targets/releases"]["keyids"]
    )
    # The erin key is an rsa-x509 key in targets.json, as Docker writes a certificate.
    keys = served(repo, "targets")["signed"]["delegations"]["keys"]
    erin_keys = {kid: k for kid, k in keys.items() if canonical_id_of_tuf_key(k) == erin_id}
    assert [k["keytype"] for k in erin_keys.values()] == ["rsa-x509"]
    assert erin_id not in erin_keys  # its TUF ID is the certificate's, not the one shown
    # The tags are untouched.
    assert set(listed_targets(repo)) == {"v1", "v2"}


# --------------------------------------------------------------------------- #
# 2. signer remove
# --------------------------------------------------------------------------- #


def test_signer_remove(make_docker_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_docker_repo(
        "signer-remove",
        signers=[("alice", "ecdsa"), ("bob", "ecdsa"), ("bob", "ecdsa")],
        tags=RELEASES_TAGS,
    )
    bob_ids = {k.canonical_id for k in repo.signers["bob"]}
    alice_id = repo.signers["alice"][0].canonical_id
    assert set(inspect_signers(repo)) == {"alice", "bob"}

    offline = copy_trust_dir(repo.trust_dir, tmp_path / "offline")
    run_offtrust(offline, "signer", "remove", "bob", repo.gun, "--yes")
    stage_and_publish(offline, repo.server, tmp_path)

    assert inspect_signers(repo) == {"alice": [alice_id]}
    roles = delegations(repo)
    assert "targets/bob" not in roles
    assert roles["targets/releases"]["keyids"] == [alice_id]
    assert not bob_ids & set(roles["targets/releases"]["keyids"])
    assert set(listed_targets(repo)) == {"v1", "v2"}


# --------------------------------------------------------------------------- #
# 3. delegation remove of one key
# --------------------------------------------------------------------------- #


def test_delegation_remove_one_key_keeps_role(make_docker_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_docker_repo(
        "deleg-remove", signers=[("alice", "ecdsa"), ("carol", "rsa-x509")], tags=RELEASES_TAGS
    )
    alice_id = repo.signers["alice"][0].canonical_id
    carol = repo.signers["carol"][0]
    assert carol.key_id != carol.canonical_id  # an rsa-x509 key: two IDs
    assert set(delegations(repo)["targets/releases"]["keyids"]) == {alice_id, carol.canonical_id}

    offline = copy_trust_dir(repo.trust_dir, tmp_path / "offline")
    # By the ID the tools print (the canonical one).
    run_offtrust(
        offline, "delegation", "remove", repo.gun, "targets/releases", carol.canonical_id, "--yes"
    )
    stage_and_publish(offline, repo.server, tmp_path)

    roles = delegations(repo)
    assert roles["targets/releases"]["keyids"] == [alice_id]
    assert roles["targets/releases"]["paths"] == [""]
    assert roles["targets/carol"]["keyids"] == [carol.canonical_id]  # untouched
    assert set(listed_targets(repo)) == {"v1", "v2"}


# --------------------------------------------------------------------------- #
# 4. witness after a signer removal
# --------------------------------------------------------------------------- #


def test_witness_after_removing_the_only_releases_signer(
    make_docker_repo: MakeRepo, tmp_path: Path
) -> None:
    # Tags are signed while alice's is the only releases key ...
    repo = make_docker_repo("witness", signers=ALICE_ONLY, tags=RELEASES_TAGS)
    alice_id = repo.signers["alice"][0].canonical_id
    # ... then bob joins with docker, which does not re-sign targets/releases.
    bob_pub, bob_id = docker_key(repo, "bob")
    repo.docker("trust", "signer", "add", "bob", repo.gun, "--key", str(bob_pub))
    refresh_cache(repo)
    assert signature_canonical_ids(repo, "targets/releases") == {alice_id}
    assert set(delegations(repo)["targets/releases"]["keyids"]) == {alice_id, bob_id}

    offline = copy_trust_dir(repo.trust_dir, tmp_path / "offline")
    # bob's key is here too: removing alice re-signs releases with it in the
    # same edit (issue 8 item 2), instead of leaving it unsigned for a witness.
    proc = run_offtrust(offline, "signer", "remove", "alice", repo.gun, "--yes")
    assert "targets/releases: re-signed with the remaining local keys" in proc.stderr, proc.stderr
    proc = run_offtrust(offline, "verify", repo.gun, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    stage_and_publish(offline, repo.server, tmp_path)  # publish verifies what it sent

    assert signature_canonical_ids(repo, "targets/releases") >= {bob_id}
    tags = listed_targets(repo)  # the original dir, old pinned root
    assert {name: t["role"] for name, t in tags.items()} == {
        "v1": "targets/releases",
        "v2": "targets/releases",
    }
    assert tags["v1"]["digest"] == repo.tags["v1"].digest
    assert listed_targets(repo, trust_dir=tmp_path / "fresh") == tags  # trust on first use
    assert inspect_signers(repo) == {"bob": [bob_id]}
    assert [t["SignedTag"] for t in repo.inspect()["SignedTags"]] == ["v1", "v2"]


# --------------------------------------------------------------------------- #
# 5. target add / target remove
# --------------------------------------------------------------------------- #


def test_target_add_then_remove(make_docker_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_docker_repo("targets", signers=ALICE_ONLY, tags=[("v1", ("targets/releases",))])
    digest, size = fake_digest(f"{repo.gun}:v5"), 1234

    # Round 1: sign v5 offline.
    offline = copy_trust_dir(repo.trust_dir, tmp_path / "offline-1")
    run_offtrust(
        offline,
        "target",
        "add",
        repo.gun,
        "v5",
        "--digest",
        f"sha256:{digest}",
        "--size",
        str(size),
    )
    stage_and_publish(offline, repo.server, tmp_path)

    # Like docker trust sign: into targets/releases and alice's role (her key is local).
    for role in ("targets/releases", "targets/alice"):
        tags = listed_targets(repo, "-r", role)
        assert (tags["v5"]["digest"], tags["v5"]["size"]) == (digest, size), role
    tags = listed_targets(repo, "-r", "targets/releases")
    assert tags["v1"]["digest"] == repo.tags["v1"].digest
    assert listed_targets(repo, trust_dir=tmp_path / "fresh") == listed_targets(repo)

    # Round 2: export the (refreshed) trust dir again and revoke v5.
    offline = copy_trust_dir(repo.trust_dir, tmp_path / "offline-2")
    run_offtrust(offline, "target", "remove", repo.gun, "v5")
    stage_and_publish(offline, repo.server, tmp_path)

    # Like docker trust revoke: gone from every role it was signed into.
    assert set(listed_targets(repo)) == {"v1"}
    assert set(listed_targets(repo, "-r", "targets/alice")) <= {"v1"}
    assert [t["SignedTag"] for t in repo.inspect()["SignedTags"]] == ["v1"]


# --------------------------------------------------------------------------- #
# 6. keys made or loaded by offtrust work with notary
# --------------------------------------------------------------------------- #


def test_offtrust_generated_key_signs_with_notary(
    make_docker_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_docker_repo("keygen", signers=ALICE_ONLY, tags=[("v1", ("targets/releases",))])
    offline = copy_trust_dir(repo.trust_dir, tmp_path / "offline")
    run_offtrust(offline, "key", "generate", "frank", "--dir", str(tmp_path))
    pub = tmp_path / "frank.pub"
    frank_id = canonical_key_id(pub.read_bytes())
    private = offline / "private" / f"{frank_id}.key"
    assert private.is_file()
    run_offtrust(offline, "signer", "add", "frank", repo.gun, "--key", str(pub))
    stage_and_publish(offline, repo.server, tmp_path)

    # The private key travels back to the networked machine; real notary signs with it.
    shutil.copy2(private, repo.private_dir / private.name)
    assert notary_keys(repo.notary("key", "list").stdout).get(frank_id) == "frank"
    digest, size = fake_digest(f"{repo.gun}:vX"), 4321
    repo.notary("addhash", repo.gun, "vX", str(size), "--sha256", digest, "-r", "targets/frank")
    repo.notary("publish", repo.gun)

    tags = listed_targets(repo, "-r", "targets/frank")
    assert tags == {"vX": {"digest": digest, "size": size, "role": "targets/frank"}}
    assert signature_canonical_ids(repo, "targets/frank") == {frank_id}
    assert inspect_signers(repo)["frank"] == [frank_id]


def test_key_load_openssl_p256_listed_by_notary(tmp_path: Path) -> None:
    pub, pkcs8 = make_ecdsa_keypair(tmp_path, "pkcs8")
    pub2, other = make_ecdsa_keypair(tmp_path, "sec1-src")
    sec1 = tmp_path / "sec1.key"
    run_tool(["openssl", "ec", "-in", str(other), "-out", str(sec1)], env=tool_env())
    sec1.chmod(0o600)
    assert sec1.read_text().startswith("-----BEGIN EC PRIVATE KEY-----")
    assert pkcs8.read_text().startswith("-----BEGIN PRIVATE KEY-----")

    trust = tmp_path / "trust"
    trust.mkdir(mode=0o700)
    run_offtrust(trust, "key", "load", str(pkcs8), "--name", "gina")
    run_offtrust(trust, "key", "load", str(sec1), "--name", "hank")

    proc = run_tool(["notary", "-d", str(trust), "key", "list"], env=tool_env())
    keys = notary_keys(proc.stdout)
    assert keys == {
        canonical_key_id(pub.read_bytes()): "gina",
        canonical_key_id(pub2.read_bytes()): "hank",
    }


# --------------------------------------------------------------------------- #
# 7. client-managed snapshot (notary repo)
# --------------------------------------------------------------------------- #


def test_notary_repo_snapshot_resigned_offline_fresh_clients_accept(
    make_notary_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_notary_repo("snapshot")
    assert not repo.server_managed_snapshot
    digest, size = fake_digest(f"{repo.gun}:v7"), 777

    offline = copy_trust_dir(repo.trust_dir, tmp_path / "offline")
    run_offtrust(
        offline,
        "target",
        "add",
        repo.gun,
        "v7",
        "--digest",
        f"sha256:{digest}",
        "--size",
        str(size),
        "--role",
        "targets/releases",
        passphrases=NOTARY_PASSPHRASES,
    )
    stage_and_publish(offline, repo.server, tmp_path)
    # The snapshot that the server serves is the one offtrust signed (client-managed).
    snapshot_sigs = {s["keyid"] for s in served(repo, "snapshot")["signatures"]}
    assert snapshot_sigs == {repo.snapshot_key_id}

    # Trust on first use from an empty trust dir.
    tags = listed_targets(repo, trust_dir=tmp_path / "fresh-1")
    assert set(tags) == {"v1", "v7"}
    assert tags["v7"] == {"digest": digest, "size": size, "role": "targets/releases"}

    # Later notary publishes from the original dir still work ...
    digest8, size8 = fake_digest(f"{repo.gun}:v8"), 888
    repo.notary(
        "addhash", repo.gun, "v8", str(size8), "--sha256", digest8, "-r", "targets/releases"
    )
    repo.notary("publish", repo.gun)
    # ... and another fresh client accepts the result.
    tags = listed_targets(repo, trust_dir=tmp_path / "fresh-2")
    assert set(tags) == {"v1", "v7", "v8"}
    assert set(listed_targets(repo)) == {"v1", "v7", "v8"}


# --------------------------------------------------------------------------- #
# 8. resign: every role the local keys hold, root included
# --------------------------------------------------------------------------- #


def test_resign_all_roles_accepted_by_server_and_old_root_clients(
    make_notary_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_notary_repo("resign")
    before = {
        role: served(repo, role)["signed"]["version"]
        for role in ("root", "targets", "snapshot", "targets/releases")
    }
    offline = copy_trust_dir(repo.trust_dir, tmp_path / "offline")
    run_offtrust(offline, "resign", repo.gun, "--expires", "400d", passphrases=NOTARY_PASSPHRASES)
    stage_and_publish(offline, repo.server, tmp_path)

    from datetime import datetime, timezone

    from offtrust.model.timefmt import parse_go_time

    now = datetime.now(timezone.utc)
    for role, version in before.items():
        signed = served(repo, role)["signed"]
        assert signed["version"] == version + 1, role
        lifetime = parse_go_time(signed["expires"]) - now
        assert 399 <= lifetime.days <= 400, (role, signed["expires"])
    # The original directory pins root v1: notary walks to v2 and accepts it,
    # and a fresh client trusts the new chain on first use.
    assert set(listed_targets(repo)) == {"v1"}
    assert set(listed_targets(repo, trust_dir=tmp_path / "fresh")) == {"v1"}
