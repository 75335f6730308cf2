"""What to carry back across the gap (issue 8 item 6), on the in-memory notary-server.

Published edits retire (``fetch`` drops them, readers ignore them before);
``stage`` with no GUN packs only edits not yet published; after a conflict,
``fetch`` + ``rebase`` replays the recorded edits on the new published state.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from builders import EXAMPLE, copy_example, delegation_key, read_tree
from fakes.fake_notary import FakeNotary

from offtrust import crypto
from offtrust.bundle import BundleGUN, read_bundle
from offtrust.errors import ConflictError, NotFoundError, NothingToDoError
from offtrust.model.metadata import TARGETS
from offtrust.ops import staging
from offtrust.ops.context import Context
from offtrust.ops.delegations import signer_add, signer_remove
from offtrust.ops.online import fetch_gun, publish_gun
from offtrust.ops.rebase import DROPPED, REBASED, RETIRED, rebase
from offtrust.ops.targets import target_add, target_remove
from offtrust.passphrase import Passphrases
from offtrust.store.layout import TrustDir

APP = "example.com/app"
ONE = "example.com/one"  # created on the fake by offtrust itself
TWO = "example.com/two"
RELEASES = "targets/releases"
DIGEST = "sha256:" + "cd" * 32
OTHER_DIGEST = "sha256:" + "ef" * 32
ALICE = crypto.load_public_key_pem(
    EXAMPLE["guns"][APP]["signers"]["alice"][0]["public_key_pem"].encode()
)
DAVE = delegation_key(7).public_key()


@pytest.fixture
def fake() -> FakeNotary:
    from builders import EXAMPLE_NOW

    return FakeNotary(now=EXAMPLE_NOW)


@pytest.fixture
def ctx(tmp_path: Path, fake: FakeNotary) -> Context:
    return Context(TrustDir(copy_example(tmp_path / "trust")), clock=lambda: fake.now)


def create(ctx: Context, fake: FakeNotary, gun: str, passphrases: Passphrases) -> None:
    """A GUN made offline and published: fetch (server keys), signer add alice, stage, publish."""
    assert fetch_gun(ctx, gun, fake).status == "new"
    signer_add(ctx, "alice", gun, [ALICE], passphrases)
    assert publish_gun(ctx, bundle(ctx, gun), fake, dry_run=False).status == "published"
    result = fetch_gun(ctx, gun, fake)
    assert "retired" in result.message, result
    assert staging.status(ctx) == []


def bundle(ctx: Context, gun: str | None = None) -> BundleGUN:
    data, packed = staging.build_bundle(ctx, [gun] if gun else None)
    assert len(packed) == 1
    return read_bundle(data).guns[packed[0]]


def other_side(ctx: Context, tmp_path: Path) -> Context:
    """Someone else's copy of the same trust dir (same keys): they publish in between."""
    copy = shutil.copytree(ctx.trust.path, tmp_path / "other")
    return Context(TrustDir(Path(copy)), clock=ctx.clock)


def tags(ctx: Context, gun: str, role: str = RELEASES) -> dict[str, str]:
    md = ctx.repos.load(gun, staged=False).roles[role]
    return {tag: f.hashes["sha256"] for tag, f in md.signed.targets.items()}


def state_file(ctx: Context, gun: str) -> Path:
    return ctx.trust.staged_dir(gun) / "state.json"


# -- retire -------------------------------------------------------------------------------


def test_publish_then_fetch_retires_the_edits(
    ctx: Context, fake: FakeNotary, passphrases: Passphrases
) -> None:
    create(ctx, fake, ONE, passphrases)
    target_add(ctx, ONE, "v1", DIGEST, 42, passphrases)
    assert [row["gun"] for row in staging.status(ctx)] == [ONE]
    assert publish_gun(ctx, bundle(ctx), fake, dry_run=False).status == "published"
    assert [row["gun"] for row in staging.status(ctx)] == [ONE]  # not fetched yet

    result = fetch_gun(ctx, ONE, fake)

    assert result.message.startswith("the staged edits are published now: retired")
    assert staging.status(ctx) == []
    assert not ctx.trust.staged_dir(ONE).exists()
    with pytest.raises(NotFoundError, match="nothing is staged"):
        staging.build_bundle(ctx)
    assert "v1" in tags(ctx, ONE)


def test_readers_treat_published_edits_as_retired_before_a_writer_drops_them(
    ctx: Context, fake: FakeNotary, passphrases: Passphrases
) -> None:
    """The published state arrives without fetch (a trust dir copied from the networked side)."""
    create(ctx, fake, ONE, passphrases)
    target_add(ctx, ONE, "v1", DIGEST, 42, passphrases)
    entry = bundle(ctx)
    assert publish_gun(ctx, entry, fake, dry_run=False).status == "published"
    served = {role: fake.current(ONE, role) for role in entry.files}
    ctx.repos.write_published(ONE, {r: d for r, d in served.items() if d is not None})
    assert ctx.trust.staged_dir(ONE).exists()  # still on disk

    assert staging.status(ctx) == []
    (row,) = staging.status(ctx, [ONE])
    assert row["staged"] is False
    assert row["retired"] is True
    assert ctx.repos.load(ONE).staged == set()  # inspect, diff, verify read this
    assert ctx.repos.staged_info(ONE) is None
    with pytest.raises(NotFoundError, match="published"):
        staging.build_bundle(ctx, [ONE])
    with pytest.raises(NotFoundError, match="nothing is staged"):
        staging.build_bundle(ctx)

    # The next edit starts afresh, on the new published state.
    target_add(ctx, ONE, "v2", DIGEST, 42, passphrases)
    (row,) = staging.status(ctx)
    assert [e.split(" ")[:3] for e in row["edits"]] == [["target", "add", "v2"]]
    info = ctx.repos.staged_info(ONE)
    assert info is not None
    assert info.base[RELEASES] == 1
    assert bundle(ctx).base[RELEASES] == 1


