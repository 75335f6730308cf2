"""Issue 6: forged trust data that notary-server refuses and offtrust accepted.

Each finding is shown from both sides with the same forged bytes: the real
notary-server (or the real ``notary``) refuses them, and offtrust must refuse
them too. Forged metadata is signed properly with the repository's real keys,
decrypted from the trust directory with the TEST-ONLY passphrases, so that only
the attack is wrong. The tests of offtrust's side failed before the finding
was fixed (each was first written as a strict xfail).

1. Laundering: ``signer add``, ``witness`` and ``resign`` re-sign a published
   file someone tampered with (its old signature kept), and the tampered
   content then reaches the server.
2. A root rotation not signed by the old root, and a root version jump, in a bundle.
3. A key ID not bound to its key content: one key listed under two IDs in a
   delegation of threshold 2, and one signature counted under both.
4. Publishing to a server whose root for the GUN is another document.
5. Root certificates notary refuses: not yet valid, two leaf certificates.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from offtrust_helpers import ROLES, SMALL_REPO, run_offtrust, server_args
from realtools import (
    NotaryServer,
    TrustRepo,
    copy_trust_dir,
    make_ecdsa_keypair,
    run_docker,
    run_notary,
    unique_gun,
)

from offtrust import crypto
from offtrust.bundle import BundleFile, read_bundle, write_bundle
from offtrust.model.keys import PublicKey
from offtrust.model.metadata import Metadata, MetaFile, Signature
from offtrust.model.timefmt import format_go_time

pytestmark = pytest.mark.interop

DIGEST = "sha256:" + "ab" * 32

#: (key ID as listed in the metadata, private key)
Signer = tuple[str, crypto.PrivateKey]

# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #


def describe(proc: subprocess.CompletedProcess[str]) -> str:
    return f"{proc.args!r} -> {proc.returncode}\n--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}"


def refused(
    proc: subprocess.CompletedProcess[str], *words: str, exit_codes: tuple[int, ...] = (1,)
) -> None:
    """Assert an offtrust run failed with one of ``exit_codes`` and its error names ``words``."""
    assert proc.returncode in exit_codes, describe(proc)
    errors = "\n".join(
        line for line in proc.stderr.splitlines() if line.startswith("offtrust: error:")
    )
    assert errors, describe(proc)
    for word in words:
        assert word in errors, f"{word!r} not in the error\n{describe(proc)}"


def served(server: NotaryServer, gun: str) -> dict[str, bytes | None]:
    """The bytes the server serves for each role (None: 404), to show nothing was uploaded."""
    out: dict[str, bytes | None] = {}
    for role in ROLES:
        status, body = server.get(f"/v2/{gun}/_trust/tuf/{role}.json")
        assert status in (200, 404), f"GET {gun} {role}: {status} {body[:200]!r}"
        out[role] = body if status == 200 else None
    return out


def upload(server: NotaryServer, gun: str, files: Mapping[str, bytes]) -> tuple[int, bytes]:
    """POST ``files`` (role -> exact bytes) as one update, as notary's client does (formats 8.1)."""
    return server.upload(gun, files)


def refusal(server: NotaryServer, gun: str, files: Mapping[str, bytes]) -> str:
    """Upload ``files``; assert notary-server answers 400 and return its error as ``Name: Msg``."""
    status, body = upload(server, gun, files)
    assert status == 400, f"POST {gun} {sorted(files)}: {status} {body[:300]!r}"
    (error,) = json.loads(body)["errors"]
    detail = error.get("detail")
    if isinstance(detail, dict) and "Name" in detail:
        return f"{detail['Name']}: {detail['Error']['Msg']}"
    return str(error["code"])


def version_of(data: bytes) -> int:
    return int(json.loads(data)["signed"]["version"])


def load_key(path: Path, passphrase: str) -> crypto.PrivateKey:
    return crypto.load_private_key_pem(path.read_bytes(), passphrase)


def root_signer(repo: TrustRepo) -> Signer:
    key = load_key(repo.private_dir / f"{repo.root_canonical_id}.key", repo.passphrases.root)
    return repo.root_key_id, key


def targets_signer(repo: TrustRepo) -> Signer:
    # A plain ecdsa key: its key ID is also its file name.
    key = load_key(repo.private_dir / f"{repo.targets_key_id}.key", repo.passphrases.targets)
    return repo.targets_key_id, key


