"""verify_repository names each problem, its role and the command that fixes it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from builders import (
    GUN,
    NOW,
    RepoBuilder,
    corrupt,
    delegation_key,
    ed25519_key,
    reparse,
    root_certificate,
    root_key,
    sign_metadata,
)

from offtrust import crypto as CRYPTO
from offtrust.errors import (
    ExpiredError,
    HashMismatchError,
    RollbackError,
    SignatureError,
    VerificationError,
)
from offtrust.model.metadata import ROOT, SNAPSHOT, TARGETS, TIMESTAMP, Metadata, MetaFile
from offtrust.model.repository import RepoState
from offtrust.model.verify import ERROR, PENDING, SIGNATURE, WARNING, Problem, VerificationReport
from offtrust.model.verify import verify_repository as _verify_repository

RELEASES = "targets/releases"


class _Refuse:
    """A crypto back-end that refuses every signature."""

    def verify_signature(self, *_: Any) -> bool:
        return False

    def certificate_info(self, key: Any) -> Any:
        return CRYPTO.certificate_info(key)


def verify_repository(state: RepoState, now: Any, *, crypto: Any = CRYPTO) -> VerificationReport:
    return _verify_repository(state, now, crypto=crypto)


def good_repo() -> RepoBuilder:
    repo = RepoBuilder()
    repo.add_delegation(RELEASES, [delegation_key(1), delegation_key(2)])
    repo.add_target(RELEASES, "v1")
    return repo


def only(report: VerificationReport) -> Problem:
    assert len(report.problems) == 1, [str(p) for p in report.problems]
    return report.problems[0]


# -- the good case ----------------------------------------------------------------------


def test_good_repository_has_no_problems() -> None:
    report = verify_repository(good_repo().build(), NOW)
    assert report.problems == []
    assert report.ok
    assert report.checked == [ROOT, TARGETS, RELEASES, SNAPSHOT, TIMESTAMP]
    report.raise_for_errors()  # does not raise


def test_good_repository_with_nested_delegation() -> None:
    repo = good_repo()
    repo.add_delegation("targets/releases/qa", [delegation_key(3)], parent=RELEASES)
    repo.add_target("targets/releases/qa", "qa-1")
    report = verify_repository(repo.build(), NOW)
    assert report.problems == []
    assert "targets/releases/qa" in report.checked


def test_verification_actually_checks_signatures() -> None:
    # Guard for the good case: with a verifier that refuses everything, every
    # role must fail, so a "no problems" report above means signatures verified.
    report = verify_repository(good_repo().build(), NOW, crypto=_Refuse())
    failed = {p.role for p in report.errors if "threshold" in p.reason}
    assert failed == {ROOT, TARGETS, RELEASES, SNAPSHOT, TIMESTAMP}


# -- one problem at a time --------------------------------------------------------------


def test_root_under_threshold() -> None:
    repo = good_repo()
    second = root_key(1)
    cert = root_certificate(second)
    repo.root.keys[cert.keyid] = cert
    repo.root.roles[ROOT].keyids.append(cert.keyid)
    repo.root.roles[ROOT].threshold = 2  # only the first root key signs
    problem = only(verify_repository(repo.build(), NOW))
    assert problem.role == ROOT
    assert problem.severity == ERROR
    assert "1 of 2" in problem.reason
    # A published (cached) root is repaired by fetching it again ...
    assert problem.fix == f"offtrust fetch {GUN} --server URL"
    # ... a staged one signed by one of its keys is only pending: the other
    # holder adds a signature with `bundle sign` (issue 9, item 3).
    state = repo.build()
    state.staged.add(ROOT)
    staged = [p for p in verify_repository(state, NOW).errors if p.role == ROOT]
    assert staged[0].kind == PENDING  # (and a rollback: the same version is staged)
    assert "bundle sign" in (staged[0].fix or "")
    # A staged root no key of it signed is dropped, not signed again (that
    # could launder a root nobody with the key wrote).
    repo.signers[ROOT] = [(cert.keyid, root_key(2))]
    state = repo.build()
    state.staged.add(ROOT)
    staged = [p for p in verify_repository(state, NOW).errors if p.role == ROOT]
    assert staged[0].kind == SIGNATURE
    assert staged[0].fix == f"offtrust reset {GUN}"


def test_targets_signed_by_the_wrong_key() -> None:
    repo = good_repo()
    impostor = ed25519_key(50)
    repo.signers[TARGETS] = [(repo.keys[TARGETS].keyid, impostor)]
    problem = only(verify_repository(repo.build(), NOW))
    assert problem.role == TARGETS
    assert "threshold" in problem.reason
    assert "0 of 1" in problem.reason
    assert problem.fix == f"offtrust resign {GUN} targets"


def test_targets_signed_by_an_unlisted_key_under_its_own_id() -> None:
    repo = good_repo()
    impostor = ed25519_key(51)
    repo.signers[TARGETS] = [(impostor.keyid, impostor)]
    problem = only(verify_repository(repo.build(), NOW))
    assert problem.role == TARGETS
    assert "0 of 1" in problem.reason


def test_delegation_without_a_valid_signature() -> None:
    repo = good_repo()
    repo.signers[RELEASES] = [(delegation_key(1).keyid, delegation_key(9))]
    problem = only(verify_repository(repo.build(), NOW))
    assert problem.role == RELEASES
    assert problem.severity == ERROR
    assert problem.fix == f"offtrust witness {GUN} {RELEASES}"


def test_delegation_with_no_signatures() -> None:
    repo = good_repo()
    repo.signers[RELEASES] = []
    problem = only(verify_repository(repo.build(), NOW))
    assert problem.role == RELEASES
    assert problem.reason == "has no signatures"
    assert problem.fix == f"offtrust witness {GUN} {RELEASES}"


def test_expired_targets_is_an_error() -> None:
    repo = good_repo()
    repo.expire(TARGETS, NOW - timedelta(seconds=1))
    problem = only(verify_repository(repo.build(), NOW))
    assert problem.role == TARGETS
    assert problem.severity == ERROR
    assert "expired" in problem.reason
    assert problem.fix == f"offtrust resign {GUN} targets"


def test_targets_expiring_in_ten_days_is_a_warning() -> None:
    repo = good_repo()
    repo.expire(TARGETS, NOW + timedelta(days=10))
    report = verify_repository(repo.build(), NOW)
    problem = only(report)
    assert report.ok
    assert problem.role == TARGETS
    assert problem.severity == WARNING
    assert "expires soon" in problem.reason
    assert problem.fix == f"offtrust resign {GUN} targets"


def test_targets_expiring_in_31_days_is_fine() -> None:
    repo = good_repo()
    repo.expire(TARGETS, NOW + timedelta(days=31))
    assert verify_repository(repo.build(), NOW).problems == []


def test_expired_timestamp_is_only_a_warning() -> None:
    repo = good_repo()
    report = verify_repository(repo.build(), NOW + timedelta(days=15))
    problem = only(report)
    assert report.ok
    assert problem.role == TIMESTAMP
    assert problem.severity == WARNING
    assert "expired" in problem.reason
    assert problem.fix == f"offtrust fetch {GUN} --server URL"


def _hash_edit(algorithm: str) -> Callable[[MetaFile], MetaFile]:
    def edit(entry: MetaFile) -> MetaFile:
        hashes = dict(entry.hashes)
        hashes[algorithm] = corrupt(hashes[algorithm])
        return MetaFile(entry.length, hashes)

    return edit


def _length_edit(entry: MetaFile) -> MetaFile:
    return MetaFile(entry.length + 1, dict(entry.hashes))


@pytest.mark.parametrize(
    ("role", "edit", "reason"),
    [
        (TARGETS, _hash_edit("sha256"), "sha256 checksum differs"),
        (TARGETS, _hash_edit("sha512"), "sha512 checksum differs"),
        (TARGETS, _length_edit, "length"),
        (ROOT, _hash_edit("sha256"), "sha256 checksum differs"),
        (RELEASES, _hash_edit("sha256"), "sha256 checksum differs"),
        (RELEASES, _length_edit, "length"),
    ],
    ids=[
        "targets-sha256",
        "targets-sha512",
        "targets-length",
        "root-sha256",
        "delegation-sha256",
        "delegation-length",
    ],
)
def test_snapshot_mismatch(role: str, edit: Callable[[MetaFile], MetaFile], reason: str) -> None:
    repo = good_repo()
    repo.meta_edits[role] = edit
    problem = only(verify_repository(repo.build(), NOW))
    assert problem.role == role
    assert problem.severity == ERROR
    assert problem.reason.startswith("does not match snapshot")
    assert reason in problem.reason
    assert problem.fix == f"offtrust fetch {GUN} --server URL"


def test_snapshot_missing_targets_entry() -> None:
    repo = good_repo()
    state = repo.build()
    snapshot = state.roles[SNAPSHOT].signed
    del snapshot.meta[TARGETS]
    state.roles[SNAPSHOT] = reparse(
        sign_metadata(snapshot, [(repo.keys[SNAPSHOT].keyid, repo.keys[SNAPSHOT])]), SNAPSHOT
    )
    errors = verify_repository(state, NOW).errors
    # The timestamp now records the old snapshot too (a second error).
    assert (SNAPSHOT, "does not record targets") in [(e.role, e.reason) for e in errors]


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (_hash_edit("sha256"), "sha256 checksum differs"),
        (_hash_edit("sha512"), "sha512 checksum differs"),
        (_length_edit, "length"),
    ],
    ids=["sha256", "sha512", "length"],
)
def test_timestamp_mismatch_for_snapshot(edit: Callable[[MetaFile], MetaFile], reason: str) -> None:
    repo = good_repo()
    repo.meta_edits[SNAPSHOT] = edit
    problem = only(verify_repository(repo.build(), NOW))
    assert problem.role == SNAPSHOT
    assert problem.reason.startswith("does not match timestamp")
    assert reason in problem.reason
    assert problem.fix == f"offtrust fetch {GUN} --server URL"


@pytest.mark.parametrize(
    "name",
    ["releases", "targets/Releases", "targets/a b", "targets/a/../b", "targets/other/deep"],
    ids=["no-prefix", "upper-case", "space", "dot-dot", "wrong-parent"],
)
def test_delegation_with_an_invalid_name(name: str) -> None:
    repo = good_repo()
    repo.add_delegation(name, [delegation_key(4)], with_file=False)
    problem = only(verify_repository(repo.build(), NOW))
    assert problem.role == TARGETS
    assert problem.severity == ERROR
    assert "invalid role name" in problem.reason
    assert name in problem.reason
    assert problem.fix == f"offtrust delegation remove {GUN} {name}"


def test_delegation_key_id_without_a_key() -> None:
    repo = good_repo()
    missing = "ab" * 32
    repo.targets().delegations.get(RELEASES).keyids.append(missing)  # type: ignore[union-attr]
    problem = only(verify_repository(repo.build(), NOW))
    assert problem.role == TARGETS
    assert RELEASES in problem.reason
    assert missing[:12] in problem.reason
    assert "no corresponding key" in problem.reason
    assert problem.fix == f"offtrust delegation remove {GUN} {RELEASES} {missing}"


def test_target_outside_the_delegation_paths_is_a_warning() -> None:
    repo = RepoBuilder()
    repo.add_delegation(RELEASES, [delegation_key(1)], paths=["v1"])
    repo.add_target(RELEASES, "v1.0")
    repo.add_target(RELEASES, "latest")
    report = verify_repository(repo.build(), NOW)
    problem = only(report)
    assert report.ok
    assert problem.role == RELEASES
    assert problem.severity == WARNING
    assert "'latest'" in problem.reason
    assert problem.fix == f"offtrust target remove {GUN} latest --role {RELEASES}"


def test_root_certificate_for_another_gun() -> None:
    repo = good_repo()
    key = root_key(2)
    repo.set_root_certificate(root_certificate(key, "example.com/other"), key)
    problem = only(verify_repository(repo.build(), NOW))
    assert problem.role == ROOT
    assert problem.severity == ERROR
    assert "'example.com/other'" in problem.reason
    assert problem.fix == f"offtrust key rotate {GUN} root"


@pytest.mark.parametrize(
    ("starts_in", "refused"),
    [(timedelta(hours=-1), False), (timedelta(hours=23), False), (timedelta(days=2), True)],
    ids=["started", "within-notarys-day-of-leeway", "not-yet-valid"],
)
def test_root_certificate_not_yet_valid(starts_in: timedelta, refused: bool) -> None:
    repo = good_repo()
    key = root_key(2)
    repo.set_root_certificate(root_certificate(key, now=NOW + starts_in), key)
    problems = [p for p in verify_repository(repo.build(), NOW).errors if p.role == ROOT]
    assert bool(problems) is refused
    if refused:
        assert "is not valid before" in problems[0].reason


def test_root_key_with_two_leaf_certificates() -> None:
    from offtrust.model.keys import PublicKey

    repo = good_repo()
    key = root_key(2)
    cert = root_certificate(key)
    other = root_certificate(root_key(3))
    both = PublicKey.from_bytes("ecdsa-x509", cert.public_bytes + other.public_bytes)
    repo.set_root_certificate(both, key)
    problems = [p.reason for p in verify_repository(repo.build(), NOW).errors]
    assert any("holds 2 leaf certificates" in r for r in problems), problems


def test_a_key_id_that_is_not_its_keys_id_is_refused() -> None:
    repo = good_repo()
    targets = repo.signed[TARGETS]
    real = delegation_key(1).public_key()
    made_up = "ab" * 32
    targets.delegations.keys[made_up] = real
    entry = targets.delegations.get(RELEASES)
    assert entry is not None
    entry.keyids = [*entry.key_ids, made_up]
    report = verify_repository(repo.build(), NOW)
    assert any(
        p.role == TARGETS and "not valid for its key content" in p.reason for p in report.errors
    ), [str(p) for p in report.problems]
    assert RELEASES not in report.trusted


def test_root_certificate_with_wildcard_common_name_is_accepted() -> None:
    repo = good_repo()
    key = root_key(2)
    repo.set_root_certificate(root_certificate(key, "example.com/*"), key)
    assert verify_repository(repo.build(), NOW).problems == []


def test_root_certificate_expiring_within_30_days_is_a_warning() -> None:
    repo = good_repo()
    key = root_key(3)
    cert = root_certificate(key, now=NOW - timedelta(days=3640), days=3650)
    repo.set_root_certificate(cert, key)
    report = verify_repository(repo.build(), NOW)
    problem = only(report)
    assert report.ok
    assert problem.role == ROOT
    assert problem.severity == WARNING
    assert "expires soon" in problem.reason
    assert problem.fix == f"offtrust key rotate {GUN} root"


def test_expired_root_certificate_is_an_error() -> None:
    repo = good_repo()
    key = root_key(3)
    repo.set_root_certificate(root_certificate(key, now=NOW - timedelta(days=11), days=10), key)
    problem = only(verify_repository(repo.build(), NOW))
    assert problem.role == ROOT
    assert problem.severity == ERROR
    assert "expired" in problem.reason


def test_tampered_document_after_signing() -> None:
    repo = good_repo()

    def tamper(docs: dict[str, Metadata[Any]]) -> None:
        md = docs[RELEASES]
        md.signed.targets["v1"].length += 1
        md.changed()

    problem = only(verify_repository(repo.build(tamper=tamper), NOW))
    assert problem.role == RELEASES
    assert "threshold" in problem.reason


# -- staged state -----------------------------------------------------------------------


def test_staged_root_must_follow_the_published_version() -> None:
    repo = good_repo()
    state = repo.build()
    root = Metadata.from_bytes(state.roles[ROOT].to_bytes(), ROOT).signed
    root.version = 3
    signers = list(zip(repo.root_certs, repo.root_keys, strict=True))
    state.roles[ROOT] = reparse(sign_metadata(root, signers), ROOT)
    state.staged.add(ROOT)
    report = verify_repository(state, NOW)
    roles = [(p.role, p.severity) for p in report.problems]
    assert (ROOT, ERROR) in roles
    first = report.errors[0]
    assert "root version 3 skips versions after the trusted root version 1" in first.reason
    with pytest.raises(RollbackError):
        report.raise_for_errors()


# -- raise_for_errors -------------------------------------------------------------------


def _report_for(build: Callable[[RepoBuilder], None]) -> VerificationReport:
    repo = good_repo()
    build(repo)
    return verify_repository(repo.build(), NOW)


@pytest.mark.parametrize(
    ("change", "kind"),
    [
        (lambda r: r.expire(TARGETS, NOW - timedelta(days=1)), ExpiredError),
        (lambda r: r.signers.__setitem__(RELEASES, []), SignatureError),
        (lambda r: r.root.roles[ROOT].__setattr__("threshold", 2), SignatureError),
        (lambda r: r.meta_edits.__setitem__(TARGETS, _length_edit), HashMismatchError),
        (lambda r: r.meta_edits.__setitem__(SNAPSHOT, _hash_edit("sha256")), HashMismatchError),
        (lambda r: r.add_delegation("targets/A", [delegation_key(5)]), VerificationError),
    ],
    ids=["expired", "no-signature", "threshold", "snapshot-length", "timestamp-hash", "bad-name"],
)
def test_raise_for_errors_raises_the_right_class(
    change: Callable[[RepoBuilder], None], kind: type[VerificationError]
) -> None:
    report = _report_for(change)
    with pytest.raises(VerificationError) as info:
        report.raise_for_errors()
    assert type(info.value) is kind
    first = report.errors[0]
    assert info.value.message.startswith(f"{GUN}: {first.role}: {first.reason}")
    assert info.value.hint == first.fix


def test_raise_for_errors_counts_the_other_errors() -> None:
    repo = good_repo()
    repo.expire(TARGETS, NOW - timedelta(days=1))
    repo.expire(RELEASES, NOW - timedelta(days=1))
    report = verify_repository(repo.build(), NOW)
    assert len(report.errors) == 2
    with pytest.raises(ExpiredError, match=r"\(and 1 more\)$"):
        report.raise_for_errors()


def test_raise_for_errors_ignores_warnings() -> None:
    repo = good_repo()
    repo.expire(TARGETS, NOW + timedelta(days=1))
    report = verify_repository(repo.build(), NOW)
    assert report.warnings
    report.raise_for_errors()
