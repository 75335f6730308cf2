"""Signatures gathered across places (issue 9, item 3): pending roles, bundle sign and show.

Every repository here is built with the test builders and signed properly, so
only what a test names is missing or wrong. Root rotations use ECDSA root keys
in certificates (as notary needs); the byte-for-byte determinism test uses a
targets threshold of 2 with Ed25519 keys, which sign deterministically.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from builders import (
    GUN,
    RepoBuilder,
    ed25519_key,
    reparse,
    root_certificate,
    root_key,
    sign_metadata,
)
from typer.testing import CliRunner

from offtrust.bundle import BundleFile, BundleGUN, read_bundle, write_bundle
from offtrust.cli import app
from offtrust.crypto import PrivateKey
from offtrust.errors import (
    HashMismatchError,
    MissingKeyError,
    SignatureError,
    VerificationError,
)
from offtrust.model.metadata import (
    ROOT,
    SNAPSHOT,
    TARGETS,
    TIMESTAMP,
    Metadata,
    MetaFile,
    RoleKeys,
    Root,
)
from offtrust.model.repository import RepoState
from offtrust.model.verify import PENDING, SIGNATURE, STALE_SNAPSHOT
from offtrust.ops.bundle_sign import show_bundle, sign_bundle
from offtrust.ops.context import Context
from offtrust.ops.online import verify_bundle_gun
from offtrust.ops.staging import build_bundle
from offtrust.ops.verify import verify_state
from offtrust.passphrase import Passphrases
from offtrust.store.layout import TrustDir
from offtrust.store.repo import StagedInfo

NOW = datetime.now(timezone.utc).replace(microsecond=0)
PASS = Passphrases(environ={}, interactive=False)


# -- building the scenarios ------------------------------------------------------


def holder(tmp_path: Path, name: str, keys: list[tuple[PrivateKey, str]]) -> Context:
    """A trust directory holding *keys* (unencrypted), as one key holder's machine."""
    ctx = Context(TrustDir(tmp_path / name), clock=lambda: NOW)
    (tmp_path / name).mkdir(mode=0o700)
    for key, role in keys:
        ctx.keys.save(key, role=role, gun="" if role == ROOT else GUN, passphrase=None)
    return ctx


class Rotation:
    """Root v1 (one key, K0) rotated to v2 whose root role is {A, B}, threshold 2."""

    def __init__(self) -> None:
        self.repo = RepoBuilder(now=NOW)
        self.published = self.repo.build()
        self.old_key = root_key(0)
        self.old_id = next(iter(self.repo.root_certs))
        self.a, self.b = root_key(1), root_key(2)
        self.cert_a = root_certificate(self.a, now=NOW)
        self.cert_b = root_certificate(self.b, now=NOW)
        v1: Root = self.published.roles[ROOT].signed
        v2 = Root.from_dict(json.loads(json.dumps(v1.to_dict())))
        v2.version = 2
        for keyid in v2.roles[ROOT].keyids:
            v2.keys.pop(keyid)
        v2.keys[self.cert_a.keyid] = self.cert_a
        v2.keys[self.cert_b.keyid] = self.cert_b
        v2.roles[ROOT] = RoleKeys(keyids=[self.cert_a.keyid, self.cert_b.keyid], threshold=2)
        self.v2 = v2

    def root_v2(self, *signers: str) -> Metadata[Any]:
        """Root v2 signed by *signers* among ``old``, ``a``, ``b``."""
        table = {
            "old": (self.old_id, self.old_key),
            "a": (self.cert_a.keyid, self.a),
            "b": (self.cert_b.keyid, self.b),
        }
        md: Metadata[Any] = reparse(sign_metadata(self.v2, [table[s] for s in signers]), ROOT)
        return md

    def state(self, root: Metadata[Any]) -> RepoState:
        """The published state with *root* staged over it."""
        state: RepoState = self.repo.build()
        state.roles = dict(self.published.roles)
        state.published = dict(self.published.roles)
        state.roles[ROOT] = root
        state.staged = {ROOT}
        return state

    def entry(self, root: Metadata[Any]) -> BundleGUN:
        """The bundle GUN ``stage`` makes of *root* (server-managed snapshot, as Docker)."""
        files = {
            role: BundleFile(role, md.to_bytes(), md.signed.version, upload=False)
            for role, md in self.published.roles.items()
        }
        files[ROOT] = BundleFile(ROOT, root.to_bytes(), 2, upload=True)
        return BundleGUN(
            gun=GUN,
            base={r: md.signed.version for r, md in self.published.roles.items()},
            new_gun=False,
            files=files,
            trusted_root=self.published.roles[ROOT].to_bytes(),
        )


