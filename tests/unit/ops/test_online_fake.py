"""``fetch`` and ``publish`` (ops layer) against the in-memory notary-server of tests/fakes.

The happy paths, and the findings of issue 6 (each reproduced first as a
failing test, then fixed): a frozen timestamp, a server withholding the
timestamp or snapshot, an expired delegation, a server holding another root,
forged root rotations in a bundle, and a server that swaps its root after
an upload.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from builders import (
    EXAMPLE,
    EXAMPLE_NOW,
    RepoBuilder,
    copy_example,
    read_tree,
    root_certificate,
    root_key,
)
from fakes.fake_notary import FakeNotary, host, signed_by

from offtrust import crypto
from offtrust.bundle import BundleGUN, read_bundle, write_bundle
from offtrust.crypto import PrivateKey
from offtrust.errors import (
    ConflictError,
    NetworkError,
    ServerRejectedError,
    VerificationError,
)
from offtrust.model.keys import PublicKey
from offtrust.model.metadata import ROOT, SNAPSHOT, TARGETS, TIMESTAMP, Metadata
from offtrust.ops import staging
from offtrust.ops.context import Context
from offtrust.ops.delegations import signer_add
from offtrust.ops.online import fetch_gun, publish_gun, verify_bundle_gun
from offtrust.ops.targets import target_add
from offtrust.passphrase import Passphrases
from offtrust.store.layout import TrustDir

APP = "example.com/app"  # in the example trust dir; its timestamp key is not ours
NEW = "example.com/fresh"  # created on the fake by offtrust itself (fetch, init, publish)
HOSTED = "example.com/hosted"  # a RepoBuilder repository the fake serves
RELEASES = "targets/releases"
DIGEST = "sha256:" + "cd" * 32
ALICE = crypto.load_public_key_pem(
    EXAMPLE["guns"][APP]["signers"]["alice"][0]["public_key_pem"].encode()
)
ROOT_KEY_ID = EXAMPLE["guns"][APP]["root_canonical_id"]  # the example's local root key


@pytest.fixture
def fake() -> FakeNotary:
    return FakeNotary(now=EXAMPLE_NOW)


@pytest.fixture
def ctx(tmp_path: Path, fake: FakeNotary) -> Context:
    """The example trust dir; its clock is the fake server's."""
    return Context(TrustDir(copy_example(tmp_path / "trust")), clock=lambda: fake.now)


@pytest.fixture
def empty(tmp_path: Path, fake: FakeNotary) -> Context:
    """An empty trust dir; its clock is the fake server's."""
    return Context(TrustDir(tmp_path / "empty"), clock=lambda: fake.now)


# -- helpers ------------------------------------------------------------------------------


def move_targets_on(fake: FakeNotary, repo: RepoBuilder, tag: str) -> None:
    """Someone else publishes a new targets (the server signs snapshot and timestamp)."""
    targets = repo.targets()
    targets.version += 1
    repo.add_target(TARGETS, tag)
    key = repo.keys[TARGETS]
    fake.publish(repo.gun, {TARGETS: signed_by(targets, (key.keyid, key))})


def rotate_root(fake: FakeNotary, repo: RepoBuilder, new_key: PrivateKey) -> None:
    """Publish root v+1 with *new_key* only, signed by the old and the new root key."""
    old = list(zip(repo.root_certs, repo.root_keys, strict=True))
    cert = root_certificate(new_key, repo.gun)
    repo.set_root_certificate(cert, new_key)
    repo.root.version += 1
    fake.publish(repo.gun, {ROOT: signed_by(repo.root, *old, (cert.keyid, new_key))})


def stage(ctx: Context, gun: str) -> BundleGUN:
    data, _ = staging.build_bundle(ctx, [gun])
    return read_bundle(data).guns[gun]