def test_stage_with_no_gun_packs_only_what_is_not_published(
    ctx: Context, fake: FakeNotary, passphrases: Passphrases
) -> None:
    create(ctx, fake, ONE, passphrases)
    create(ctx, fake, TWO, passphrases)
    target_add(ctx, ONE, "v1", DIGEST, 42, passphrases)
    target_add(ctx, TWO, "v1", DIGEST, 42, passphrases)
    data, packed = staging.build_bundle(ctx)
    assert packed == [ONE, TWO]
    both = read_bundle(data)
    assert publish_gun(ctx, both.guns[ONE], fake, dry_run=False).status == "published"
    assert fetch_gun(ctx, ONE, fake).message.startswith("the staged edits are published")

    assert [row["gun"] for row in staging.status(ctx)] == [TWO]
    _, packed = staging.build_bundle(ctx)
    assert packed == [TWO]


# -- rebase ---------------------------------------------------------------------------------


def test_conflict_then_fetch_rebase_stage_publish_holds_both_edits(
    ctx: Context, fake: FakeNotary, passphrases: Passphrases, tmp_path: Path
) -> None:
    create(ctx, fake, ONE, passphrases)
    other = other_side(ctx, tmp_path)
    target_add(other, ONE, "theirs", OTHER_DIGEST, 7, passphrases)
    assert publish_gun(other, bundle(other), fake, dry_run=False).status == "published"
    target_add(ctx, ONE, "ours", DIGEST, 42, passphrases)
    signer_add(ctx, "dave", ONE, [DAVE], passphrases)
    ops = json.loads(state_file(ctx, ONE).read_text())["ops"]
    assert ops == [
        {"op": "target_add", "tag": "ours", "digest": DIGEST, "size": 42, "role": None},
        {"op": "signer_add", "name": "dave", "keys": [DAVE.to_dict()]},
    ]
    with pytest.raises(ConflictError, match="moved past"):
        publish_gun(ctx, bundle(ctx), fake, dry_run=False)

    fetched = fetch_gun(ctx, ONE, fake)
    assert any("offtrust rebase" in w for w in fetched.warnings), fetched.warnings
    (row,) = staging.status(ctx)
    assert RELEASES in row["behind"]
    assert row["rebase"] is True
    with pytest.raises(ConflictError, match="built on") as refused:
        staging.build_bundle(ctx)
    assert "offtrust rebase" in (refused.value.hint or "")

    result = rebase(ctx, ONE, passphrases)

    assert result.status == REBASED, result
    assert result.replayed == ["target add ours", "signer add dave"]
    assert result.skipped == []
    (row,) = staging.status(ctx)
    assert row["behind"] == []
    assert [e.split(" ")[:3] for e in row["edits"]] == [
        ["target", "add", "ours"],
        ["signer", "add", "dave"],
    ]
    assert json.loads(state_file(ctx, ONE).read_text())["ops"] == ops
    assert publish_gun(ctx, bundle(ctx), fake, dry_run=False).status == "published"
    assert fetch_gun(ctx, ONE, fake).message.startswith("the staged edits are published")
    assert set(tags(ctx, ONE)) == {"theirs", "ours"}
    delegated = ctx.repos.load(ONE).targets.signed.delegations
    assert delegated.get(f"{TARGETS}/dave") is not None
    assert staging.status(ctx) == []


def test_rebase_skips_an_edit_the_published_state_already_has(
    ctx: Context, fake: FakeNotary, passphrases: Passphrases, tmp_path: Path
) -> None:
    create(ctx, fake, ONE, passphrases)
    target_add(ctx, ONE, "v1", DIGEST, 42, passphrases)
    assert publish_gun(ctx, bundle(ctx), fake, dry_run=False).status == "published"
    fetch_gun(ctx, ONE, fake)
    other = other_side(ctx, tmp_path)
    signer_add(other, "dave", ONE, [DAVE], passphrases)
    target_remove(other, ONE, "v1", passphrases)
    assert publish_gun(other, bundle(other), fake, dry_run=False).status == "published"
    signer_add(ctx, "dave", ONE, [DAVE], passphrases)  # the same signer, the same key
    target_remove(ctx, ONE, "v1", passphrases)
    target_add(ctx, ONE, "v2", DIGEST, 42, passphrases)
    fetch_gun(ctx, ONE, fake)

    result = rebase(ctx, ONE, passphrases)

    assert result.status == REBASED
    assert result.replayed == ["target add v2"]
    assert [s.split(":")[0] for s in result.skipped] == ["signer add dave", "target remove v1"]
    info = ctx.repos.staged_info(ONE)
    assert info is not None
    assert [op["op"] for op in info.ops or []] == ["target_add"]
    assert publish_gun(ctx, bundle(ctx), fake, dry_run=False).status == "published"
    fetch_gun(ctx, ONE, fake)
    assert set(tags(ctx, ONE)) == {"v2"}