def bundle_of(*entries: BundleGUN) -> Any:
    return read_bundle(write_bundle(entries))


def checker() -> Context:
    """A context with no keys: only verifies."""
    return Context(TrustDir(Path("/nonexistent-offtrust-test")), clock=lambda: NOW)


# -- the rule: pending signatures ---------------------------------------------------


def test_a_staged_root_below_its_new_threshold_is_pending_not_an_error() -> None:
    rot = Rotation()
    report = verify_state(checker(), rot.state(rot.root_v2("old", "a")))
    (problem,) = report.errors
    assert problem.role == ROOT
    assert problem.kind == PENDING
    assert "1 of 2 (new root), 1 of 1 (previous root v1)" in problem.reason
    # The key that may still sign, by its 12 hex, and the fix.
    assert rot.cert_b.keyid[:12] in problem.reason
    assert rot.cert_a.keyid[:12] not in problem.reason
    assert "offtrust bundle sign BUNDLE" in (problem.fix or "")
    # Editing the GUN is not blocked; the content counts as trusted.
    assert report.blocking() == []
    assert report.is_usable(ROOT)


def test_a_root_not_signed_by_the_previous_root_is_pending_too() -> None:
    rot = Rotation()
    report = verify_state(checker(), rot.state(rot.root_v2("a", "b")))
    (problem,) = report.errors
    assert problem.kind == PENDING
    assert "2 of 2 (new root), 0 of 1 (previous root v1)" in problem.reason
    assert rot.old_id[:12] in problem.reason


def test_an_invalid_signature_stays_an_ordinary_error() -> None:
    rot = Rotation()
    root = rot.root_v2("old", "a")
    # B's listed key ID over a signature made by another key.
    forged = sign_metadata(rot.v2, [(rot.old_id, rot.old_key), (rot.cert_b.keyid, root_key(3))])
    report = verify_state(checker(), rot.state(reparse(forged, ROOT)))
    assert [p.kind for p in report.errors_of(ROOT)] == [SIGNATURE]
    assert report.blocking()
    # No signature at all by a key that may sign it: not half signed either.
    nobody = sign_metadata(rot.v2, [(rot.old_id, root_key(4))])
    report = verify_state(checker(), rot.state(reparse(nobody, ROOT)))
    assert {p.kind for p in report.errors_of(ROOT)} == {SIGNATURE}
    assert root.signatures  # (the honest document is signed)


def test_a_published_root_below_threshold_is_never_pending() -> None:
    rot = Rotation()
    state = rot.state(rot.root_v2("old", "a"))
    state.staged = set()
    state.published[ROOT] = state.roles[ROOT]
    state.trusted_root = rot.published.roles[ROOT]
    report = verify_state(checker(), state)
    kinds = {p.kind for p in report.errors_of(ROOT)}
    assert SIGNATURE in kinds
    assert PENDING not in kinds


# -- stage, bundle verify ------------------------------------------------------------------


def test_stage_packs_a_pending_root_with_a_warning(tmp_path: Path) -> None:
    rot = Rotation()
    ctx = holder(tmp_path, "a", [])
    ctx.repos.write_published(GUN, {r: md.to_bytes() for r, md in rot.published.roles.items()})
    info = StagedInfo(
        base={r: md.signed.version for r, md in rot.published.roles.items()}, edits=["rotate root"]
    )
    ctx.repos.write_staged(GUN, {ROOT: rot.root_v2("old", "a").to_bytes()}, info)
    notes: list[str] = []
    data, packed = build_bundle(ctx, [GUN], warnings=notes)
    assert packed == [GUN]
    (note,) = notes
    assert note.startswith(f"{GUN}: root: pending signatures: 1 of 2 (new root)")
    assert rot.cert_b.keyid[:12] in note
    assert "bundle sign" in note
    # The bundle carries the partly signed root, and bundle verify refuses it.
    bundle = read_bundle(data)
    with pytest.raises(SignatureError, match=f"{GUN}: root: pending signatures"):
        verify_bundle_gun(checker(), bundle.guns[GUN])


# -- bundle sign ------------------------------------------------------------------------------


