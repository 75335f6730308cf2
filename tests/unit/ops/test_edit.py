"""Offline edits on a copy of the example trust directory, through the ops layer."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from builders import EXAMPLE, EXAMPLE_NOW, read_tree

from offtrust import crypto
from offtrust.bundle import read_bundle
from offtrust.errors import MissingKeyError, NotFoundError, WrongPassphraseError
from offtrust.model.metadata import Metadata
from offtrust.model.verify import count_valid_signatures
from offtrust.ops import staging
from offtrust.ops.context import Context
from offtrust.ops.delegations import (
    delegation_purge,
    delegation_remove,
    signer_add,
    signer_remove,
    witness,
)
from offtrust.ops.targets import target_add, target_remove
from offtrust.ops.verify import verify_state
from offtrust.passphrase import Passphrases
from offtrust.store.layout import TrustDir

APP, TOOLS = "example.com/app", "example.com/tools"
RELEASES = "targets/releases"
DIGEST_HEX = "cd" * 32
DIGEST = f"sha256:{DIGEST_HEX}"
ALICE = EXAMPLE["guns"][APP]["signers"]["alice"][0]["key_id"]
BOB = EXAMPLE["guns"][APP]["signers"]["bob"][0]["key_id"]


def published(ctx: Context, gun: str, role: str) -> Metadata[Any]:
    return ctx.repos.load(gun, staged=False).roles[role]


def staged_bytes(ctx: Context, gun: str, role: str) -> bytes:
    return TrustDir.role_file(ctx.trust.staged_dir(gun), role).read_bytes()


def assert_verifies(ctx: Context, gun: str) -> None:
    report = verify_state(ctx, ctx.repos.load(gun))
    assert report.errors == [], [str(p) for p in report.errors]


# -- target add -------------------------------------------------------------------------


def test_target_add_bumps_the_version_once(ctx: Context, passphrases: Passphrases) -> None:
    before = published(ctx, APP, RELEASES).signed.version
    tuf_before = read_tree(ctx.trust.tuf)

    result = target_add(ctx, APP, "v2", DIGEST, 42, passphrases, role=RELEASES)

    assert result.changed == [RELEASES]
    assert result.versions == {RELEASES: before + 1}
    assert result.snapshot_by_server  # example.com/app's snapshot key is on the server
    md = ctx.repos.load(APP).roles[RELEASES]
    assert md.signed.version == before + 1
    assert md.signed.expires_at == EXAMPLE_NOW + timedelta(days=1095)
    target = md.signed.targets["v2"]
    assert target.length == 42
    assert target.hashes == {"sha256": base64.b64encode(bytes.fromhex(DIGEST_HEX)).decode()}
    assert "v1.0" in md.signed.targets  # the published tag stays
    assert_verifies(ctx, APP)
    assert read_tree(ctx.trust.tuf) == tuf_before


def test_target_add_signs_into_every_role_docker_signs_into(
    ctx: Context, passphrases: Passphrases
) -> None:
    # docker trust sign: targets/releases and every signer role whose key is
    # local (alice's and bob's keys are both here), so inspect names them.
    result = target_add(ctx, APP, "v2", DIGEST, 42, passphrases)
    alice, bob = "targets/alice", "targets/bob"
    assert result.changed == [alice, bob, RELEASES]
    state = ctx.repos.load(APP)
    for role in (alice, bob, RELEASES):
        assert "v2" in state.roles[role].signed.targets
    assert_verifies(ctx, APP)
    from offtrust.ops.inspect import inspect_repo

    doc = inspect_repo(state)
    (v2,) = [t for t in doc["SignedTags"] if t["SignedTag"] == "v2"]
    assert sorted(v2["Signers"]) == ["alice", "bob"]


def test_target_remove_revokes_from_every_role_docker_can_sign(
    ctx: Context, passphrases: Passphrases
) -> None:
    # v1.0 is in targets/releases and targets/alice (fixtures/README.md).
    result = target_remove(ctx, APP, "v1.0", passphrases)
    assert set(result.changed) == {"targets/alice", RELEASES}
    state = ctx.repos.load(APP)
    assert "v1.0" not in state.roles[RELEASES].signed.targets
    assert "v1.0" not in state.roles["targets/alice"].signed.targets
    assert_verifies(ctx, APP)


def test_target_add_signs_with_every_local_key_of_the_role(
    ctx: Context, passphrases: Passphrases
) -> None:
    target_add(ctx, APP, "v2", DIGEST, 42, passphrases)
    state = ctx.repos.load(APP)
    keys = state.targets.signed.delegations.role_keys(
        state.targets.signed.delegations.get(RELEASES)
    )
    assert count_valid_signatures(state.roles[RELEASES], keys, crypto) == {ALICE, BOB}


def test_a_second_edit_does_not_bump_again(ctx: Context, passphrases: Passphrases) -> None:
    before = published(ctx, APP, RELEASES).signed.version
    target_add(ctx, APP, "v2", DIGEST, 42, passphrases, role=RELEASES)
    result = target_add(ctx, APP, "v3", "sha256:" + "ef" * 32, 7, passphrases, role=RELEASES)
    assert result.versions == {RELEASES: before + 1}
    md = ctx.repos.load(APP).roles[RELEASES]
    assert md.signed.version == before + 1
    assert {"v1.0", "v2", "v3"} <= set(md.signed.targets)
    info = ctx.repos.staged_info(APP)
    assert info is not None
    assert len(info.edits) == 2
    assert_verifies(ctx, APP)


def test_target_add_with_a_local_snapshot_key_updates_the_snapshot(
    ctx: Context, passphrases: Passphrases
) -> None:
    snapshot_before = published(ctx, TOOLS, "snapshot").signed.version
    result = target_add(ctx, TOOLS, "v2", DIGEST, 42, passphrases)
    assert result.changed == ["snapshot", RELEASES]
    assert not result.snapshot_by_server
    state = ctx.repos.load(TOOLS)
    assert state.roles["snapshot"].signed.version == snapshot_before + 1
    entry = state.roles["snapshot"].signed.meta[RELEASES]
    assert entry.mismatch(staged_bytes(ctx, TOOLS, RELEASES)) is None
    assert_verifies(ctx, TOOLS)


def test_target_remove(ctx: Context, passphrases: Passphrases) -> None:
    target_remove(ctx, APP, "v1.0", passphrases)
    assert "v1.0" not in ctx.repos.load(APP).roles[RELEASES].signed.targets
    assert_verifies(ctx, APP)
    with pytest.raises(NotFoundError):
        target_remove(ctx, APP, "v1.0", passphrases)


def test_wrong_passphrase_changes_nothing(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE", "wrong")
    before = read_tree(ctx.trust.path)
    with pytest.raises(WrongPassphraseError):
        target_add(ctx, APP, "v2", DIGEST, 42, Passphrases(interactive=False))
    assert read_tree(ctx.trust.path) == before


def test_without_a_local_key_the_edit_is_refused(ctx: Context, passphrases: Passphrases) -> None:
    for keyid in (ALICE, BOB):
        (ctx.trust.private / f"{keyid}.key").unlink()
    with pytest.raises(MissingKeyError, match=RELEASES):
        target_add(ctx, APP, "v2", DIGEST, 42, passphrases)
    assert not ctx.trust.offtrust.exists()


# -- signers and delegations ------------------------------------------------------------


def test_signer_add(ctx: Context, passphrases: Passphrases) -> None:
    carol = crypto.generate_private_key("ecdsa").public_key()
    targets_before = published(ctx, APP, "targets").signed.version
    result = signer_add(ctx, "carol", APP, [carol], passphrases)
    assert result.changed == ["targets"]
    assert result.versions == {"targets": targets_before + 1}
    delegations = ctx.repos.load(APP).targets.signed.delegations
    role = delegations.get("targets/carol")
    assert role is not None
    assert role.keyids == [carol.keyid]
    assert role.paths == [""]
    assert delegations.get(RELEASES).key_ids == [ALICE, BOB, carol.keyid]  # type: ignore[union-attr]
    assert delegations.keys[carol.keyid] == carol
    assert_verifies(ctx, APP)


def test_signer_remove(ctx: Context, passphrases: Passphrases) -> None:
    signer_remove(ctx, "bob", APP, passphrases)
    delegations = ctx.repos.load(APP).targets.signed.delegations
    assert delegations.get("targets/bob") is None
    assert delegations.get(RELEASES).key_ids == [ALICE]  # type: ignore[union-attr]
    assert BOB not in delegations.keys  # no role lists it any more
    assert ALICE in delegations.keys
    assert_verifies(ctx, APP)


def test_delegation_remove_keys_one_by_one(ctx: Context, passphrases: Passphrases) -> None:
    delegation_remove(ctx, APP, RELEASES, [BOB], passphrases)
    delegations = ctx.repos.load(APP).targets.signed.delegations
    assert delegations.get(RELEASES).keyids == [ALICE]  # type: ignore[union-attr]
    assert BOB in delegations.keys  # targets/bob still uses it

    delegation_remove(ctx, APP, RELEASES, [ALICE[:12]], passphrases)
    data = staged_bytes(ctx, APP, "targets")
    assert b'{"keyids":null,"name":"targets/releases","paths":[""],"threshold":1}' in data
    targets = ctx.repos.load(APP).targets.signed
    assert targets.delegations.get(RELEASES).keyids is None  # type: ignore[union-attr]
    assert targets.version == published(ctx, APP, "targets").signed.version + 1


def test_delegation_remove_whole_role(ctx: Context, passphrases: Passphrases) -> None:
    delegation_remove(ctx, APP, "targets/alice", [], passphrases)
    state = ctx.repos.load(APP)
    assert state.targets.signed.delegations.get("targets/alice") is None
    assert "targets/alice" not in state.roles
    assert_verifies(ctx, APP)


def test_removing_the_last_delegation_writes_roles_null_like_notary(
    ctx: Context, passphrases: Passphrases
) -> None:
    for role in ("targets/alice", "targets/bob", RELEASES):
        delegation_remove(ctx, APP, role, [], passphrases)
    assert b'"delegations":{"keys":{},"roles":null}' in staged_bytes(ctx, APP, "targets")
    assert_verifies(ctx, APP)


def test_delegation_purge(ctx: Context, passphrases: Passphrases) -> None:
    delegation_purge(ctx, APP, ALICE, passphrases)
    delegations = ctx.repos.load(APP).targets.signed.delegations
    assert delegations.get("targets/alice").keyids is None  # type: ignore[union-attr]
    assert delegations.get(RELEASES).key_ids == [BOB]  # type: ignore[union-attr]
    assert delegations.get("targets/bob").key_ids == [BOB]  # type: ignore[union-attr]
    assert ALICE not in delegations.keys
    with pytest.raises(NotFoundError):
        delegation_purge(ctx, APP, ALICE, passphrases)


def test_witness_bumps_the_version_and_keeps_the_targets(
    ctx: Context, passphrases: Passphrases
) -> None:
    before = published(ctx, APP, RELEASES)
    result = witness(ctx, APP, [RELEASES], passphrases)
    assert result.versions == {RELEASES: before.signed.version + 1}
    after = ctx.repos.load(APP).roles[RELEASES]
    assert after.signed.version == before.signed.version + 1
    assert after.signed.to_dict()["targets"] == before.signed.to_dict()["targets"]
    assert after.to_bytes() != before.to_bytes()
    assert_verifies(ctx, APP)


def test_witness_of_an_unknown_role(ctx: Context, passphrases: Passphrases) -> None:
    with pytest.raises(NotFoundError):
        witness(ctx, APP, ["targets/nobody"], passphrases)
    assert not ctx.trust.offtrust.exists()


# -- status, diff, reset, stage ---------------------------------------------------------


def test_status_and_diff_report_the_change(ctx: Context, passphrases: Passphrases) -> None:
    assert staging.status(ctx) == []
    before = published(ctx, APP, RELEASES).signed.version
    target_add(ctx, APP, "v2", DIGEST, 42, passphrases, role=RELEASES)

    [row] = staging.status(ctx)
    assert row["gun"] == APP
    assert row["staged"] is True
    assert row["roles"] == {RELEASES: {"published_version": before, "staged_version": before + 1}}
    assert len(row["edits"]) == 1
    assert "v2" in row["edits"][0]

    text = staging.diff(ctx, APP)
    added = [line for line in text.splitlines() if line.startswith("+")]
    removed = [line for line in text.splitlines() if line.startswith("-")]
    assert f"+++ b/{APP}/{RELEASES}.json" in text
    assert any('"v2"' in line for line in added)
    assert any(f'"version": {before + 1}' in line for line in added)
    assert any(f'"version": {before}' in line for line in removed)
    assert not any('"v1.0"' in line for line in added + removed)


def test_diff_is_a_patch_that_turns_published_into_staged(
    ctx: Context, passphrases: Passphrases, tmp_path: Path
) -> None:
    import shutil
    import subprocess

    target_add(ctx, APP, "v2", DIGEST, 42, passphrases)
    signer_add(ctx, "carol", APP, [crypto.generate_private_key().public_key()], passphrases)
    text = staging.diff(ctx, APP)
    assert text.endswith("\n")
    assert text.count("+++ b/") == len(ctx.repos.staged_files(APP))

    # Lay the published documents out as the diff names them, apply it with
    # patch(1), and compare with the staged documents.
    work = tmp_path / "patch"
    published_state = ctx.repos.load(APP, staged=False)
    staged_state = ctx.repos.load(APP)
    for role in ctx.repos.staged_files(APP):
        path = work / APP / f"{role}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(staging.pretty_document(published_state.roles.get(role))))
    if shutil.which("patch") is None:
        pytest.skip("no patch(1) here")
    proc = subprocess.run(
        ["patch", "-p1", "--batch", "--quiet"],
        input=text,
        text=True,
        cwd=work,
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for role in ctx.repos.staged_files(APP):
        expected = "".join(staging.pretty_document(staged_state.roles.get(role)))
        assert (work / APP / f"{role}.json").read_text() == expected


def test_diff_without_staged_edits(ctx: Context) -> None:
    with pytest.raises(NotFoundError):
        staging.diff(ctx, APP)


def test_reset_drops_everything(ctx: Context, passphrases: Passphrases) -> None:
    tuf_before = read_tree(ctx.trust.tuf)
    target_add(ctx, APP, "v2", DIGEST, 42, passphrases)
    target_add(ctx, TOOLS, "v2", DIGEST, 42, passphrases)
    assert staging.reset(ctx, APP) is True
    assert not ctx.trust.staged_root(APP).exists()
    assert ctx.repos.load(APP).staged == set()
    assert [row["gun"] for row in staging.status(ctx)] == [TOOLS]
    assert staging.reset(ctx, TOOLS) is True
    assert staging.status(ctx) == []
    assert staging.reset(ctx, APP) is False
    assert read_tree(ctx.trust.tuf) == tuf_before


def test_build_bundle_is_deterministic(ctx: Context, passphrases: Passphrases) -> None:
    target_add(ctx, APP, "v2", DIGEST, 42, passphrases, role=RELEASES)
    target_add(ctx, TOOLS, "v2", DIGEST, 42, passphrases)
    first, guns = staging.build_bundle(ctx)
    second, _ = staging.build_bundle(ctx)
    assert guns == [APP, TOOLS]
    assert first == second
    bundle = read_bundle(first)
    assert sorted(bundle.guns) == [APP, TOOLS]
    app = bundle.guns[APP]
    assert {r for r, f in app.files.items() if f.upload} == {RELEASES}
    assert app.files[RELEASES].data == staged_bytes(ctx, APP, RELEASES)
    assert app.base[RELEASES] == published(ctx, APP, RELEASES).signed.version
    tools = bundle.guns[TOOLS]
    assert {r for r, f in tools.files.items() if f.upload} == {"snapshot", RELEASES}


def test_build_bundle_reads_each_file_once(
    ctx: Context, passphrases: Passphrases, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Packing a GUN works out its retire rule, its staged files, state and
    # deletion, loads and verifies it and takes its fingerprint: every file
    # is still read from disk once (and every directory listed once).
    from offtrust.store import _fs

    target_add(ctx, APP, "v2", DIGEST, 42, passphrases, role=RELEASES)
    target_add(ctx, TOOLS, "v2", DIGEST, 42, passphrases)
    reads: list[tuple[str, str]] = []
    listings: list[str] = []
    real_read, real_entries = _fs.Dir.read, _fs.Dir.entries

    def read(self: _fs.Dir, name: str, limit: int) -> bytes | None:
        reads.append((self.label, name))
        return real_read(self, name, limit)

    def entries(self: _fs.Dir) -> list[tuple[str, str]]:
        listings.append(self.label)
        return real_entries(self)

    monkeypatch.setattr(_fs.Dir, "read", read)
    monkeypatch.setattr(_fs.Dir, "entries", entries)
    fingerprints: dict[str, str | None] = {}
    _, guns = staging.build_bundle(ctx, fingerprints=fingerprints)
    assert guns == [APP, TOOLS]
    assert all(fingerprints.values())
    staged = "offtrust/staged/example.com/app/metadata"
    assert (f"{staged}/targets", "releases.json") in reads  # the edit itself
    assert (staged, "state.json") in reads
    assert ("tuf/example.com/app/metadata/targets", "releases.json") in reads
    assert sorted(set(reads)) == sorted(reads), "a file was read twice"
    packed = [label for label in listings if "/metadata" in label]
    assert sorted(set(packed)) == sorted(packed), "a generation was listed twice"


def test_build_bundle_with_nothing_staged(ctx: Context) -> None:
    with pytest.raises(NotFoundError, match="nothing is staged"):
        staging.build_bundle(ctx)


def test_staged_state_records_the_published_versions(
    ctx: Context, passphrases: Passphrases
) -> None:
    target_add(ctx, APP, "v2", DIGEST, 42, passphrases)
    state_file = json.loads((ctx.trust.staged_dir(APP) / "state.json").read_bytes())
    expected = {
        role: md.signed.version for role, md in ctx.repos.load(APP, staged=False).roles.items()
    }
    assert state_file["base"] == expected
    assert state_file["new_gun"] is False
