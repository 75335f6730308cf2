"""The trust rules fetch and publish apply to what a server serves.

Against the in-memory fake Notary, each server-side attack is properly signed
(with the repository's own keys) so that only the attack is wrong:

- a replayed older targets (a rollback; notary is laxer, offtrust follows TUF);
- a replayed older delegation, over two fetches (its version floor must
  survive the first fetch that skips it);
- a snapshot that drops a delegation its parent still lists;
- a snapshot the timestamp does not vouch for (never fall back to it);
- a root that rotates the timestamp key resets the timestamp's version floor
  (TUF 5.3.11), and without a rotation an older timestamp is a rollback;
- a server root far past the trusted one: the chain cap;
- publish to a server whose root moved on by a valid rotation: stale, no upload.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from builders import (
    EXAMPLE,
    EXAMPLE_NOW,
    RepoBuilder,
    copy_example,
    delegation_key,
    ed25519_key,
    read_tree,
    root_certificate,
    root_key,
)
from fakes.fake_notary import FakeNotary, host, signed_by

from offtrust import crypto
from offtrust.bundle import read_bundle
from offtrust.crypto import PrivateKey
from offtrust.errors import ConflictError, VerificationError
from offtrust.model.metadata import (
    ROOT,
    SNAPSHOT,
    TARGETS,
    TIMESTAMP,
    Metadata,
    MetaFile,
    RoleKeys,
    Timestamp,
)
from offtrust.model.timefmt import format_go_time
from offtrust.model.verify import MAX_ROOT_CHAIN
from offtrust.ops import staging
from offtrust.ops.context import Context
from offtrust.ops.delegations import signer_add
from offtrust.ops.online import fetch_gun, publish_gun
from offtrust.ops.targets import target_add
from offtrust.passphrase import Passphrases
from offtrust.store.layout import TrustDir

HOSTED = "example.com/hosted"
APP = "example.com/app"
NEW = "example.com/fresh"
RELEASES = "targets/releases"
DIGEST = "sha256:" + "cd" * 32
ALICE = crypto.load_public_key_pem(
    EXAMPLE["guns"][APP]["signers"]["alice"][0]["public_key_pem"].encode()
)


@pytest.fixture
def fake() -> FakeNotary:
    return FakeNotary(now=EXAMPLE_NOW)


@pytest.fixture
def empty(tmp_path: Path, fake: FakeNotary) -> Context:
    return Context(TrustDir(tmp_path / "empty"), clock=lambda: fake.now)


@pytest.fixture
def ctx(tmp_path: Path, fake: FakeNotary) -> Context:
    return Context(TrustDir(copy_example(tmp_path / "trust")), clock=lambda: fake.now)


def publish_role(fake: FakeNotary, repo: RepoBuilder, role: str, tag: str) -> bytes:
    """Someone publishes *role* at version + 1 with a new tag; returns the new bytes."""
    doc = repo.targets(role)
    doc.version += 1
    repo.add_target(role, tag)
    key = repo.keys[TARGETS] if role == TARGETS else delegation_key(1)
    data = signed_by(doc, (key.keyid, key))
    fake.publish(HOSTED, {role: data})
    return data


def published(ctx: Context, gun: str, role: str) -> Metadata[Any] | None:
    path = TrustDir.role_file(ctx.trust.published_dir(gun), role)
    return Metadata.from_bytes(path.read_bytes(), role) if path.exists() else None


def timestamp_for(snapshot: bytes, version: int, key: PrivateKey, fake: FakeNotary) -> bytes:
    ts = Timestamp(
        version=version,
        expires=format_go_time(fake.now + timedelta(days=14)),
        unrecognized={},
        meta={SNAPSHOT: MetaFile.for_bytes(snapshot)},
    )
    return signed_by(ts, (key.public_key().keyid, key))


# -- no role's version may go backwards (TUF, stricter than notary) ------------------------


def test_fetch_refuses_a_replayed_older_targets(empty: Context, fake: FakeNotary) -> None:
    repo = host(fake)
    old_targets = fake.current(HOSTED, TARGETS)
    assert old_targets is not None
    publish_role(fake, repo, TARGETS, "v2")
    assert fetch_gun(empty, HOSTED, fake).roles[TARGETS] == 2
    # The server replays targets v1 (validly signed) under a new snapshot and timestamp.
    fake.force_update(HOSTED, {TARGETS: old_targets})
    before = read_tree(empty.trust.tuf)

    with pytest.raises(VerificationError, match=TARGETS):
        fetch_gun(empty, HOSTED, fake)
    assert read_tree(empty.trust.tuf) == before


def test_a_replayed_older_delegation_is_never_trusted(empty: Context, fake: FakeNotary) -> None:
    """The first fetch may skip the replayed delegation; the floor it had must
    survive, so a second fetch still does not take version 1 back."""
    repo = host(fake)
    old_releases = fake.current(HOSTED, RELEASES)
    assert old_releases is not None
    publish_role(fake, repo, RELEASES, "v2")
    assert fetch_gun(empty, HOSTED, fake).roles[RELEASES] == 2
    fake.force_update(HOSTED, {RELEASES: old_releases})

    for attempt in (1, 2):
        with contextlib.suppress(VerificationError):
            fetch_gun(empty, HOSTED, fake)
        md = published(empty, HOSTED, RELEASES)
        assert md is None or md.signed.version == 2, (
            f"fetch {attempt} after the replay trusts targets/releases v{md.signed.version}"
        )


def test_fetch_refuses_a_snapshot_that_drops_a_delegation(empty: Context, fake: FakeNotary) -> None:
    repo = host(fake)
    assert fetch_gun(empty, HOSTED, fake).status == "fetched"
    snapshot = Metadata.from_bytes(fake.current(HOSTED, SNAPSHOT) or b"", SNAPSHOT).signed
    snapshot.version += 1
    del snapshot.meta[RELEASES]  # targets still delegates to it
    key = repo.keys[SNAPSHOT]
    fake.force_update(HOSTED, {SNAPSHOT: signed_by(snapshot, (key.keyid, key))})
    before = read_tree(empty.trust.tuf)

    with pytest.raises(VerificationError, match=SNAPSHOT):
        fetch_gun(empty, HOSTED, fake)
    assert read_tree(empty.trust.tuf) == before


def test_fetch_never_falls_back_to_a_snapshot_the_timestamp_does_not_vouch_for(
    empty: Context, fake: FakeNotary
) -> None:
    repo = host(fake)
    assert fetch_gun(empty, HOSTED, fake).status == "fetched"
    current = Metadata.from_bytes(fake.current(HOSTED, SNAPSHOT) or b"", SNAPSHOT).signed
    key = repo.keys[SNAPSHOT]
    current.version += 1
    vouched = signed_by(current, (key.keyid, key))  # never served
    current.version += 1
    served = signed_by(current, (key.keyid, key))  # validly signed, but not vouched for
    timestamp = timestamp_for(vouched, 2, repo.keys[TIMESTAMP], fake)
    fake.replace(HOSTED, TIMESTAMP, timestamp)
    fake.replace(HOSTED, SNAPSHOT, served)
    before = read_tree(empty.trust.tuf)

    with pytest.raises(VerificationError, match=SNAPSHOT):
        fetch_gun(empty, HOSTED, fake)
    assert read_tree(empty.trust.tuf) == before


# -- fast-forward recovery (TUF 5.3.11) ------------------------------------------------------


def _timestamp_back_to_v1(fake: FakeNotary, repo: RepoBuilder, *, rotate: bool) -> None:
    """The server's timestamp starts again at v1; with *rotate*, under a new timestamp
    key that root v2 lists (root v2 signed by the unchanged root key)."""
    key = repo.keys[TIMESTAMP]
    if rotate:
        key = ed25519_key(4242)
        root = repo.root
        old = root.roles[TIMESTAMP].keyids[0]
        del root.keys[old]
        root.keys[key.public_key().keyid] = key.public_key()
        root.roles[TIMESTAMP] = RoleKeys(keyids=[key.public_key().keyid], threshold=1)
        root.version += 1
        signers = list(zip(repo.root_certs, repo.root_keys, strict=True))
        fake.force_update(HOSTED, {ROOT: signed_by(root, *signers)})  # new snapshot, no ts
    snapshot = fake.current(HOSTED, SNAPSHOT) or b""
    fake.force_update(HOSTED, {TIMESTAMP: timestamp_for(snapshot, 1, key, fake)})


def test_a_root_that_rotates_the_timestamp_key_resets_its_version_floor(
    empty: Context, fake: FakeNotary
) -> None:
    repo = host(fake)
    publish_role(fake, repo, TARGETS, "v2")
    assert fetch_gun(empty, HOSTED, fake).roles[TIMESTAMP] >= 2
    _timestamp_back_to_v1(fake, repo, rotate=True)

    result = fetch_gun(empty, HOSTED, fake)

    assert result.status == "fetched"
    assert result.roles[ROOT] == 2
    assert result.roles[TIMESTAMP] == 1


def test_without_a_rotation_an_older_timestamp_is_a_rollback(
    empty: Context, fake: FakeNotary
) -> None:
    repo = host(fake)
    publish_role(fake, repo, TARGETS, "v2")
    assert fetch_gun(empty, HOSTED, fake).roles[TIMESTAMP] >= 2
    _timestamp_back_to_v1(fake, repo, rotate=False)
    before = read_tree(empty.trust.tuf)

    with pytest.raises(VerificationError, match=TIMESTAMP):
        fetch_gun(empty, HOSTED, fake)
    assert read_tree(empty.trust.tuf) == before


# -- the root chain is followed up to a fixed cap -------------------------------------------


def _serve_root_version(fake: FakeNotary, repo: RepoBuilder, version: int) -> None:
    root = repo.root
    root.version = version
    signers = list(zip(repo.root_certs, repo.root_keys, strict=True))
    fake.replace(HOSTED, ROOT, signed_by(root, *signers))


def _root_versions_requested(fake: FakeNotary) -> list[str]:
    return [r for r in fake.requests if r.endswith(".root.json") and r.startswith("GET ")]


@pytest.mark.parametrize("past", [MAX_ROOT_CHAIN + 1, MAX_ROOT_CHAIN + 50])
def test_fetch_refuses_a_root_more_steps_past_the_trusted_one_than_the_cap(
    empty: Context, fake: FakeNotary, past: int
) -> None:
    """The model follows at most MAX_ROOT_CHAIN steps; fetch must not download
    the intermediate roots of a chain it will refuse anyway."""
    repo = host(fake)
    assert fetch_gun(empty, HOSTED, fake).status == "fetched"
    _serve_root_version(fake, repo, 1 + past)
    before = read_tree(empty.trust.tuf)
    fake.requests.clear()

    with pytest.raises(VerificationError, match=str(MAX_ROOT_CHAIN)):
        fetch_gun(empty, HOSTED, fake)
    assert read_tree(empty.trust.tuf) == before
    assert _root_versions_requested(fake) == []


# -- publish pins the root: a valid rotation on the server makes the bundle stale -----------


def test_publish_to_a_server_whose_root_rotated_since_the_bundle_is_stale(
    ctx: Context, fake: FakeNotary, passphrases: Passphrases
) -> None:
    # A GUN made by offtrust itself and published to the fake (which holds its
    # timestamp and snapshot keys, so it signs both after the rotation below).
    assert fetch_gun(ctx, NEW, fake).status == "new"
    signer_add(ctx, "alice", NEW, [ALICE], passphrases)
    data, _ = staging.build_bundle(ctx, [NEW])
    assert publish_gun(ctx, read_bundle(data).guns[NEW], fake, dry_run=False).status == (
        "published"
    )
    assert fetch_gun(ctx, NEW, fake).status == "fetched"
    staging.reset(ctx, NEW)
    target_add(ctx, NEW, "v1", DIGEST, 42, passphrases)
    data, _ = staging.build_bundle(ctx, [NEW])
    entry = read_bundle(data).guns[NEW]

    # Someone rotates the root key on the server, validly: v2 signed by v1's key and the new one.
    (info,) = [k for k in ctx.keys.list() if k.role == ROOT]  # docker reuses the one root key
    old_key = ctx.keys.load(info.keyid, passphrases)
    root = Metadata.from_bytes(fake.current(NEW, ROOT) or b"", ROOT).signed
    (old_cert_id,) = root.roles[ROOT].keyids
    new_key = root_key(7)
    cert = root_certificate(new_key, NEW)
    del root.keys[old_cert_id]
    root.keys[cert.keyid] = cert
    root.roles[ROOT].keyids = [cert.keyid]
    root.version = 2
    fake.force_update(NEW, {ROOT: signed_by(root, (old_cert_id, old_key), (cert.keyid, new_key))})
    calls = len(fake.publish_calls)

    with pytest.raises(ConflictError, match="root moved"):
        publish_gun(ctx, entry, fake, dry_run=False)
    assert len(fake.publish_calls) == calls