def test_bundle_sign_adds_the_missing_root_signature_in_place(tmp_path: Path) -> None:
    rot = Rotation()
    root = rot.root_v2("old", "a")
    bundle = bundle_of(rot.entry(root))
    b_side = holder(tmp_path, "b", [(rot.b, ROOT)])
    result = sign_bundle(b_side, bundle, PASS)
    assert result.data is not None
    assert result.signed == {GUN: {ROOT: [rot.cert_b.keyid]}}
    assert result.notes == []
    signed = read_bundle(result.data)
    assert verify_bundle_gun(checker(), signed.guns[GUN]) == []
    new_root = Metadata.from_bytes(signed.guns[GUN].files[ROOT].data, ROOT)
    # Content and version unchanged, signatures appended, in key ID order.
    assert new_root.signed_bytes() == root.signed_bytes()
    assert new_root.signed.version == 2
    ids = [s.keyid for s in new_root.iter_signatures()]
    assert ids == sorted([rot.old_id, rot.cert_a.keyid, rot.cert_b.keyid])
    old_sigs = {s.keyid: s.sig for s in root.iter_signatures()}
    assert {s.keyid: s.sig for s in new_root.iter_signatures() if s.keyid in old_sigs} == old_sigs
    # Nothing else in the bundle changed.
    for role in (TARGETS, SNAPSHOT, TIMESTAMP):
        assert signed.guns[GUN].files[role] == bundle.guns[GUN].files[role]
    # Signing again: nothing to sign, no new bytes.
    again = sign_bundle(b_side, signed, PASS)
    assert again.data is None
    assert again.signed == {}


def test_bundle_sign_with_no_key_that_may_sign_fails_and_names_the_keys(tmp_path: Path) -> None:
    rot = Rotation()
    bundle = bundle_of(rot.entry(rot.root_v2("old", "a")))
    # A holds only keys that already signed; C holds an unrelated key.
    for name, keys in (("a", [(rot.a, ROOT), (rot.old_key, ROOT)]), ("c", [(root_key(5), ROOT)])):
        with pytest.raises(MissingKeyError, match=rot.cert_b.keyid[:12]):
            sign_bundle(holder(tmp_path, name, keys), bundle, PASS)


def test_bundle_sign_refuses_a_bundle_failing_another_rule(tmp_path: Path) -> None:
    rot = Rotation()
    entry = rot.entry(rot.root_v2("old", "a"))
    # The (context) targets is signed by a key the root does not list.
    targets = rot.published.roles[TARGETS]
    bad = reparse(
        sign_metadata(targets.signed, [(rot.repo.keys[TARGETS].keyid, ed25519_key(77))]), TARGETS
    )
    files = dict(entry.files)
    files[TARGETS] = BundleFile(TARGETS, bad.to_bytes(), 1, upload=False)
    entry = BundleGUN(entry.gun, entry.base, False, files, entry.trusted_root)
    with pytest.raises(VerificationError, match="refusing to sign"):
        sign_bundle(holder(tmp_path, "b", [(rot.b, ROOT)]), bundle_of(entry), PASS)


def test_the_previous_root_key_signs_a_root_it_has_not_signed(tmp_path: Path) -> None:
    rot = Rotation()
    bundle = bundle_of(rot.entry(rot.root_v2("a", "b")))
    result = sign_bundle(holder(tmp_path, "old", [(rot.old_key, ROOT)]), bundle, PASS)
    assert result.signed == {GUN: {ROOT: [rot.old_id]}}
    assert result.data is not None
    verify_bundle_gun(checker(), read_bundle(result.data).guns[GUN])


# -- determinism: the same signatures give the same bundle ----------------------------------


class TargetsThreshold:
    """Targets v2 staged under a root whose targets role is {K1, K2}, threshold 2 (Ed25519)."""

    def __init__(self, *, snapshot_staged: bool = False) -> None:
        self.k1, self.k2 = ed25519_key(61), ed25519_key(62)
        repo = RepoBuilder(now=NOW)
        for key in (self.k1, self.k2):
            repo.root.keys[key.keyid] = key.public_key()
        repo.root.roles[TARGETS] = RoleKeys(keyids=[self.k1.keyid, self.k2.keyid], threshold=2)
        repo.signers[TARGETS] = [(self.k1.keyid, self.k1), (self.k2.keyid, self.k2)]
        self.repo = repo
        self.published = repo.build()
        self.snapshot_key = repo.keys[SNAPSHOT]
        self.snapshot_staged = snapshot_staged

    def entry(self, *signers: PrivateKey) -> BundleGUN:
        targets = Metadata.from_bytes(self.published.roles[TARGETS].to_bytes(), TARGETS).signed
        targets.version = 2
        md = reparse(sign_metadata(targets, [(k.keyid, k) for k in signers]), TARGETS)
        files = {
            role: BundleFile(role, m.to_bytes(), m.signed.version, upload=False)
            for role, m in self.published.roles.items()
        }
        files[TARGETS] = BundleFile(TARGETS, md.to_bytes(), 2, upload=True)
        if self.snapshot_staged:
            snap = Metadata.from_bytes(self.published.roles[SNAPSHOT].to_bytes(), SNAPSHOT).signed
            snap.version = 2
            snap.meta[TARGETS] = MetaFile.for_bytes(md.to_bytes())
            key = self.snapshot_key
            smd = reparse(sign_metadata(snap, [(key.keyid, key)]), SNAPSHOT)
            files[SNAPSHOT] = BundleFile(SNAPSHOT, smd.to_bytes(), 2, upload=True)
        return BundleGUN(
            gun=GUN,
            base={r: m.signed.version for r, m in self.published.roles.items()},
            new_gun=False,
            files=files,
            trusted_root=self.published.roles[ROOT].to_bytes(),
        )


