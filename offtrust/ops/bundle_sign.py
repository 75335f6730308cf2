"""``bundle sign`` and ``bundle show``: gather signatures across places, in a bundle.

When a role needs more signatures than the keys in one place (root threshold
2, the keys with two people), ``stage`` packs it partly signed; ``bundle sign``
on another machine verifies the whole bundle by the trust rules
(:mod:`offtrust.model.verify`), then adds a signature from every local key
that may sign a role still *pending signatures* and has not signed it yet:
appended, the ``signed`` content and version unchanged, the signatures in
key ID order so that the same set of signatures always gives the same bytes.
A staged snapshot that records the role's older bytes is signed again (same
version) where its key is local; elsewhere the bundle says so and ``bundle
verify`` refuses it until it is.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from offtrust.errors import MissingKeyError, OfftrustError, VerificationError
from offtrust.model.keys import PublicKey
from offtrust.model.metadata import ROOT, SNAPSHOT, TARGETS, Metadata, MetaFile
from offtrust.model.repository import RepoState
from offtrust.model.signing import Signer, sign_metadata
from offtrust.model.verify import (
    PENDING,
    PENDING_ROLES,
    STALE_SNAPSHOT,
    VerificationReport,
    still_to_sign,
    verify_repository,
)
from offtrust.ops.context import Context
from offtrust.ops.online import bundle_state, checked_bundle_state

if TYPE_CHECKING:
    from offtrust.bundle import Bundle, BundleFile, BundleGUN
    from offtrust.store.keyring import Keyring
    from offtrust.store.keystore import PassphraseSource


@dataclass
class BundleSignResult:
    """What ``bundle sign`` did.

    Attributes:
        data: the new bundle bytes; None when nothing was signed (the bundle
            already meets every threshold) and the file stays as it is.
        signed: per GUN, per role, the key IDs that added a signature.
        notes: what is still missing after signing, and where to do it.
    """

    data: bytes | None
    signed: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def sign_bundle(ctx: Context, bundle: Bundle, passphrases: PassphraseSource) -> BundleSignResult:
    """Add the local keys' signatures to every role of *bundle* still pending signatures.

    Args:
        ctx: the trust directory whose key store holds the keys.
        bundle: the bundle, read and checked by :func:`offtrust.bundle.read_bundle`.
        passphrases: how to decrypt the keys.

    Returns:
        The new bundle bytes (None when every role already meets its
        thresholds), what was signed, and what is still missing.

    Raises:
        VerificationError: (or a subclass) a GUN fails a trust rule other than
            missing signatures (nothing is signed then), or the signed result
            does not verify.
        MissingKeyError: signatures are missing but no local key can add one.
        KeyAccessError: a key cannot be decrypted.
    """
    from offtrust.bundle import write_bundle

    keyring = ctx.keyring(passphrases)
    entries: list[BundleGUN] = []
    result = BundleSignResult(data=None)
    wanted: list[str] = []
    changed = False
    for gun in sorted(bundle.guns):
        entry = bundle.guns[gun]
        if getattr(entry, "delete", False) or not entry.files:
            entries.append(entry)
            continue
        state = checked_bundle_state(entry)
        report = _verify(ctx, state, before=True)
        pending = {p.role for p in report.pending}
        stale = any(p.kind == STALE_SNAPSHOT for p in report.errors)
        if not pending and not stale:
            entries.append(entry)
            continue
        signed: dict[str, list[str]] = {}
        for role in PENDING_ROLES:
            if role not in pending or (role == SNAPSHOT and stale):
                continue
            added = _sign_role(state.roles[role], report, role, keyring, append=True)
            if added:
                signed[role] = added
            else:
                wanted += [f"{gun} {role}: " + _who(report, role)]
        if SNAPSHOT in state.staged:
            records = _stale_records(state)
            if records:
                resigned = _resign_snapshot(state, report, records, keyring)
                if resigned:
                    signed[SNAPSHOT] = resigned
                else:
                    result.notes.append(
                        f"{gun}: snapshot records older bytes of {', '.join(records)}; it must "
                        "be signed again: a holder of the snapshot key runs "
                        "`offtrust bundle sign BUNDLE`"
                    )
        if not signed:
            entries.append(entry)
            continue
        changed = True
        result.signed[gun] = signed
        new_entry = dataclasses.replace(entry, files=_files(entry, state, signed))
        after = _verify(ctx, bundle_state(new_entry), before=False)
        for problem in after.pending:
            result.notes.append(f"{gun}: {problem} (fix: {problem.fix})")
        entries.append(new_entry)
    if not changed:
        if wanted:
            raise MissingKeyError(
                "no local key can add a signature the bundle still needs: " + "; ".join(wanted),
                hint="a holder of one of those keys runs `offtrust bundle sign BUNDLE`",
            )
        return result
    result.data = write_bundle(entries)
    result.notes += [f"still to sign: {w}" for w in wanted]
    return result


def _verify(ctx: Context, state: RepoState, *, before: bool) -> VerificationReport:
    """Verify a bundled GUN; refuse anything but missing signatures and a stale snapshot.

    Raises:
        VerificationError: another problem (before signing: nothing is signed).
    """
    report = verify_repository(state, ctx.now(), crypto=ctx.crypto)
    errors, _ = report.for_publishing(state.staged)
    blocking = [p for p in errors if p.kind not in (PENDING, STALE_SNAPSHOT)]
    prefix = "refusing to sign bundle GUN " if before else "signed, but bundle GUN "
    report.raise_for(blocking, prefix=prefix)
    return report


def _who(report: VerificationReport, role: str) -> str:
    counts = report.counts.get(role, [])
    ids = ", ".join(k[:12] for k in still_to_sign(counts)) or "none"
    return f"{', '.join(str(c) for c in counts)}; may still sign: {ids}"


def _local_signers(
    keys: dict[str, PublicKey], keyring: Keyring, skip: set[str]
) -> list[tuple[str, Signer]]:
    """(listed key ID, signer) for each of *keys* held locally, except those in *skip*."""
    from offtrust.crypto import canonical_keyid

    out: list[tuple[str, Signer]] = []
    for keyid, public in keys.items():
        if keyid in skip:
            continue
        try:
            cid = canonical_keyid(public)
        except OfftrustError:
            continue  # an unreadable certificate cannot sign (verify reported it)
        if keyring.has(cid):
            out.append((keyid, keyring.private_key(cid)))
            skip.add(keyid)
    return out


def _sign_role(
    md: Metadata[Any],
    report: VerificationReport,
    role: str,
    keyring: Keyring,
    *,
    append: bool,
) -> list[str]:
    """Sign *md* with every local key of any of *role*'s thresholds that has not yet.

    Returns:
        The listed key IDs that signed (empty: no local key could).
    """
    done: set[str] = set()
    signers: list[tuple[str, Signer]] = []
    counts = report.counts.get(role, [])
    if append:
        for count in counts:
            done |= count.valid
    for count in counts:
        signers += _local_signers(count.keys, keyring, done)
    if not signers:
        return []
    sign_metadata(md, signers, append=append)
    canonical_order(md)
    return [keyid for keyid, _ in signers]


def canonical_order(md: Metadata[Any]) -> None:
    """Keep *md*'s signatures sorted by key ID: one set of signatures, one byte string."""
    md.signatures = sorted(md.signatures or [], key=lambda s: (s.keyid, s.method, s.sig))
    md.raw = md.serialize()