def rebundle(entry: BundleGUN, **files: bytes) -> BundleGUN:
    """*entry* with the given roles replaced (uploaded), through a real bundle."""
    changed = dict(entry.files)
    for role, data in files.items():
        version = Metadata.from_bytes(data, role).signed.version
        changed[role] = dataclasses.replace(
            entry.files[role], data=data, version=version, upload=True
        )
    forged = dataclasses.replace(entry, files=changed)
    return read_bundle(write_bundle([forged])).guns[entry.gun]


def publish_new_gun(ctx: Context, fake: FakeNotary, passphrases: Passphrases) -> None:
    """The air-gapped start of a GUN: fetch (server keys), signer add (init), stage, publish."""
    result = fetch_gun(ctx, NEW, fake)
    assert result.status == "new"
    assert "creates a new repository" in result.message
    signer_add(ctx, "alice", NEW, [ALICE], passphrases)
    result = publish_gun(ctx, stage(ctx, NEW), fake, dry_run=False)
    assert result.status == "published", result
    assert fetch_gun(ctx, NEW, fake).status == "fetched"
    staging.reset(ctx, NEW)


def published_files(ctx: Context, gun: str) -> dict[str, bytes]:
    directory = ctx.trust.published_dir(gun)
    return {
        p.relative_to(directory).as_posix()[: -len(".json")]: p.read_bytes()
        for p in sorted(directory.rglob("*.json"))
    }


def forge_root(
    root_bytes: bytes,
    *,
    version: int,
    signers: list[tuple[str, PrivateKey]],
    new_cert: PublicKey | None = None,
) -> bytes:
    """*root_bytes* at *version*, its root key replaced by *new_cert* if given, signed by *signers*.

    Everything else stays valid, so only the attack is wrong.
    """
    root = Metadata.from_bytes(root_bytes, ROOT).signed
    root.version = version
    if new_cert is not None:
        for keyid in root.roles[ROOT].keyids:
            del root.keys[keyid]
        root.keys[new_cert.keyid] = new_cert
        root.roles[ROOT].keyids = [new_cert.keyid]
    return signed_by(root, *signers)


# -- the fake behaves like notary-server -----------------------------------------------------


def test_fake_hands_out_new_keys_until_a_root_exists(fake: FakeNotary) -> None:
    first = fake.get_server_key(NEW, TIMESTAMP)
    assert first["keytype"] == "ed25519"
    assert first["keyval"]["private"] is None
    assert fake.get_server_key(NEW, TIMESTAMP) != first
    repo = host(fake)
    listed = repo.root.roles[TIMESTAMP].keyids[0]
    assert fake.get_server_key(HOSTED, TIMESTAMP) == repo.root.keys[listed].to_dict()


def test_fake_enforces_root_rotation_and_versions(fake: FakeNotary) -> None:
    repo = host(fake)
    alone = root_key(3)
    cert = root_certificate(alone, HOSTED)
    unsigned = forge_root(
        fake.current(HOSTED, ROOT) or b"",
        version=2,
        signers=[(cert.keyid, alone)],
        new_cert=cert,
    )
    with pytest.raises(ServerRejectedError) as info:
        fake.publish(HOSTED, {ROOT: unsigned})
    assert info.value.code == "INVALID_UPDATE"
    with pytest.raises(ServerRejectedError) as info:
        fake.publish(HOSTED, {TARGETS: fake.current(HOSTED, TARGETS) or b""})
    assert info.value.code == "VERSION"
    rotate_root(fake, repo, root_key(1))
    assert Metadata.from_bytes(fake.current(HOSTED, ROOT) or b"", ROOT).signed.version == 2
    assert len(fake.versions(HOSTED, TIMESTAMP)) == 2


# -- happy paths --------------------------------------------------------------------------


def test_fetch_into_an_empty_trust_dir(empty: Context, fake: FakeNotary) -> None:
    host(fake)
    result = fetch_gun(empty, HOSTED, fake)
    assert result.status == "fetched"
    assert result.roles == {ROOT: 1, SNAPSHOT: 1, TARGETS: 1, RELEASES: 1, TIMESTAMP: 1}
    served = {role: fake.current(HOSTED, role) for role in result.roles}
    assert published_files(empty, HOSTED) == served