def test_the_same_signatures_give_byte_identical_bundles_whatever_the_order(tmp_path: Path) -> None:
    t = TargetsThreshold()
    a_side = holder(tmp_path, "a", [(t.k1, TARGETS)])
    b_side = holder(tmp_path, "b", [(t.k2, TARGETS)])
    # A stages (signs with K1), B adds K2 ...
    first = sign_bundle(b_side, bundle_of(t.entry(t.k1)), PASS).data
    # ... or B stages (K2), A adds K1.
    second = sign_bundle(a_side, bundle_of(t.entry(t.k2)), PASS).data
    assert first is not None
    assert first == second
    assert verify_bundle_gun(checker(), read_bundle(first).guns[GUN]) == []


def test_a_staged_snapshot_is_signed_again_where_its_key_is(tmp_path: Path) -> None:
    t = TargetsThreshold(snapshot_staged=True)
    bundle = bundle_of(t.entry(t.k1))
    # B holds K2 but not the snapshot key: targets signed, snapshot now stale.
    b_result = sign_bundle(holder(tmp_path, "b", [(t.k2, TARGETS)]), bundle, PASS)
    assert b_result.data is not None
    assert b_result.signed == {GUN: {TARGETS: [t.k2.keyid]}}
    assert any("snapshot records older bytes of targets" in n for n in b_result.notes)
    after_b = read_bundle(b_result.data)
    with pytest.raises(HashMismatchError, match="snapshot: records older bytes of targets"):
        verify_bundle_gun(checker(), after_b.guns[GUN])
    problems = show_bundle(checker(), after_b)["guns"][GUN]["problems"]
    assert [p["role"] for p in problems if p["severity"] == "error"] == [SNAPSHOT]
    # A holds the snapshot key: the snapshot is signed again, same version.
    a_side = holder(tmp_path, "a", [(t.k1, TARGETS), (t.snapshot_key, SNAPSHOT)])
    a_result = sign_bundle(a_side, after_b, PASS)
    assert a_result.signed == {GUN: {SNAPSHOT: [t.snapshot_key.keyid]}}
    assert a_result.data is not None
    final = read_bundle(a_result.data)
    assert verify_bundle_gun(checker(), final.guns[GUN]) == []
    assert final.guns[GUN].files[SNAPSHOT].version == 2
    # Where both keys are, one run does both.
    both = holder(tmp_path, "both", [(t.k2, TARGETS), (t.snapshot_key, SNAPSHOT)])
    one_go = sign_bundle(both, bundle, PASS)
    assert one_go.data == a_result.data


def test_the_stale_snapshot_kind_is_only_for_staged_roles() -> None:
    t = TargetsThreshold(snapshot_staged=True)
    entry = t.entry(t.k1)
    from offtrust.ops.online import bundle_state

    state = bundle_state(entry)
    # Made stale by hand: targets gains K2's signature after the snapshot.
    md = state.roles[TARGETS]
    sign_metadata_model(md, t.k2)
    report = verify_state(checker(), state)
    assert [p.kind for p in report.errors] == [STALE_SNAPSHOT]


def sign_metadata_model(md: Metadata[Any], key: PrivateKey) -> None:
    from offtrust.model.signing import sign_metadata as model_sign

    model_sign(md, [(key.keyid, key)], append=True)


# -- bundle show and the CLI ------------------------------------------------------------------