def alice_signer(repo: TrustRepo) -> Signer:
    (alice,) = repo.signers["alice"]
    assert alice.private_key is not None
    return alice.key_id, load_key(alice.private_key, repo.passphrases.delegation)


def sign(md: Metadata[Any], *signers: Signer) -> bytes:
    """Sign ``md`` anew, once per signer, over its canonical bytes; returns the file bytes."""
    md.clear_signatures()
    message = md.signed_bytes()
    for key_id, key in signers:
        method, signature = key.sign(message)
        md.add_signature(Signature.from_bytes(key_id, method, signature))
    return md.to_bytes()


def published(trust_dir: Path, gun: str, role: str) -> Path:
    return trust_dir / "tuf" / gun / "metadata" / f"{role}.json"


def staged_path(trust_dir: Path, gun: str, role: str) -> Path:
    return trust_dir / "offtrust" / "staged" / gun / "metadata" / f"{role}.json"


def assert_nothing_staged(trust_dir: Path, gun: str) -> None:
    status = json.loads(run_offtrust(trust_dir, "status", "--json").stdout)
    assert not [g for g in status["guns"] if g["gun"] == gun and g["staged"]], status
    staged = trust_dir / "offtrust" / "staged" / gun
    assert not [p for p in staged.rglob("*") if p.is_file()], sorted(staged.rglob("*"))


def forge_bundle(bundle: Path, gun: str, files: Mapping[str, bytes], out: Path) -> Path:
    """A copy of a real bundle with ``files`` (role -> bytes) uploaded in place of its own."""
    entry = read_bundle(bundle.read_bytes()).guns[gun]
    forged = {
        role: BundleFile(role=role, data=data, version=version_of(data), upload=True)
        for role, data in files.items()
    }
    # replace() keeps every other field of the real entry (such as its trusted root).
    out.write_bytes(write_bundle([dataclasses.replace(entry, files={**entry.files, **forged})]))
    return out


@pytest.fixture(scope="module")
def repo(make_docker_repo: Callable[..., TrustRepo]) -> TrustRepo:
    """A small Docker repo on the session server. Read-only: nothing is published to it."""
    return make_docker_repo("findings", **SMALL_REPO)