def test_edit_stage_publish_and_fetch_back(
    ctx: Context, fake: FakeNotary, passphrases: Passphrases
) -> None:
    publish_new_gun(ctx, fake, passphrases)
    target_add(ctx, NEW, "v1", DIGEST, 42, passphrases)
    entry = stage(ctx, NEW)
    calls = len(fake.publish_calls)

    assert publish_gun(ctx, entry, fake, dry_run=True).status == "would-publish"
    assert len(fake.publish_calls) == calls
    result = publish_gun(ctx, entry, fake, dry_run=False)

    assert result.status == "published", result
    # signer add delegates; the first tag makes the files of releases and of
    # the signer, as docker trust sign does.
    assert result.roles == {RELEASES: 1, "targets/alice": 1}
    assert fake.publish_calls[-1] == (
        NEW,
        {role: entry.files[role].data for role in (RELEASES, "targets/alice")},
    )
    assert fetch_gun(ctx, NEW, fake).status == "fetched"
    releases = ctx.repos.load(NEW, staged=False).roles[RELEASES]
    assert releases.signed.version == 1
    assert "v1" in releases.signed.targets
    assert published_files(ctx, NEW)[RELEASES] == fake.current(NEW, RELEASES)


def test_publishing_the_same_bundle_twice(
    ctx: Context, fake: FakeNotary, passphrases: Passphrases
) -> None:
    publish_new_gun(ctx, fake, passphrases)
    target_add(ctx, NEW, "v1", DIGEST, 42, passphrases)
    entry = stage(ctx, NEW)
    assert publish_gun(ctx, entry, fake, dry_run=False).status == "published"
    calls = len(fake.publish_calls)

    assert publish_gun(ctx, entry, fake, dry_run=False).status == "already-published"
    assert len(fake.publish_calls) == calls


def test_a_stale_base_is_refused(
    ctx: Context, fake: FakeNotary, passphrases: Passphrases, tmp_path: Path
) -> None:
    publish_new_gun(ctx, fake, passphrases)
    other = Context(
        TrustDir(Path(shutil.copytree(ctx.trust.path, tmp_path / "other"))), clock=ctx.clock
    )
    target_add(other, NEW, "theirs", DIGEST, 7, passphrases)
    assert publish_gun(other, stage(other, NEW), fake, dry_run=False).status == "published"
    target_add(ctx, NEW, "ours", DIGEST, 42, passphrases)
    entry = stage(ctx, NEW)
    calls = len(fake.publish_calls)

    with pytest.raises(ConflictError, match=RELEASES):
        publish_gun(ctx, entry, fake, dry_run=False)
    assert len(fake.publish_calls) == calls


def test_fetch_follows_a_root_rotation_chain(empty: Context, fake: FakeNotary) -> None:
    repo = host(fake)
    assert fetch_gun(empty, HOSTED, fake).status == "fetched"
    rotate_root(fake, repo, root_key(1))  # v2: signed by key 0 and key 1
    rotate_root(fake, repo, root_key(2))  # v3: signed by key 1 and key 2

    result = fetch_gun(empty, HOSTED, fake)

    assert result.status == "fetched"
    assert result.roles[ROOT] == 3
    assert published_files(empty, HOSTED)[ROOT] == fake.current(HOSTED, ROOT)
    assert f"GET {HOSTED}/2.root.json" in fake.requests


def test_fetch_after_the_timestamp_expired_gets_a_fresh_one(
    empty: Context, fake: FakeNotary
) -> None:
    """Without freeze, the fake re-signs an expired timestamp on fetch, as notary-server does."""
    repo = host(fake)
    assert fetch_gun(empty, HOSTED, fake).status == "fetched"
    move_targets_on(fake, repo, "v2")
    fake.now += timedelta(days=15)

    result = fetch_gun(empty, HOSTED, fake)

    assert result.status == "fetched"
    assert result.roles[TARGETS] == 2
    assert result.roles[TIMESTAMP] == 3