def test_bundle_show_lists_valid_signatures_and_thresholds() -> None:
    rot = Rotation()
    shown = show_bundle(checker(), bundle_of(rot.entry(rot.root_v2("old", "a"))))
    root = shown["guns"][GUN]["roles"][ROOT]
    assert root["version"] == 2
    assert root["upload"] is True
    assert root["signatures"] == sorted([rot.old_id, rot.cert_a.keyid])
    assert [
        (t["label"], len(t["valid"]), t["threshold"], t["met"]) for t in root["thresholds"]
    ] == [
        ("new root", 1, 2, False),
        ("previous root v1", 1, 1, True),
    ]
    assert shown["guns"][GUN]["roles"][TARGETS]["thresholds"][0]["met"] is True


def test_cli_bundle_sign_show_and_verify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE",
        "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE",
    ):
        monkeypatch.delenv(name, raising=False)
    rot = Rotation()
    path = tmp_path / "ceremony.bundle"
    path.write_bytes(write_bundle([rot.entry(rot.root_v2("old", "a"))]))
    holder(tmp_path, "b", [(rot.b, ROOT)])
    runner = CliRunner()

    shown = runner.invoke(app, ["-d", str(tmp_path / "b"), "bundle", "show", str(path)])
    assert shown.exit_code == 0, shown.output
    assert "root" in shown.stdout
    assert "1 of 2 (new root), 1 of 1 (previous root v1)" in shown.stdout

    refused = runner.invoke(app, ["-d", str(tmp_path / "b"), "bundle", "verify", str(path)])
    assert refused.exit_code == 1
    assert "root: pending signatures" in refused.stderr

    before = path.read_bytes()
    signed = runner.invoke(app, ["-d", str(tmp_path / "b"), "bundle", "sign", str(path)])
    assert signed.exit_code == 0, signed.output
    after = path.read_bytes()
    assert after != before
    import hashlib

    assert signed.stdout.strip() == f"sha256:{hashlib.sha256(after).hexdigest()}  {path}"

    ok = runner.invoke(app, ["-d", str(tmp_path / "b"), "bundle", "verify", str(path)])
    assert ok.exit_code == 0, ok.output
    js = runner.invoke(app, ["-d", str(tmp_path / "b"), "bundle", "show", str(path), "--json"])
    doc = json.loads(js.stdout)
    assert all(t["met"] for t in doc["guns"][GUN]["roles"][ROOT]["thresholds"])

    # Nothing left to sign: exit 0, the file untouched.
    again = runner.invoke(app, ["-d", str(tmp_path / "b"), "bundle", "sign", str(path)])
    assert again.exit_code == 0
    assert "nothing to sign" in again.stderr
    assert path.read_bytes() == after


def test_editing_a_gun_with_a_pending_root_warns_what_is_missing(tmp_path: Path) -> None:
    from offtrust.model.metadata import TargetFile
    from offtrust.ops.edit import Editor

    rot = Rotation()
    ctx = holder(tmp_path, "a", [(rot.repo.keys[TARGETS], TARGETS)])
    ctx.repos.write_published(GUN, {r: md.to_bytes() for r, md in rot.published.roles.items()})
    base = {r: md.signed.version for r, md in rot.published.roles.items()}
    ctx.repos.write_staged(GUN, {ROOT: rot.root_v2("old", "a").to_bytes()}, StagedInfo(base, []))
    editor = Editor(ctx, GUN, PASS)  # not refused: the root only lacks a signature
    editor.targets(TARGETS).files()["v9"] = TargetFile(length=1, hashes={"sha256": "AA=="})
    result = editor.commit()
    assert result.changed == [TARGETS]
    (warning,) = result.warnings
    assert warning.startswith("root: pending signatures: 1 of 2 (new root)")
    assert rot.cert_b.keyid[:12] in warning


def test_verify_shows_a_pending_root_with_its_fix(tmp_path: Path) -> None:
    rot = Rotation()
    ctx = holder(tmp_path, "a", [])
    ctx.repos.write_published(GUN, {r: md.to_bytes() for r, md in rot.published.roles.items()})
    base = {r: md.signed.version for r, md in rot.published.roles.items()}
    ctx.repos.write_staged(GUN, {ROOT: rot.root_v2("old", "a").to_bytes()}, StagedInfo(base, []))
    result = CliRunner().invoke(app, ["-d", str(tmp_path / "a"), "verify", GUN])
    assert result.exit_code == 1
    assert "root: pending signatures: 1 of 2 (new root), 1 of 1 (previous root v1)" in (
        result.stdout
    )
    # The stage command carries the user's -d; bundle sign is the other holder's.
    assert (
        f"offtrust -d {tmp_path / 'a'} stage {GUN} --output BUNDLE; then a holder of those "
        "keys runs `offtrust bundle sign BUNDLE`" in result.stdout
    )
