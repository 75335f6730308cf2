"""``key rotate`` offline, on a copy of the example trust directory (made by the real tools).

example.com/app has a server-managed snapshot, example.com/tools a local one;
both share one root private key (notary reuses it, with one certificate per GUN).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from builders import EXAMPLE, EXAMPLE_NOW, read_tree
from fakes.fake_notary import FakeNotary

from offtrust import crypto
from offtrust.bundle import read_bundle
from offtrust.errors import (
    InvalidKeyError,
    NotFoundError,
    NothingToDoError,
    UsageError,
)
from offtrust.model.metadata import ROOT, SNAPSHOT, TARGETS, Metadata
from offtrust.model.verify import count_valid_signatures, verify_repository
from offtrust.ops import staging
from offtrust.ops.context import Context
from offtrust.ops.edit import resign
from offtrust.ops.online import bundle_state, fetch_gun
from offtrust.ops.rebase import _replay as replay
from offtrust.ops.rotate import rotate_key
from offtrust.ops.verify import load_and_verify, verify_state
from offtrust.passphrase import Passphrases
from offtrust.store.repo import read_server_keys, write_server_keys

APP, TOOLS = "example.com/app", "example.com/tools"
ROOT_CANONICAL = EXAMPLE["guns"][APP]["root_canonical_id"]


def published(ctx: Context, gun: str, role: str) -> Metadata[Any]:
    return ctx.repos.load(gun, staged=False).roles[role]


def staged(ctx: Context, gun: str, role: str) -> Metadata[Any]:
    state = ctx.repos.load(gun)
    assert role in state.staged, role
    return state.roles[role]


def errors(ctx: Context, gun: str) -> list[str]:
    return [str(p) for p in verify_state(ctx, ctx.repos.load(gun)).errors]


def signed_by(md: Metadata[Any], keys: dict[str, Any]) -> set[str]:
    return count_valid_signatures(md, keys, Context.at(".").crypto)


def root_keys(md: Metadata[Any]) -> dict[str, Any]:
    keys: dict[str, Any] = md.signed.role_keys(ROOT)
    return keys


def write_pem(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


# -- root ----------------------------------------------------------------------------------


def test_root_rotation_is_signed_by_the_old_and_the_new_root(
    ctx: Context, passphrases: Passphrases
) -> None:
    old = published(ctx, APP, ROOT)
    tuf_before = read_tree(ctx.trust.tuf)

    result = rotate_key(ctx, APP, ROOT, passphrases)

    new = staged(ctx, APP, ROOT)
    assert new.signed.version == old.signed.version + 1
    assert new.signed.expires_at == EXAMPLE_NOW + timedelta(days=3650)
    (new_id,) = new.signed.roles[ROOT].keyids
    assert [k["keyid"] for k in result.keys] == [new_id]
    assert result.keys[0]["new"]
    # The old root key is dropped from keys; the other roles keep theirs.
    assert set(old.signed.roles[ROOT].keyids).isdisjoint(new.signed.keys)
    for role in (TARGETS, SNAPSHOT, "timestamp"):
        assert new.signed.roles[role].keyids == old.signed.roles[role].keyids
    # Signed by the trusted root's key and by the new one: the chain rule holds.
    assert signed_by(new, root_keys(old)) == {k.keyid for k in root_keys(old).values()}
    assert signed_by(new, root_keys(new)) == {new_id}
    assert errors(ctx, APP) == []
    # The new key: a certificate CN=GUN over a stored ECDSA key with notary's validity.
    cert = new.signed.keys[new_id]
    facts = crypto.certificate_info(cert)
    assert facts.common_name == APP
    assert facts.not_after - facts.not_before == timedelta(days=3650)
    stored = {k.keyid: k for k in ctx.keys.list()}
    info = stored[crypto.canonical_keyid(cert)]
    assert (info.role, info.gun, info.encrypted) == (ROOT, "", True)
    assert ROOT_CANONICAL in stored  # never removed (notary keeps old root keys)
    assert read_tree(ctx.trust.tuf) == tuf_before
    # status shows the edit.
    (row,) = staging.status(ctx, [APP])
    assert row["edits"] == [f"key rotate root: {new_id[:12]}, threshold 1"]


def test_root_rotation_stages_and_bundles(
    ctx: Context, passphrases: Passphrases, tmp_path: Path
) -> None:
    rotate_key(ctx, APP, ROOT, passphrases)
    data, guns = staging.build_bundle(ctx, [APP])
    assert guns == [APP]
    bundle = read_bundle(data, source="test.bundle")
    entry = bundle.guns[APP]
    assert entry.files[ROOT].upload
    # The bundle, checked from the root it was built on, satisfies the chain rule.
    report = verify_repository(bundle_state(entry), EXAMPLE_NOW, crypto=ctx.crypto)
    assert report.errors == [], [str(p) for p in report.errors]


def test_rotating_twice_before_publishing_still_chains_from_the_published_root(
    ctx: Context, passphrases: Passphrases
) -> None:
    old = published(ctx, APP, ROOT)
    rotate_key(ctx, APP, ROOT, passphrases)
    rotate_key(ctx, APP, ROOT, passphrases)

    new = staged(ctx, APP, ROOT)
    assert new.signed.version == old.signed.version + 1
    assert signed_by(new, root_keys(old)) == {k.keyid for k in root_keys(old).values()}
    assert len(signed_by(new, root_keys(new))) == 1
    assert errors(ctx, APP) == []


def test_renewing_the_root_certificate_over_the_same_key(
    ctx: Context, passphrases: Passphrases
) -> None:
    old = published(ctx, APP, ROOT)
    (old_id,) = old.signed.roles[ROOT].keyids
    keys_before = sorted(k.keyid for k in ctx.keys.list())

    result = rotate_key(ctx, APP, ROOT, passphrases, key_specs=[ROOT_CANONICAL])

    new = staged(ctx, APP, ROOT)
    (new_id,) = new.signed.roles[ROOT].keyids
    assert new_id != old_id
    assert crypto.canonical_keyid(new.signed.keys[new_id]) == ROOT_CANONICAL
    assert not result.keys[0]["new"]
    assert result.keys[0]["local"]
    assert sorted(k.keyid for k in ctx.keys.list()) == keys_before  # nothing new stored
    facts = crypto.certificate_info(new.signed.keys[new_id])
    assert facts.not_before.replace(tzinfo=None) == EXAMPLE_NOW.replace(tzinfo=None)
    assert errors(ctx, APP) == []


def test_root_key_from_a_private_key_file_is_stored_as_a_root_key(
    ctx: Context, passphrases: Passphrases, tmp_path: Path
) -> None:
    key = crypto.generate_private_key("ecdsa")
    pem = write_pem(tmp_path / "root.key", crypto.encode_private_key(key, None, {}))

    rotate_key(ctx, APP, ROOT, passphrases, key_specs=[str(pem)])

    new = staged(ctx, APP, ROOT)
    (new_id,) = new.signed.roles[ROOT].keyids
    assert crypto.canonical_keyid(new.signed.keys[new_id]) == key.keyid
    info = {k.keyid: k for k in ctx.keys.list()}[key.keyid]
    assert (info.role, info.encrypted) == (ROOT, True)
    assert errors(ctx, APP) == []


def test_threshold_two_with_a_certificate_held_elsewhere(
    ctx: Context, passphrases: Passphrases, tmp_path: Path
) -> None:
    # The second holder's key never comes here: only its certificate (what
    # `offtrust key export KEYID --public --gun GUN` hands over).
    elsewhere = crypto.generate_private_key("ecdsa")
    cert = crypto.make_root_certificate(elsewhere, APP, EXAMPLE_NOW)
    cert_file = tmp_path / "holder.crt"
    cert_file.write_bytes(crypto.encode_public_key_pem(cert))

    result = rotate_key(
        ctx, APP, ROOT, passphrases, key_specs=[ROOT_CANONICAL, str(cert_file)], threshold=2
    )

    new = staged(ctx, APP, ROOT)
    assert new.signed.roles[ROOT].threshold == 2
    assert cert.keyid in new.signed.roles[ROOT].keyids
    assert [k["local"] for k in result.keys] == [True, False]
    assert any("bundle sign" in w for w in result.commit.warnings), result.commit.warnings
    assert len(signed_by(new, root_keys(new))) == 1


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda k: crypto.encode_public_key_pem(k.public_key()), "certificate"),
        (
            lambda k: crypto.encode_public_key_pem(
                crypto.make_root_certificate(k, "example.com/other", EXAMPLE_NOW)
            ),
            "example.com/other",
        ),
        (
            lambda k: crypto.encode_public_key_pem(
                crypto.make_root_certificate(k, APP, EXAMPLE_NOW - timedelta(days=20), days=10)
            ),
            "expired",
        ),
    ],
    ids=["public-key", "other-gun", "expired"],
)
def test_unusable_root_keys_are_refused(
    ctx: Context, passphrases: Passphrases, tmp_path: Path, make: Any, words: str
) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(make(crypto.generate_private_key("ecdsa")))
    before = read_tree(ctx.trust.path)

    with pytest.raises(InvalidKeyError, match=words) as caught:
        rotate_key(ctx, APP, ROOT, passphrases, key_specs=[str(path)])

    assert caught.value.hint
    assert read_tree(ctx.trust.path) == before


@pytest.mark.parametrize(
    ("role", "kwargs", "error", "words"),
    [
        ("timestamp", {}, UsageError, "server"),
        ("targets/releases", {}, UsageError, "root, targets or snapshot"),
        (ROOT, {"threshold": 2}, UsageError, "between 1 and"),
        (ROOT, {"threshold": 0}, UsageError, "between 1 and"),
        (TARGETS, {"threshold": 2}, UsageError, "root keys"),
        (ROOT, {"server_managed": True}, UsageError, "snapshot key only"),
        (ROOT, {"key_specs": ["ab" * 32]}, NotFoundError, "no local key"),
        (ROOT, {"key_specs": [ROOT_CANONICAL, ROOT_CANONICAL]}, UsageError, "same key"),
    ],
    ids=[
        "timestamp",
        "delegation",
        "threshold-above-keys",
        "threshold-zero",
        "threshold-not-root",
        "server-managed-root",
        "unknown-keyid",
        "same-key-twice",
    ],
)
def test_bad_rotations_change_nothing(
    ctx: Context,
    passphrases: Passphrases,
    role: str,
    kwargs: dict[str, Any],
    error: type[Exception],
    words: str,
) -> None:
    before = read_tree(ctx.trust.path)
    with pytest.raises(error, match=words):
        rotate_key(ctx, APP, role, passphrases, **kwargs)
    assert read_tree(ctx.trust.path) == before


def test_a_targets_key_is_not_a_root_key(ctx: Context, passphrases: Passphrases) -> None:
    targets_key = EXAMPLE["guns"][APP]["targets_key_id"]
    with pytest.raises(UsageError, match="not a root key"):
        rotate_key(ctx, APP, ROOT, passphrases, key_specs=[targets_key])


# -- targets and snapshot ---------------------------------------------------------------


def test_targets_rotation_resigns_targets_and_the_local_snapshot(
    ctx: Context, passphrases: Passphrases
) -> None:
    old_root = published(ctx, TOOLS, ROOT)
    old_targets = published(ctx, TOOLS, TARGETS)

    result = rotate_key(ctx, TOOLS, TARGETS, passphrases)

    assert result.commit.changed == [ROOT, SNAPSHOT, TARGETS]
    root = staged(ctx, TOOLS, ROOT)
    (new_id,) = root.signed.roles[TARGETS].keyids
    assert new_id not in old_root.signed.keys
    assert old_root.signed.roles[TARGETS].keyids[0] not in root.signed.keys
    targets = staged(ctx, TOOLS, TARGETS)
    assert targets.signed.version == old_targets.signed.version + 1
    assert targets.signed.targets == old_targets.signed.targets
    assert signed_by(targets, root.signed.role_keys(TARGETS)) == {new_id}
    info = {k.keyid: k for k in ctx.keys.list()}[new_id]
    assert (info.role, info.gun) == (TARGETS, TOOLS)
    # The root keys did not change: root is signed by its own key only.
    assert root.signed.roles[ROOT].keyids == old_root.signed.roles[ROOT].keyids
    assert errors(ctx, TOOLS) == []


def test_local_snapshot_rotation(ctx: Context, passphrases: Passphrases) -> None:
    result = rotate_key(ctx, TOOLS, SNAPSHOT, passphrases)

    assert result.commit.changed == [ROOT, SNAPSHOT]
    assert not result.commit.snapshot_by_server
    root = staged(ctx, TOOLS, ROOT)
    snapshot = staged(ctx, TOOLS, SNAPSHOT)
    (new_id,) = root.signed.roles[SNAPSHOT].keyids
    assert signed_by(snapshot, root.signed.role_keys(SNAPSHOT)) == {new_id}
    assert errors(ctx, TOOLS) == []


def test_targets_rotation_to_a_given_public_key_needs_the_key_to_sign(
    ctx: Context, passphrases: Passphrases, tmp_path: Path
) -> None:
    key = crypto.generate_private_key("ecdsa")
    pub = tmp_path / "targets.pub"
    pub.write_bytes(crypto.encode_public_key_pem(key.public_key()))
    before = read_tree(ctx.trust.path)
    with pytest.raises(Exception, match="no local private key can sign targets"):
        rotate_key(ctx, TOOLS, TARGETS, passphrases, key_specs=[str(pub)])
    assert read_tree(ctx.trust.path) == before


def _record_server_keys(ctx: Context, gun: str) -> dict[str, Any]:
    keys = {
        role: crypto.generate_private_key("ed25519").public_key().to_dict()
        for role in ("timestamp", SNAPSHOT)
    }
    write_server_keys(ctx.trust, gun, keys)
    return keys


def test_server_managed_snapshot_rotation(ctx: Context, passphrases: Passphrases) -> None:
    server_key = _record_server_keys(ctx, TOOLS)[SNAPSHOT]

    result = rotate_key(ctx, TOOLS, SNAPSHOT, passphrases, server_managed=True)

    assert result.commit.changed == [ROOT]
    assert result.commit.snapshot_by_server
    root = staged(ctx, TOOLS, ROOT)
    (keyid,) = root.signed.roles[SNAPSHOT].keyids
    assert root.signed.keys[keyid].to_dict() == server_key
    # The old snapshot (signed by the old key) is left for the server to replace.
    assert errors(ctx, TOOLS) == []
    data, _ = staging.build_bundle(ctx, [TOOLS])
    entry = read_bundle(data, source="b").guns[TOOLS]
    assert [r for r, f in entry.files.items() if f.upload] == [ROOT]
    report = verify_repository(bundle_state(entry), EXAMPLE_NOW, crypto=ctx.crypto)
    assert report.errors == [], [str(p) for p in report.errors]
    # Later edits still work on top of it, and leave the snapshot to the server.
    later = resign(ctx, TOOLS, [TARGETS], passphrases)
    assert later.snapshot_by_server


def test_server_managed_snapshot_needs_the_recorded_key(
    ctx: Context, passphrases: Passphrases
) -> None:
    with pytest.raises(NotFoundError, match="not recorded") as caught:
        rotate_key(ctx, TOOLS, SNAPSHOT, passphrases, server_managed=True)
    assert f"offtrust fetch {TOOLS}" in (caught.value.hint or "")


def test_server_managed_snapshot_already_there(ctx: Context, passphrases: Passphrases) -> None:
    root = published(ctx, APP, ROOT)
    current = root.signed.role_keys(SNAPSHOT)
    write_server_keys(
        ctx.trust,
        APP,
        {
            "timestamp": next(iter(root.signed.role_keys("timestamp").values())).to_dict(),
            SNAPSHOT: next(iter(current.values())).to_dict(),
        },
    )
    with pytest.raises(NothingToDoError):
        rotate_key(ctx, APP, SNAPSHOT, passphrases, server_managed=True)


# -- resign root with a new expiry -------------------------------------------------------


def test_resign_root_with_a_new_expiry(ctx: Context, passphrases: Passphrases) -> None:
    old = published(ctx, APP, ROOT)
    resign(ctx, APP, [ROOT], passphrases, expires_in=timedelta(days=730))
    new = staged(ctx, APP, ROOT)
    assert new.signed.version == old.signed.version + 1
    assert new.signed.expires_at == EXAMPLE_NOW + timedelta(days=730)
    assert new.signed.roles == old.signed.roles
    assert errors(ctx, APP) == []


# -- rebase and fetch ---------------------------------------------------------------------


def test_rebase_replays_a_rotation_with_the_same_keys(
    ctx: Context, passphrases: Passphrases
) -> None:
    rotate_key(ctx, TOOLS, TARGETS, passphrases)
    chosen = staged(ctx, TOOLS, ROOT).signed.roles[TARGETS].keyids
    info = ctx.repos.staged_info(TOOLS)
    assert info is not None
    assert info.ops is not None
    (op,) = info.ops
    assert (op["op"], op["role"], op["threshold"]) == ("key_rotate", TARGETS, 1)
    ctx.repos.reset(TOOLS)

    # What rebase runs for the recorded operation, on the (new) published state.
    replay(ctx, TOOLS, json.loads(json.dumps(op)), passphrases)

    assert staged(ctx, TOOLS, ROOT).signed.roles[TARGETS].keyids == chosen
    assert errors(ctx, TOOLS) == []


def test_fetch_records_the_server_keys_of_an_existing_gun(ctx: Context, tmp_path: Path) -> None:
    server = FakeNotary(EXAMPLE_NOW)
    state = ctx.repos.load(APP, staged=False)
    server.host(APP, {role: md.to_bytes() for role, md in state.roles.items()})
    assert read_server_keys(ctx.trust, APP) == {}

    fetch_gun(ctx, APP, server)

    recorded = read_server_keys(ctx.trust, APP)
    root = state.roles[ROOT].signed
    for role in ("timestamp", SNAPSHOT):
        assert recorded[role] == next(iter(root.role_keys(role).values())).to_dict()


# -- the fix verify names for an expiring root certificate -------------------------------


def test_verify_names_the_renewal_of_an_expiring_root_certificate(
    ctx: Context, passphrases: Passphrases
) -> None:
    cert = next(iter(root_keys(published(ctx, APP, ROOT)).values()))
    end = crypto.certificate_info(cert).not_after
    later = Context(ctx.trust, clock=lambda: end - timedelta(days=10))

    report = load_and_verify(later, APP)
    (problem,) = [p for p in report.problems if p.role == ROOT and "certificate" in p.reason]
    assert "expires soon" in problem.reason
    assert problem.fix == f"offtrust key rotate {APP} root --key {ROOT_CANONICAL}"

    # The fix works: a new certificate over the same key, and the warning is gone.
    rotate_key(later, APP, ROOT, passphrases, key_specs=[ROOT_CANONICAL])
    after = load_and_verify(later, APP)
    assert [p for p in after.problems if p.role == ROOT and "certificate" in p.reason] == []
    assert [str(p) for p in after.errors_of(ROOT)] == []


# -- the command ---------------------------------------------------------------------------


def test_cli_rotates_and_prints_the_new_key_id(ctx: Context) -> None:
    from builders import REPOSITORY_PASSPHRASE, ROOT_PASSPHRASE
    from typer.testing import CliRunner

    from offtrust.cli import app

    env = {
        "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE": ROOT_PASSPHRASE,
        "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": REPOSITORY_PASSPHRASE,
    }
    trust = str(ctx.trust.path)
    result = CliRunner().invoke(app, ["-d", trust, "key", "rotate", APP, "root"], env=env)
    assert result.exit_code == 0, result.stderr
    (new_id,) = result.stdout.split()
    assert staged(ctx, APP, ROOT).signed.roles[ROOT].keyids == [new_id]
    assert f"{APP}: staged root v2" in result.stderr

    before = read_tree(ctx.trust.path)
    result = CliRunner().invoke(app, ["-d", trust, "key", "rotate", APP, "timestamp"], env=env)
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("offtrust: error:")]
    assert len(errors) == 1, result.stderr
    assert "timestamp" in errors[0]
    assert read_tree(ctx.trust.path) == before