# -- issue 6 findings (fail on today's code) ------------------------------------------------


def test_fetch_refuses_an_expired_timestamp(empty: Context, fake: FakeNotary) -> None:
    repo = host(fake)
    assert fetch_gun(empty, HOSTED, fake).status == "fetched"
    move_targets_on(fake, repo, "v2")
    fake.freeze(HOSTED)
    fake.now += timedelta(days=15)
    before = read_tree(empty.trust.tuf)

    with pytest.raises(VerificationError, match=TIMESTAMP):
        fetch_gun(empty, HOSTED, fake)
    assert read_tree(empty.trust.tuf) == before


@pytest.mark.parametrize("role", [TIMESTAMP, SNAPSHOT])
def test_fetch_refuses_a_server_missing_timestamp_or_snapshot(
    empty: Context, fake: FakeNotary, role: str
) -> None:
    repo = host(fake)
    assert fetch_gun(empty, HOSTED, fake).status == "fetched"
    move_targets_on(fake, repo, "v2")
    fake.drop(HOSTED, role)
    before = read_tree(empty.trust.tuf)

    with pytest.raises((VerificationError, NetworkError), match=role):
        fetch_gun(empty, HOSTED, fake)
    assert read_tree(empty.trust.tuf) == before


def test_fetch_skips_an_expired_delegation_with_a_warning(empty: Context, fake: FakeNotary) -> None:
    host(fake, delegations=(RELEASES, "targets/qa"), expired=("targets/qa",))

    result = fetch_gun(empty, HOSTED, fake)

    assert result.status == "fetched"
    assert any("targets/qa" in w for w in result.warnings), result.warnings
    assert result.roles[RELEASES] == 1


def test_publish_refuses_a_server_with_another_root(
    ctx: Context, fake: FakeNotary, passphrases: Passphrases
) -> None:
    publish_new_gun(ctx, fake, passphrases)
    target_add(ctx, NEW, "v1", DIGEST, 42, passphrases)
    entry = stage(ctx, NEW)
    # Another server where NEW was created with another root, at the same versions.
    other = FakeNotary(now=fake.now)
    host(other, NEW, delegations=(RELEASES, "targets/alice"), with_files=False)
    assert other.current(NEW, RELEASES) is None
    served = {r: Metadata.from_bytes(other.current(NEW, r) or b"", r) for r in entry.base}
    assert {r: md.signed.version for r, md in served.items()} == entry.base

    with pytest.raises((ConflictError, VerificationError)):
        publish_gun(ctx, entry, other, dry_run=False)
    assert other.publish_calls == []


def _root_signed_by_a_new_key_only(ctx: Context, entry: BundleGUN, _: Passphrases) -> bytes:
    key = root_key(3)
    cert = root_certificate(key, entry.gun)
    return forge_root(entry.files[ROOT].data, version=2, signers=[(cert.keyid, key)], new_cert=cert)


def _root_version_jump(ctx: Context, entry: BundleGUN, passphrases: Passphrases) -> bytes:
    key = ctx.keys.load(ROOT_KEY_ID, passphrases)
    root = Metadata.from_bytes(entry.files[ROOT].data, ROOT).signed
    (cert_id,) = root.roles[ROOT].keyids
    return forge_root(entry.files[ROOT].data, version=3, signers=[(cert_id, key)])