def _stale_records(state: RepoState) -> list[str]:
    """Staged root and targets whose bytes the staged snapshot no longer records."""
    snapshot = state.roles[SNAPSHOT]
    out = []
    for role in (ROOT, TARGETS):
        md = state.roles.get(role)
        entry = snapshot.signed.meta.get(role)
        if md is None or role not in state.staged or entry is None:
            continue
        if entry.mismatch(md.to_bytes()):
            out.append(role)
    return out


def _resign_snapshot(
    state: RepoState, report: VerificationReport, records: list[str], keyring: Keyring
) -> list[str]:
    """Record the new bytes of *records* in the staged snapshot and sign it again, same version.

    Only staged root and targets are recorded anew: their own signatures were
    just verified (pending or complete); nothing else in the snapshot changes.

    Returns:
        The snapshot key IDs that signed (empty: no snapshot key is local, and
        the snapshot is left as it was).
    """
    counts = report.counts.get(SNAPSHOT, [])
    if not any(_local_signers(c.keys, keyring, set()) for c in counts):
        return []
    snapshot = state.roles[SNAPSHOT]
    for role in records:
        snapshot.signed.meta[role] = MetaFile.for_bytes(state.roles[role].to_bytes())
    snapshot.changed()
    return _sign_role(snapshot, report, SNAPSHOT, keyring, append=False)


def _files(
    entry: BundleGUN, state: RepoState, signed: dict[str, list[str]]
) -> dict[str, BundleFile]:
    """The entry's files with the newly signed documents' bytes."""
    files = dict(entry.files)
    for role in signed:
        old = files[role]
        if not old.upload:
            raise VerificationError(f"{entry.gun}: {role} is not uploaded, so it is not signed")
        files[role] = dataclasses.replace(old, data=state.roles[role].to_bytes())
    return files


def show_bundle(ctx: Context, bundle: Bundle) -> dict[str, Any]:
    """Per GUN, per role: version, upload, valid signatures and each threshold.

    The counts are the trust rules' own (:attr:`VerificationReport.counts`);
    a GUN that fails other rules is still shown, with its errors.

    Returns:
        ``{"sha256", "manifest", "guns": {gun: {"ok", "problems", "roles":
        {role: {"version", "upload", "signatures", "thresholds"}}}}}``.
    """
    guns: dict[str, Any] = {}
    for gun in sorted(bundle.guns):
        entry = bundle.guns[gun]
        roles: dict[str, Any] = {}
        problems: list[dict[str, Any]] = []
        counts: dict[str, Any] = {}
        if getattr(entry, "delete", False):
            guns[gun] = {"new_gun": False, "delete": True, "ok": True, "problems": [], "roles": {}}
            continue
        try:
            state = checked_bundle_state(entry)
            report = verify_repository(state, ctx.now(), crypto=ctx.crypto)
            counts = report.counts
            problems = [p.to_dict() for p in report.problems]
        except OfftrustError as e:
            problems = [
                {"role": "metadata", "reason": e.message, "fix": e.hint, "severity": "error"}
            ]
        for role, f in sorted(entry.files.items()):
            role_counts = counts.get(role, [])
            valid = sorted({k for c in role_counts for k in c.valid})
            roles[role] = {
                "version": f.version,
                "upload": f.upload,
                "signatures": valid,
                "thresholds": [c.to_dict() for c in role_counts],
            }
        guns[gun] = {
            "new_gun": entry.new_gun,
            "delete": False,
            "ok": not any(p["severity"] == "error" for p in problems),
            "problems": problems,
            "roles": roles,
        }
    return {"sha256": bundle.sha256, "manifest": bundle.manifest, "guns": guns}