@pytest.fixture(scope="module")
def staged(repo: TrustRepo, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An offline copy of ``repo`` with tag v9 staged into targets/releases, and its bundle.

    Read-only: copy the trust dir before changing it.
    """
    base = tmp_path_factory.mktemp("findings-staged")
    offline = copy_trust_dir(repo.trust_dir, base / "offline")
    run_offtrust(offline, "target", "add", repo.gun, "v9", "--digest", DIGEST, "--size", "77")
    bundle = base / "v9.bundle"
    run_offtrust(offline, "stage", "--output", str(bundle))
    return offline, bundle


# --------------------------------------------------------------------------- #
# 1. Laundering a tampered published file by re-signing it
# --------------------------------------------------------------------------- #


def tamper(trust_dir: Path, gun: str, role: str, edit: Callable[[dict[str, Any]], None]) -> None:
    """Edit the published ``role`` of ``gun`` in place; its old signatures are kept."""
    path = published(trust_dir, gun, role)
    doc = json.loads(path.read_bytes())
    edit(doc["signed"])
    path.write_bytes(Metadata.from_dict(doc, role).to_bytes())


def tamper_targets(trust_dir: Path, gun: str) -> str:
    """Add an attacker key to targets/releases in targets.json; returns the key's ID."""
    attacker = crypto.generate_private_key("ecdsa").public_key()

    def edit(signed: dict[str, Any]) -> None:
        delegations = signed["delegations"]
        delegations["keys"][attacker.keyid] = attacker.to_dict()
        (releases,) = [r for r in delegations["roles"] if r["name"] == "targets/releases"]
        releases["keyids"].append(attacker.keyid)

    tamper(trust_dir, gun, "targets", edit)
    return attacker.keyid


def tamper_releases(trust_dir: Path, gun: str) -> str:
    """Add a tag ``evil`` to targets/releases.json; returns the tag."""
    digest = base64.b64encode(hashlib.sha256(b"evil").digest()).decode()

    def edit(signed: dict[str, Any]) -> None:
        signed["targets"]["evil"] = {"hashes": {"sha256": digest}, "length": 4}

    tamper(trust_dir, gun, "targets/releases", edit)
    return "evil"


TAMPER = {"targets": tamper_targets, "targets/releases": tamper_releases}


@pytest.mark.parametrize("role", sorted(TAMPER))
def test_verify_detects_the_tampered_file(repo: TrustRepo, tmp_path: Path, role: str) -> None:
    offline = copy_trust_dir(repo.trust_dir, tmp_path / "offline")
    TAMPER[role](offline, repo.gun)

    refused(run_offtrust(offline, "verify", repo.gun, check=False), f"{role}: ")


@pytest.mark.parametrize("role", sorted(TAMPER))
def test_verify_offers_no_resigning_of_the_tampered_file(
    repo: TrustRepo, tmp_path: Path, role: str
) -> None:
    offline = copy_trust_dir(repo.trust_dir, tmp_path / "offline")
    TAMPER[role](offline, repo.gun)

    proc = run_offtrust(offline, "verify", repo.gun, check=False)

    refused(proc, f"{role}: ")
    for laundering in ("offtrust witness", "offtrust resign", "offtrust signer"):
        assert laundering not in proc.stdout + proc.stderr, describe(proc)


@pytest.mark.parametrize(
    ("role", "command"),
    [
        pytest.param("targets", ("signer", "add", "bob", "{gun}", "--key", "{bob}"), id="signer"),
        pytest.param("targets", ("resign", "{gun}", "targets"), id="resign-targets"),
        pytest.param("targets/releases", ("witness", "{gun}", "targets/releases"), id="witness"),
        pytest.param("targets/releases", ("resign", "{gun}", "targets/releases"), id="resign"),
    ],
)
def test_edit_refuses_to_resign_a_tampered_file(
    repo: TrustRepo, tmp_path: Path, role: str, command: tuple[str, ...]
) -> None:
    offline = copy_trust_dir(repo.trust_dir, tmp_path / "offline")
    TAMPER[role](offline, repo.gun)
    bob, _ = make_ecdsa_keypair(tmp_path, "bob")
    args = [arg.format(gun=repo.gun, bob=bob) for arg in command]

    proc = run_offtrust(offline, *args, check=False)

    refused(proc, role)
    assert_nothing_staged(offline, repo.gun)


def test_tampered_targets_never_reach_the_server(
    make_docker_repo: Callable[..., TrustRepo], tmp_path: Path
) -> None:
    repo = make_docker_repo("laundering", **SMALL_REPO)
    offline = copy_trust_dir(repo.trust_dir, tmp_path / "offline")
    attacker = tamper_targets(offline, repo.gun)
    bob, _ = make_ecdsa_keypair(tmp_path, "bob")
    bundle = tmp_path / "laundered.bundle"
    before = served(repo.server, repo.gun)

    # What a user does next. Today every step succeeds; fixed, the first is refused.
    for args in (
        ("signer", "add", "bob", repo.gun, "--key", str(bob)),
        ("stage", "--output", str(bundle)),
        ("publish", str(bundle), *server_args(repo.server)),
    ):
        if run_offtrust(offline, *args, check=False).returncode != 0:
            break

    targets = json.loads(repo.server.metadata(repo.gun, "targets"))["signed"]
    (releases,) = [r for r in targets["delegations"]["roles"] if r["name"] == "targets/releases"]
    assert attacker not in releases["keyids"], (
        "offtrust re-signed the tampered targets.json and notary-server now delegates "
        f"targets/releases to the attacker's key {attacker}"
    )
    assert served(repo.server, repo.gun) == before


# --------------------------------------------------------------------------- #
# 2. A root rotation not signed by the old root; a root version jump
# --------------------------------------------------------------------------- #


def forge_root(repo: TrustRepo, version: int, *, signed_by_old: bool) -> bytes:
    """Root ``version`` of ``repo`` rotated to a new root key (a notary-style certificate).

    Signed by the new key, and by the current root key when ``signed_by_old``.
    """
    md = Metadata.from_bytes(published(repo.trust_dir, repo.gun, "root").read_bytes(), "root")
    key = crypto.generate_private_key("ecdsa")
    cert = crypto.make_root_certificate(key, repo.gun, dt.datetime.now(dt.timezone.utc))
    root = md.signed
    del root.keys[repo.root_key_id]
    root.keys[cert.keyid] = cert
    root.roles["root"].keyids = [cert.keyid]
    root.version = version
    signers = [root_signer(repo)] if signed_by_old else []
    return sign(md, *signers, (cert.keyid, key))


#: id -> (root version, also signed by root v1's key); the published root is v1.
FORGED_ROOTS = {"new-key-only": (2, False), "version-jump": (3, True)}


def test_server_refuses_a_root_not_chained_to_the_old_one(
    make_docker_repo: Callable[..., TrustRepo],
) -> None:
    repo = make_docker_repo("rotation", **SMALL_REPO)
    server = repo.server

    error = refusal(server, repo.gun, {"root": forge_root(repo, 2, signed_by_old=False)})
    assert error.startswith("ErrBadRoot: "), error
    assert "failed to validate data with current trusted certificates" in error

    error = refusal(server, repo.gun, {"root": forge_root(repo, 3, signed_by_old=True)})
    assert error == "ErrBadRoot: Root modifications must increment the version. Current 1, new 3"

    # The same rotation done right (v2, signed by the old and the new key) is accepted.
    status, body = upload(server, repo.gun, {"root": forge_root(repo, 2, signed_by_old=True)})
    assert status == 200, body
    assert version_of(server.metadata(repo.gun, "root")) == 2


def test_bundle_with_a_properly_rotated_root_verifies(
    repo: TrustRepo, staged: tuple[Path, Path], tmp_path: Path
) -> None:
    offline, bundle = staged
    root = forge_root(repo, 2, signed_by_old=True)
    forged = forge_bundle(bundle, repo.gun, {"root": root}, tmp_path / "rotated.bundle")

    run_offtrust(offline, "bundle", "verify", str(forged))
    proc = run_offtrust(offline, "publish", str(forged), "--dry-run", *server_args(repo.server))
    assert f"{repo.gun}: would-publish" in proc.stdout, describe(proc)


@pytest.mark.parametrize("forgery", sorted(FORGED_ROOTS))
def test_bundle_with_a_root_not_chained_to_the_old_one_is_refused(
    repo: TrustRepo, staged: tuple[Path, Path], tmp_path: Path, forgery: str
) -> None:
    offline, bundle = staged
    version, signed_by_old = FORGED_ROOTS[forgery]
    root = forge_root(repo, version, signed_by_old=signed_by_old)
    forged = forge_bundle(bundle, repo.gun, {"root": root}, tmp_path / "forged.bundle")
    before = served(repo.server, repo.gun)

    refused(run_offtrust(offline, "bundle", "verify", str(forged), check=False), "root")
    proc = run_offtrust(
        offline, "publish", str(forged), "--dry-run", *server_args(repo.server), check=False
    )
    refused(proc, "root")
    assert served(repo.server, repo.gun) == before


# --------------------------------------------------------------------------- #
# 3. A key ID not bound to its key content
# --------------------------------------------------------------------------- #

FAKE_KEY_ID = hashlib.sha256(b"offtrust test: a made-up key ID").hexdigest()


def forge_duplicate_key(repo: TrustRepo, offline: Path) -> dict[str, bytes]:
    """targets.json listing alice's key for targets/releases under its ID and FAKE_KEY_ID
    (threshold 2), and the staged targets/releases.json of ``offline`` carrying alice's
    one signature under both IDs. Signed with the real targets and alice keys.
    """
    targets = Metadata.from_bytes(
        published(repo.trust_dir, repo.gun, "targets").read_bytes(), "targets"
    )
    alice_id, alice_key = alice_signer(repo)
    delegations = targets.signed.delegations
    delegations.keys[FAKE_KEY_ID] = delegations.keys[alice_id]
    releases_role = delegations.get("targets/releases")
    assert releases_role is not None
    releases_role.keyids.append(FAKE_KEY_ID)
    releases_role.threshold = 2
    targets.signed.version += 1

    path = staged_path(offline, repo.gun, "targets/releases")
    releases = Metadata.from_bytes(path.read_bytes(), "targets/releases")
    sign(releases, (alice_id, alice_key))
    (signature,) = releases.iter_signatures()
    releases.add_signature(Signature(FAKE_KEY_ID, signature.method, signature.sig))
    return {"targets": sign(targets, targets_signer(repo)), "targets/releases": releases.to_bytes()}


def test_server_refuses_a_key_id_not_bound_to_its_key(
    repo: TrustRepo, staged: tuple[Path, Path]
) -> None:
    before = served(repo.server, repo.gun)

    # Both files in one update: the server checks a key ID only when it verifies a
    # signature made with it (targets.json alone, uploaded in a trial, was accepted).
    error = refusal(repo.server, repo.gun, forge_duplicate_key(repo, staged[0]))

    assert error == "ErrBadTargets: key ID is not valid for key content"
    assert served(repo.server, repo.gun) == before


def test_verify_and_stage_refuse_a_key_id_not_bound_to_its_key(
    repo: TrustRepo, staged: tuple[Path, Path], tmp_path: Path
) -> None:
    offline = copy_trust_dir(staged[0], tmp_path / "offline")
    for role, data in forge_duplicate_key(repo, staged[0]).items():
        staged_path(offline, repo.gun, role).write_bytes(data)
    bundle = tmp_path / "forged.bundle"

    proc = run_offtrust(offline, "verify", repo.gun, check=False)
    refused(proc, "targets", exit_codes=(1, 2))
    proc = run_offtrust(offline, "stage", "--output", str(bundle), check=False)
    refused(proc, "targets", exit_codes=(1, 2))
    assert not bundle.exists()


def test_bundle_verify_refuses_a_key_id_not_bound_to_its_key(
    repo: TrustRepo, staged: tuple[Path, Path], tmp_path: Path
) -> None:
    offline, bundle = staged
    files = forge_duplicate_key(repo, offline)
    forged = forge_bundle(bundle, repo.gun, files, tmp_path / "forged.bundle")

    proc = run_offtrust(offline, "bundle", "verify", str(forged), check=False)

    refused(proc, "targets", exit_codes=(1, 2))


# --------------------------------------------------------------------------- #
# 4. Publishing to a server whose root for the GUN is another document
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def other_server(
    repo: TrustRepo, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[NotaryServer]:
    """A second notary-server (loopback) where ``repo``'s GUN was made again: another root
    and targets key, the same signer key and tag, so every role has the same version."""
    work = tmp_path_factory.mktemp("other-server")
    server = NotaryServer.start(work / "server")
    try:
        config, home = work / "docker", work / "home"
        home.mkdir()
        (alice,) = repo.signers["alice"]
        assert alice.private_key is not None
        run_docker(
            config,
            *("trust", "signer", "add", "alice", repo.gun, "--key", str(alice.public_file)),
            server=server,
            home=home,
        )
        shutil.copy2(alice.private_key, config / "trust" / "private" / alice.private_key.name)
        tag = repo.tags["v1"]
        run_notary(
            config / "trust",
            *("addhash", repo.gun, "v1", str(tag.size), "--sha256", tag.digest),
            *("-r", "targets/releases"),
            server=server,
            home=home,
        )
        run_notary(config / "trust", "publish", repo.gun, server=server, home=home)
        for role in ROLES:
            theirs, ours = server.metadata(repo.gun, role), repo.server.metadata(repo.gun, role)
            assert version_of(theirs) == version_of(ours), role
        assert server.metadata(repo.gun, "root") != repo.server.metadata(repo.gun, "root")
        yield server
    finally:
        server.stop()


def test_notary_refuses_a_server_with_another_root(
    repo: TrustRepo, other_server: NotaryServer, tmp_path: Path
) -> None:
    trust = copy_trust_dir(repo.trust_dir, tmp_path / "trust")
    home = tmp_path / "home"
    before = served(other_server, repo.gun)
    rejected = "could not rotate trust to a new trusted root"

    proc = run_notary(trust, "list", repo.gun, server=other_server, check=False, home=home)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert rejected in proc.stdout + proc.stderr

    tag = ("addhash", repo.gun, "v9", "77", "--sha256", "ab" * 32, "-r", "targets/releases")
    run_notary(trust, *tag, server=other_server, home=home)
    proc = run_notary(trust, "publish", repo.gun, server=other_server, check=False, home=home)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert rejected in proc.stdout + proc.stderr
    assert served(other_server, repo.gun) == before


def test_publish_refuses_a_server_with_another_root(
    repo: TrustRepo, staged: tuple[Path, Path], other_server: NotaryServer, tmp_path: Path
) -> None:
    offline = copy_trust_dir(staged[0], tmp_path / "offline")
    bundle = staged[1]
    before = served(other_server, repo.gun)

    for dry_run in (["--dry-run"], []):
        proc = run_offtrust(
            offline, "publish", str(bundle), *server_args(other_server), *dry_run, check=False
        )
        refused(proc, "root")
        assert f"{repo.gun}: published" not in proc.stdout, describe(proc)
        assert served(other_server, repo.gun) == before


# --------------------------------------------------------------------------- #
# 5. Root certificates notary refuses
# --------------------------------------------------------------------------- #


def root_certificate(key: crypto.PrivateKey, gun: str, case: str) -> PublicKey:
    """The root key's ``ecdsa-x509`` public key, made as ``notary init`` does, but for ``case``."""
    now = dt.datetime.now(dt.timezone.utc)
    if case == "not-yet-valid":
        # notary allows a notBefore up to one day ahead; this one is 30 days ahead.
        return crypto.make_root_certificate(key, gun, now + dt.timedelta(days=30))
    cert = crypto.make_root_certificate(key, gun, now)
    if case == "two-leaves":
        other = crypto.make_root_certificate(key, gun, now)  # the same key, another serial
        return PublicKey.from_bytes(cert.keytype, cert.public_bytes + other.public_bytes)
    assert case == "valid", case
    return cert


def new_repository(gun: str, case: str) -> dict[str, bytes]:
    """Root, targets, snapshot and timestamp v1 of a new GUN, each signed by a new key of
    its own; only the root certificate depends on ``case``."""
    now = dt.datetime.now(dt.timezone.utc)
    private = {
        "root": crypto.generate_private_key("ecdsa"),
        "targets": crypto.generate_private_key("ecdsa"),
        "snapshot": crypto.generate_private_key("ecdsa"),
        "timestamp": crypto.generate_private_key("ed25519"),
    }
    public = {role: key.public_key() for role, key in private.items()}
    public["root"] = root_certificate(private["root"], gun, case)

    def signed(role: str, kind: str, days: int, **fields: Any) -> bytes:
        doc = {"_type": kind, "expires": format_go_time(now + dt.timedelta(days=days))}
        md = Metadata.from_dict({"signed": {**doc, **fields, "version": 1}, "signatures": []}, role)
        return sign(md, (public[role].keyid, private[role]))

    root = signed(
        "root",
        "Root",
        3650,
        consistent_snapshot=False,
        keys={key.keyid: key.to_dict() for key in public.values()},
        roles={role: {"keyids": [key.keyid], "threshold": 1} for role, key in public.items()},
    )
    targets = signed("targets", "Targets", 1095, delegations={"keys": {}, "roles": []}, targets={})
    meta = {
        "root": MetaFile.for_bytes(root).to_dict(),
        "targets": MetaFile.for_bytes(targets).to_dict(),
    }
    snapshot = signed("snapshot", "Snapshot", 1095, meta=meta)
    meta = {"snapshot": MetaFile.for_bytes(snapshot).to_dict()}
    timestamp = signed("timestamp", "Timestamp", 14, meta=meta)
    return {"root": root, "targets": targets, "snapshot": snapshot, "timestamp": timestamp}


def cached_trust_dir(trust_dir: Path, gun: str, files: Mapping[str, bytes]) -> Path:
    """A trust dir whose published cache of ``gun`` holds ``files``."""
    for role, data in files.items():
        path = published(trust_dir, gun, role)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return trust_dir


BAD_CERTIFICATES = ("not-yet-valid", "two-leaves")


@pytest.mark.parametrize("case", BAD_CERTIFICATES)
def test_server_refuses_a_root_certificate(notary_server: NotaryServer, case: str) -> None:
    gun = unique_gun(f"cert-{case}")
    files = new_repository(gun, case)

    error = refusal(notary_server, gun, {r: files[r] for r in ("root", "targets", "snapshot")})

    assert error == (
        "ErrBadRoot: could not validate the path to a trusted root: "
        "unable to retrieve valid leaf certificates"
    )


def test_a_valid_root_certificate_passes_root_validation(
    notary_server: NotaryServer, tmp_path: Path
) -> None:
    gun = unique_gun("cert-valid")
    files = new_repository(gun, "valid")

    # The server gets past the root; it refuses only because the timestamp key
    # is not one it holds (this repository made its own).
    error = refusal(notary_server, gun, {r: files[r] for r in ("root", "targets", "snapshot")})
    assert "leaf certificates" not in error, error
    assert "timestamp keys" in error, error

    trust = cached_trust_dir(tmp_path / "trust", gun, files)
    run_offtrust(trust, "verify", gun, passphrases=None)


@pytest.mark.parametrize("case", BAD_CERTIFICATES)
def test_verify_refuses_a_root_certificate(tmp_path: Path, case: str) -> None:
    gun = unique_gun(f"cert-{case}")
    trust = cached_trust_dir(tmp_path / "trust", gun, new_repository(gun, case))

    proc = run_offtrust(trust, "verify", gun, check=False, passphrases=None)

    refused(proc, "root")