@pytest.mark.parametrize(
    "forge",
    [_root_signed_by_a_new_key_only, _root_version_jump],
    ids=["v2-signed-by-new-key-only", "v1-to-v3"],
)
def test_publish_refuses_a_bundle_with_a_forged_root(
    ctx: Context, fake: FakeNotary, passphrases: Passphrases, forge: Any
) -> None:
    fake.host(APP, published_files(ctx, APP))
    target_add(ctx, APP, "v2", DIGEST, 42, passphrases)
    entry = stage(ctx, APP)
    assert entry.files[ROOT].version == 1
    forged = rebundle(entry, root=forge(ctx, entry, passphrases))

    with pytest.raises(VerificationError, match=ROOT):
        verify_bundle_gun(ctx, forged)
    with pytest.raises(VerificationError, match=ROOT):
        publish_gun(ctx, forged, fake, dry_run=True)
    assert fake.publish_calls == []


def test_publish_refuses_a_server_that_then_serves_another_root(
    ctx: Context, fake: FakeNotary, passphrases: Passphrases, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish_new_gun(ctx, fake, passphrases)
    target_add(ctx, NEW, "v1", DIGEST, 42, passphrases)
    entry = stage(ctx, NEW)
    key = root_key(4)
    cert = root_certificate(key, NEW)
    other_root = forge_root(
        fake.current(NEW, ROOT) or b"", version=1, signers=[(cert.keyid, key)], new_cert=cert
    )
    real_publish = fake.publish

    def publish_then_swap_root(gun: str, files: Mapping[str, bytes]) -> None:
        real_publish(gun, files)
        fake.force_update(gun, {ROOT: other_root})  # consistent with its own new root

    monkeypatch.setattr(fake, "publish", publish_then_swap_root)

    with pytest.raises((VerificationError, ConflictError), match=ROOT):
        publish_gun(ctx, entry, fake, dry_run=False)



class DeadlineWatchingNotary(FakeNotary):
    """A fake that notes, for each request, the overall deadline it runs under."""

    def __init__(self) -> None:
        super().__init__(now=EXAMPLE_NOW)
        self.open_deadlines: list[float] = []
        self.under: list[float | None] = []

    @contextlib.contextmanager
    def _block(self, seconds: float) -> Iterator[None]:
        self.open_deadlines.append(seconds)
        try:
            yield
        finally:
            self.open_deadlines.pop()

    def deadline(self, seconds: float) -> contextlib.AbstractContextManager[None]:
        return self._block(seconds)

    def _note(self) -> None:
        self.under.append(self.open_deadlines[-1] if self.open_deadlines else None)

    def get_metadata(self, gun: str, role: str) -> bytes | None:
        self._note()
        return super().get_metadata(gun, role)

    def get_metadata_by_hash(self, gun: str, role: str, sha256_hex: str) -> bytes | None:
        self._note()
        return super().get_metadata_by_hash(gun, role, sha256_hex)

    def get_metadata_version(self, gun: str, role: str, version: int) -> bytes | None:
        self._note()
        return super().get_metadata_version(gun, role, version)

    def get_server_key(self, gun: str, role: str) -> dict[str, Any]:
        self._note()
        return super().get_server_key(gun, role)

    def publish(self, gun: str, files: Mapping[str, bytes]) -> None:
        self._note()
        super().publish(gun, files)

def test_every_request_of_fetch_and_publish_runs_under_the_overall_deadline(
    tmp_path: Path, passphrases: Passphrases
) -> None:
    """A server answering each request just in time cannot keep one GUN going
    for (requests x 60 s): each GUN's fetch and publish is one deadline block."""
    from offtrust.online.api import GUN_DEADLINE

    watcher = DeadlineWatchingNotary()
    ctx = Context(TrustDir(copy_example(tmp_path / "trust")), clock=lambda: watcher.now)
    publish_new_gun(ctx, watcher, passphrases)
    target_add(ctx, NEW, "v1", DIGEST, 42, passphrases)
    assert publish_gun(ctx, stage(ctx, NEW), watcher, dry_run=False).status == "published"
    assert fetch_gun(ctx, NEW, watcher).status == "fetched"
    assert len(watcher.under) > 10
    assert set(watcher.under) == {GUN_DEADLINE}