def test_rebase_drops_edits_the_published_state_has_all_of(
    ctx: Context, fake: FakeNotary, passphrases: Passphrases, tmp_path: Path
) -> None:
    create(ctx, fake, ONE, passphrases)
    signer_add(ctx, "dave", ONE, [DAVE], passphrases)
    assert publish_gun(ctx, bundle(ctx), fake, dry_run=False).status == "published"
    fetch_gun(ctx, ONE, fake)
    other = other_side(ctx, tmp_path)
    signer_remove(other, "dave", ONE, passphrases)
    assert publish_gun(other, bundle(other), fake, dry_run=False).status == "published"
    signer_remove(ctx, "dave", ONE, passphrases)
    fetch_gun(ctx, ONE, fake)

    result = rebase(ctx, ONE, passphrases)

    assert result.status == DROPPED
    assert result.skipped[0].startswith("signer remove dave: no signer dave")
    assert staging.status(ctx) == []
    assert not ctx.trust.staged_dir(ONE).exists()


def test_rebase_of_an_edit_that_no_longer_applies_changes_nothing(
    ctx: Context, fake: FakeNotary, passphrases: Passphrases, tmp_path: Path
) -> None:
    """Failing, not skipping: the tag was meant for alice, whom someone else removed."""
    create(ctx, fake, ONE, passphrases)
    other = other_side(ctx, tmp_path)
    signer_remove(other, "alice", ONE, passphrases, force=True)
    assert publish_gun(other, bundle(other), fake, dry_run=False).status == "published"
    target_add(ctx, ONE, "v1", DIGEST, 42, passphrases, role=TARGETS)
    target_add(ctx, ONE, "v2", DIGEST, 42, passphrases, role=f"{TARGETS}/alice")
    fetch_gun(ctx, ONE, fake)
    before = read_tree(ctx.trust.path / "offtrust")

    with pytest.raises(NotFoundError) as failed:
        rebase(ctx, ONE, passphrases)

    message = failed.value.message
    assert "edit 2 (target add v2 targets/alice)" in message, message
    assert "no delegation targets/alice" in message
    assert "nothing was changed" in message
    assert read_tree(ctx.trust.path / "offtrust") == before


def test_rebase_refuses_edits_recorded_without_operations(
    ctx: Context, fake: FakeNotary, passphrases: Passphrases, tmp_path: Path
) -> None:
    """A state.json of offtrust before rebase (no ``ops``) is read, but cannot be replayed."""
    create(ctx, fake, ONE, passphrases)
    other = other_side(ctx, tmp_path)
    target_add(other, ONE, "theirs", DIGEST, 7, passphrases)
    assert publish_gun(other, bundle(other), fake, dry_run=False).status == "published"
    target_add(ctx, ONE, "ours", DIGEST, 42, passphrases)
    path = state_file(ctx, ONE)
    old = json.loads(path.read_text())
    del old["ops"]
    path.write_text(json.dumps(old))
    # A later edit keeps the GUN unreplayable (its earlier edit has no operation).
    target_add(ctx, ONE, "more", DIGEST, 42, passphrases)
    assert "ops" not in json.loads(path.read_text())
    fetched = fetch_gun(ctx, ONE, fake)
    assert any("cannot be replayed" in w for w in fetched.warnings), fetched.warnings
    (row,) = staging.status(ctx)
    assert row["rebase"] is False
    assert row["edits"]
    before = read_tree(ctx.trust.path / "offtrust")

    with pytest.raises(ConflictError, match="without replayable operations"):
        rebase(ctx, ONE, passphrases)
    assert read_tree(ctx.trust.path / "offtrust") == before


def test_rebase_without_a_move_or_after_publication(
    ctx: Context, fake: FakeNotary, passphrases: Passphrases
) -> None:
    create(ctx, fake, ONE, passphrases)
    with pytest.raises(NothingToDoError):
        rebase(ctx, ONE, passphrases)
    target_add(ctx, ONE, "v1", DIGEST, 42, passphrases)
    before = read_tree(ctx.trust.path / "offtrust")
    assert rebase(ctx, ONE, passphrases).status == "up-to-date"
    assert read_tree(ctx.trust.path / "offtrust") == before
    entry = bundle(ctx)
    assert publish_gun(ctx, entry, fake, dry_run=False).status == "published"
    served = {role: fake.current(ONE, role) for role in entry.files}
    ctx.repos.write_published(ONE, {r: d for r, d in served.items() if d is not None})
    assert rebase(ctx, ONE, passphrases).status == RETIRED
    assert not ctx.trust.staged_dir(ONE).exists()
