"""The trust rules of offtrust, in one place: what makes a GUN's metadata valid.

Every input goes through :func:`verify_repository`: the published cache with
staged edits over it (``verify``, every edit, ``stage``), a bundle (``bundle
verify``, ``publish``) and what a server serves (``fetch``, and ``publish``
after uploading). The caller says what the state is checked against through
the fields of :class:`~offtrust.model.repository.RepoState` (the trusted root,
intermediate roots, version floors, network input); the rules are the same.

The rules (python-tuf's ``trusted_metadata_set.py`` and notary 0.7's client
and server, whichever is stricter):

- the trusted root is the published root (trust on first use, as Docker);
  every newer root is signed by the previous root's threshold and by its own,
  with version = previous + 1, following at most :data:`MAX_ROOT_CHAIN` steps;
- every key ID is the ID of its key's content (notary: "key ID is not valid
  for key content"), and signatures count once per distinct key;
- root keys are certificates notary accepts: one leaf, valid now, for the GUN;
- timestamp, snapshot and targets are present; the timestamp vouches for the
  snapshot's bytes, the snapshot for every other file's; a snapshot lists
  every delegation with a document;
- no role's version goes below its floor, except that a root which rotates the
  timestamp or snapshot keys resets that role's floor (TUF 5.3.11);
- expiry: fatal for network input, a warning for a cached timestamp (the
  server re-signs it), an error otherwise; expired but validly signed roles
  stay readable (:meth:`VerificationReport.is_usable`);
- a delegation is trusted only when its parent is; one that fails is skipped
  (its own problems are reported), not fatal to the GUN.

Nothing here reads files, the clock or a key: the reference time and a
:class:`Crypto` backend (signature checks, certificates) are passed in.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from offtrust.errors import (
    ExpiredError,
    HashMismatchError,
    InvalidMetadataError,
    RollbackError,
    SignatureError,
    VerificationError,
)
from offtrust.model.keys import PublicKey
from offtrust.model.metadata import (
    BASE_ROLES,
    ROOT,
    SNAPSHOT,
    TARGETS,
    TIMESTAMP,
    Metadata,
    Root,
)
from offtrust.model.repository import RepoState
from offtrust.model.roles import RELEASES, is_delegation, parent_of

WARN_BEFORE_EXPIRY = timedelta(days=30)
CERTIFICATE_START_LEEWAY = timedelta(days=1)
#: The most root versions followed from the trusted root to the newest one.
MAX_ROOT_CHAIN = 256
ERROR, WARNING = "error", "warning"
SIGNATURE, EXPIRY, HASH, ROLLBACK, STRUCTURE = (
    "signature",
    "expiry",
    "hash",
    "rollback",
    "verification",
)
#: A staged or bundled top-level role that passes every rule except that it
#: has fewer valid signatures than a threshold (its own, or for a new root the
#: previous root's): signatures still to be gathered where the other keys are.
#: Editing and ``stage`` accept it with a warning; ``bundle verify`` and
#: ``publish`` refuse it. A present but invalid signature is never pending.
PENDING = "pending-signatures"
#: A staged snapshot that records older bytes of a staged root or targets
#: whose own signatures verify (``bundle sign`` added signatures to it): the
#: snapshot must be signed again where its key is.
STALE_SNAPSHOT = "stale-snapshot"
#: Top-level roles whose missing signatures may be gathered elsewhere (the
#: timestamp is always signed by the server).
PENDING_ROLES = (ROOT, TARGETS, SNAPSHOT)
#: The fix of a role pending signatures, in a bundle.
PENDING_FIX = "a holder of those keys runs `offtrust bundle sign BUNDLE`"


class CertificateFacts(Protocol):
    """What the rules need to know of a key's certificate."""

    @property
    def common_name(self) -> str | None: ...
    @property
    def not_before(self) -> datetime: ...
    @property
    def not_after(self) -> datetime: ...
    @property
    def uses_sha1(self) -> bool: ...
    @property
    def is_ca(self) -> bool: ...
    @property
    def leaf_count(self) -> int: ...


class Crypto(Protocol):
    """The cryptographic back-end the rules call (``offtrust.crypto`` in production)."""

    def verify_signature(
        self, key: PublicKey, method: str, signature: bytes, message: bytes
    ) -> bool: ...

    def certificate_info(self, key: PublicKey) -> CertificateFacts: ...


@dataclass(frozen=True)
class Problem:
    """One finding: which role, what is wrong, and the command that fixes it."""

    role: str
    reason: str
    fix: str | None = None
    severity: str = ERROR
    #: What kind of failure it is; picks the exception of raise_for_errors.
    kind: str = STRUCTURE

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "reason": self.reason,
            "fix": self.fix,
            "severity": self.severity,
        }

    def __str__(self) -> str:
        text = f"{self.role}: {self.reason}"
        return f"{text} (fix: {self.fix})" if self.fix else text


@dataclass(frozen=True)
class ThresholdCount:
    """The valid signatures of one role against one threshold.

    Attributes:
        label: whose threshold it is when a role has several (``new root``,
            ``previous root v1``); empty otherwise.
        threshold: how many distinct keys must sign.
        keyids: the key IDs that may sign, as the role lists them.
        valid: those of *keyids* with a valid signature on the document.
        keys: the public key of each of *keyids*.
    """

    label: str
    threshold: int
    keyids: tuple[str, ...]
    valid: frozenset[str]
    keys: dict[str, PublicKey] = field(default_factory=dict, compare=False, repr=False)

    @property
    def met(self) -> bool:
        return len(self.valid) >= self.threshold

    @property
    def unsigned(self) -> list[str]:
        """Listed key IDs that have not signed yet, in listed order."""
        return [k for k in self.keyids if k not in self.valid]

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "threshold": self.threshold,
            "valid": sorted(self.valid),
            "keyids": sorted(self.keyids),
            "met": self.met,
        }

    def __str__(self) -> str:
        text = f"{len(self.valid)} of {self.threshold}"
        return f"{text} ({self.label})" if self.label else text


def still_to_sign(counts: Iterable[ThresholdCount]) -> list[str]:
    """Key IDs that may still sign towards a threshold not yet met, without duplicates."""
    out: list[str] = []
    for count in counts:
        if not count.met:
            out.extend(k for k in count.unsigned if k not in out)
    return out


_ERROR_CLASSES: dict[str, type[VerificationError]] = {
    PENDING: SignatureError,
    STALE_SNAPSHOT: HashMismatchError,
    SIGNATURE: SignatureError,
    EXPIRY: ExpiredError,
    HASH: HashMismatchError,
    ROLLBACK: RollbackError,
}


@dataclass
class VerificationReport:
    """Every problem of one GUN, and which roles can be trusted.

    Attributes:
        checked: roles whose document was checked, walk order.
        trusted: roles whose document passed every rule but expiry, and whose
            parent (root for the top-level roles) is trusted too.
        vouched: roles whose bytes are the ones a trusted snapshot records
            (content authentic even where a signature is missing).
    """

    gun: str
    problems: list[Problem] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    trusted: set[str] = field(default_factory=set)
    vouched: set[str] = field(default_factory=set)
    #: Per role, its valid signatures against each threshold that applies to
    #: it (for the newest root: its own root keys', then the previous root's).
    counts: dict[str, list[ThresholdCount]] = field(default_factory=dict)
    #: Exit status when the report has errors: 1, or the status of the error
    #: that kept the metadata from loading (2 for malformed or missing files).
    exit_code: int = 1

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors

    def errors_of(self, role: str) -> list[Problem]:
        return [p for p in self.errors if p.role == role]

    @property
    def pending(self) -> list[Problem]:
        """Top-level roles still gathering signatures (see :data:`PENDING`)."""
        return [p for p in self.errors if p.kind == PENDING]

    def is_usable(self, role: str) -> bool:
        """The role's content can be read and edited: trusted (expired or not)."""
        return role in self.trusted

    def is_resignable(self, role: str) -> bool:
        """The role may be signed again: trusted, or vouched for with only its signatures failing.

        This is what ``witness`` and ``resign`` may touch: content that a
        trusted snapshot records byte for byte, so signing it launders nothing.
        """
        if role in self.trusted:
            return True
        kinds = {p.kind for p in self.errors_of(role)}
        return role in self.vouched and kinds <= {SIGNATURE, EXPIRY}

    def blocking(self, *, strict_expiry: bool = False) -> list[Problem]:
        """Errors that make the whole GUN untrustworthy: any top-level role failing.

        Delegations that fail are skipped, not blocking. Expiry blocks only with
        *strict_expiry* (network input): an expired role can still be re-signed.
        """
        return [
            p
            for p in self.errors
            if not is_delegation(p.role)
            and p.kind != PENDING
            and (strict_expiry or p.kind != EXPIRY)
        ]

    def for_publishing(self, uploads: Iterable[str]) -> tuple[list[Problem], list[Problem]]:
        """The errors that refuse staging or publishing *uploads*, and the warnings.

        A delegated role that is not uploaded and lacks valid signatures (a
        signer's key was removed, as ``docker trust signer remove`` leaves it)
        is a warning: the server accepts the upload and keeps that role's
        file. Everything else that is an error stays one: an uploaded role
        below its threshold is refused by the server, a top-level role below
        threshold makes the GUN unusable, and content that fails its hash is
        never published.
        """
        uploaded = set(uploads)
        errors, warnings = [], list(self.warnings)
        for p in self.errors:
            if p.kind == SIGNATURE and is_delegation(p.role) and p.role not in uploaded:
                warnings.append(Problem(p.role, p.reason, p.fix, WARNING, p.kind))
            else:
                errors.append(p)
        return errors, warnings

    def to_dict(self) -> dict[str, Any]:
        return {
            "gun": self.gun,
            "ok": self.ok,
            "checked": list(self.checked),
            "problems": [p.to_dict() for p in self.problems],
        }

    def raise_for(self, problems: list[Problem], prefix: str = "") -> None:
        """Raise the error class of the first of *problems*, naming it.

        Raises:
            VerificationError: (or a subclass) when *problems* is not empty.
        """
        if not problems:
            return
        first = problems[0]
        kind = _ERROR_CLASSES.get(first.kind, VerificationError)
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise kind(f"{prefix}{self.gun}: {first.role}: {first.reason}{more}", hint=first.fix)

    def raise_for_errors(self) -> None:
        """Raise the error class of the first error.

        Raises:
            VerificationError: (or a subclass) when any error was found.
        """
        self.raise_for(self.errors)


def count_valid_signatures(
    md: Metadata[Any], keys: dict[str, PublicKey], crypto: Crypto
) -> set[str]:
    """The distinct keys of *keys* with a valid signature on *md*, by content key ID.

    A key listed under several IDs counts once: the signature's key ID picks
    the key, and the key's own ID is what is counted.

    Raises:
        InvalidMetadataError: the ``signed`` object cannot be canonicalized.
    """
    message = md.verification_message()
    valid: set[str] = set()
    for sig in md.iter_signatures():
        key = keys.get(sig.keyid)
        if key is None or key.keyid in valid:
            continue
        if crypto.verify_signature(key, sig.method.lower(), sig.sig_bytes, message):
            valid.add(key.keyid)
    return valid


def bad_key_ids(keys: dict[str, PublicKey]) -> list[str]:
    """Listed key IDs that are not the ID of their key's content."""
    return [keyid for keyid, key in keys.items() if key.keyid != keyid]


class _Checker:
    def __init__(self, state: RepoState, now: datetime, crypto: Crypto) -> None:
        self.state = state
        self.gun = state.gun
        self.now = now
        self.crypto = crypto
        self.report = VerificationReport(gun=state.gun)
        published_root = state.published.get(ROOT)
        self.trusted_root = state.trusted_root or (published_root if ROOT in state.staged else None)
        self.floors = dict(state.floors)
        for role in state.staged:
            old = state.published.get(role)
            if old is not None:
                self.floors[role] = max(self.floors.get(role, 0), old.signed.version + 1)
        self.fetch = f"offtrust fetch {self.gun} --server URL"
        self.snapshot_trusted = False
        # Thresholds a staged top-level role is below, by role: (reason, fix).
        self.pending: dict[str, list[tuple[str, str | None]]] = {}

    def add(
        self,
        role: str,
        reason: str,
        fix: str | None = None,
        severity: str = ERROR,
        *,
        kind: str = STRUCTURE,
    ) -> None:
        self.report.problems.append(Problem(role, reason, fix, severity, kind))

    def failed(self, role: str) -> bool:
        """*role* has an error other than expiry or signatures still being gathered."""
        return any(p.kind not in (EXPIRY, PENDING) for p in self.report.errors_of(role))

    def refetch(self, role: str) -> str:
        """The fix for content that cannot be trusted: drop the staged edit, or fetch again."""
        return f"offtrust reset {self.gun}" if role in self.state.staged else self.fetch

    # -- individual rules ------------------------------------------------

    def signatures(
        self,
        role: str,
        md: Metadata[Any],
        keys: dict[str, PublicKey],
        threshold: int,
        fix: str | None,
        signed_by: str = "",
        *,
        label: str = "",
        record: bool = True,
    ) -> bool:
        """*md* carries a threshold of valid signatures by distinct keys of *keys*.

        A staged top-level role below the threshold, with no invalid signature
        by a key of *keys*, is only pending (:meth:`settle` decides): this
        returns True so that its other thresholds are counted too.

        Args:
            signed_by: whose keys these are, for the message (root rotation).
            label: whose threshold it is, for :attr:`VerificationReport.counts`.
            record: add the count to the report (the newest document only).
        """
        try:
            valid = count_valid_signatures(md, keys, self.crypto) if md.signatures else set()
        except InvalidMetadataError as e:
            self.add(role, f"cannot be canonicalized for verification: {e}", fix)
            return False
        if record:
            listed_valid = frozenset(k for k, key in keys.items() if key.keyid in valid)
            count = ThresholdCount(label, threshold, tuple(keys), listed_valid, dict(keys))
            recorded = self.report.counts.setdefault(role, [])
            # A role's own threshold first, then the previous root's.
            recorded.insert(0 if label == "new root" else len(recorded), count)
        if not md.signatures:
            self.add(role, "has no signatures", fix, kind=SIGNATURE)
            return False
        if len(valid) < threshold:
            counts = f"{len(valid)} of {threshold} required, {len(md.signatures)} present"
            reason = (
                f"version {md.signed.version} is not signed by {signed_by} ({counts})"
                if signed_by
                else f"valid signatures did not meet threshold ({counts})"
            )
            invalid = [
                s
                for s in md.iter_signatures()
                if s.keyid in keys and keys[s.keyid].keyid not in valid
            ]
            if record and role in PENDING_ROLES and role in self.state.staged and not invalid:
                self.pending.setdefault(role, []).append((reason, fix))
                return True
            self.add(role, reason, fix, kind=SIGNATURE)
            return False
        return True

    def settle(self, role: str) -> None:
        """Report *role*'s missing signatures: pending, or an ordinary error.

        Pending needs at least one valid signature by a key that may sign the
        role: a document nobody entitled has signed is not half signed.
        """
        below = self.pending.pop(role, None)
        if not below:
            return
        counts = self.report.counts.get(role, [])
        if not any(c.valid for c in counts):
            for reason, fix in below:
                self.add(role, reason, fix, kind=SIGNATURE)
            return
        ids = ", ".join(k[:12] for k in still_to_sign(counts))
        fix = PENDING_FIX
        if self.state.sources.get(role) != "bundle":
            fix = f"offtrust stage {self.gun} --output BUNDLE; then {fix}"
        self.add(
            role,
            f"pending signatures: {', '.join(str(c) for c in counts)}; may still sign: {ids}",
            fix,
            kind=PENDING,
        )

    def key_ids(self, role: str, keys: dict[str, PublicKey], fix: str | None) -> None:
        for keyid in bad_key_ids(keys):
            self.add(role, f"key ID {keyid[:12]} is not valid for its key content", fix)

    def expiry(self, role: str, md: Metadata[Any]) -> None:
        expires = md.signed.expires_at
        if role == TIMESTAMP and not self.state.network:
            # The server re-signs an expired timestamp whenever it is fetched,
            # so an old one in an exported directory is normal.
            if expires <= self.now:
                self.add(
                    role,
                    f"expired at {md.signed.expires} (the server re-signs it on the next fetch)",
                    self.fetch,
                    WARNING,
                )
            return
        fix = self.fetch if role in (TIMESTAMP, SNAPSHOT) and self.state.network else None
        fix = fix or f"offtrust resign {self.gun} {role}"
        if expires <= self.now:
            self.add(role, f"expired at {md.signed.expires}", fix, kind=EXPIRY)
        elif expires - self.now < WARN_BEFORE_EXPIRY:
            self.add(role, f"expires soon, at {md.signed.expires}", fix, WARNING)

    def versions(self) -> None:
        for role, md in self.state.roles.items():
            floor = self.floors.get(role)
            if floor is None or md.signed.version >= floor:
                continue
            if role in self.state.staged and role in self.state.published:
                reason = (
                    f"staged version {md.signed.version} does not move past published "
                    f"version {floor - 1}"
                )
            elif self.state.network:
                reason = (
                    f"version {md.signed.version} is older than the local version {floor} "
                    "(a rollback)"
                )
            else:
                reason = (
                    f"version {md.signed.version} does not move past the base version {floor - 1}"
                )
            self.add(role, reason, self.refetch(role), kind=ROLLBACK)

    def certificates(self, role: str, keys: dict[str, PublicKey], *, is_root: bool) -> None:
        for keyid, key in keys.items():
            if not key.is_x509:
                if is_root:
                    self.add(
                        role,
                        f"root key {keyid[:12]} is a plain {key.keytype} key; "
                        "notary requires an X.509 certificate",
                        f"offtrust key rotate {self.gun} root",
                    )
                continue
            try:
                info = self.crypto.certificate_info(key)
            except Exception as e:  # noqa: BLE001 - reported, not raised
                self.add(
                    role,
                    f"key {keyid[:12]}: unreadable certificate ({e})",
                    f"offtrust key rotate {self.gun} root"
                    if is_root
                    else f"offtrust delegation remove {self.gun} {role} {keyid}",
                )
                continue
            fix = (
                f"offtrust key rotate {self.gun} root"
                if is_root
                else f"offtrust delegation add {self.gun} {role} --key NEW_CERT"
            )
            name = info.common_name
            if (
                is_root
                and name != self.gun
                and not (name and name.endswith("*") and self.gun.startswith(name[:-1]))
            ):
                self.add(
                    role,
                    f"root certificate {keyid[:12]} is for {name!r}, not {self.gun!r}",
                    fix,
                )
            if is_root and info.leaf_count != 1:
                self.add(
                    role,
                    f"root key {keyid[:12]} holds {info.leaf_count} leaf certificates; "
                    "notary needs exactly one",
                    fix,
                )
            # notary gives a certificate one day of leeway on its start
            # (tuf/utils/x509.go ValidateCertificate), for clock skew.
            if is_root and info.not_before > self.now + CERTIFICATE_START_LEEWAY:
                self.add(
                    role,
                    f"root certificate {keyid[:12]} is not valid before "
                    f"{info.not_before:%Y-%m-%d %H:%M:%S}",
                    fix,
                )
            if info.not_after <= self.now:
                self.add(
                    role,
                    f"certificate of key {keyid[:12]} expired at {info.not_after:%Y-%m-%d}",
                    fix,
                    kind=EXPIRY,
                )
            elif info.not_after - self.now < WARN_BEFORE_EXPIRY:
                self.add(
                    role,
                    f"certificate of key {keyid[:12]} expires soon, at {info.not_after:%Y-%m-%d}",
                    fix,
                    WARNING,
                )
            if info.uses_sha1:
                self.add(role, f"certificate of key {keyid[:12]} is signed with SHA-1", fix)
            if is_root and info.is_ca:
                self.add(role, f"root certificate {keyid[:12]} is a CA certificate", fix)

    def covered(self, role: str) -> bool:
        """The current snapshot is meant to record *role*'s current bytes.

        Not so for a staged role while the snapshot is the published one (the
        server signs a new snapshot when the edit is published).
        """
        snapshot_staged = SNAPSHOT in self.state.staged
        return SNAPSHOT in self.state.roles and (role not in self.state.staged or snapshot_staged)

    def snapshot_hash(self, role: str) -> Problem | None:
        """Check *role*'s bytes against the snapshot; mark them vouched when they match.

        Returns:
            The problem found, for the caller to report after the role's
            signatures (a changed file is first of all a bad signature).
        """
        if not self.covered(role):
            return None
        snapshot = self.state.roles[SNAPSHOT]
        md = self.state.roles[role]
        entry = snapshot.signed.meta.get(role)
        if entry is None:
            if role in (ROOT, TARGETS):
                return Problem(SNAPSHOT, f"does not record {role}", self.refetch(SNAPSHOT))
            return Problem(
                role,
                "is not recorded by the snapshot, so clients ignore it",
                self.refetch(role),
                kind=HASH,
            )
        problem = entry.mismatch(md.to_bytes())
        if problem and role in (ROOT, TARGETS) and {role, SNAPSHOT} <= self.state.staged:
            # Both staged: the role's own signatures vouch for its content, and
            # the snapshot recorded it before more signatures were added.
            in_bundle = self.state.sources.get(SNAPSHOT) == "bundle"
            return Problem(
                SNAPSHOT,
                f"records older bytes of {role} ({problem}); it must be signed again",
                "a holder of the snapshot key runs `offtrust bundle sign BUNDLE`"
                if in_bundle
                else f"offtrust reset {self.gun}",
                kind=STALE_SNAPSHOT,
            )
        if problem:
            return Problem(
                role, f"does not match {SNAPSHOT}: {problem}", self.refetch(role), kind=HASH
            )
        if self.snapshot_trusted:
            self.report.vouched.add(role)
        return None

    def then(self, problem: Problem | None) -> None:
        if problem is not None:
            self.report.problems.append(problem)

    # -- the walk -----------------------------------------------------------

    def run(self) -> VerificationReport:
        state = self.state
        report = self.report
        root_md = state.get(ROOT)
        if root_md is None:
            self.add(ROOT, "root.json is missing", self.fetch)
            return report
        report.checked.append(ROOT)
        self.root(root_md)
        root = root_md.signed
        root_ok = not self.failed(ROOT)
        self.fast_forward(root_md)
        self.versions()
        new_gun = not state.published and state.trusted_root is None and not state.network
        self.timestamp_and_snapshot(root, new_gun)

        targets_md = state.get(TARGETS)
        if targets_md is None:
            self.add(TARGETS, "targets.json is missing", self.refetch(TARGETS))
        else:
            report.checked.append(TARGETS)
            self.then(self.snapshot_hash(ROOT))
            hash_problem = self.snapshot_hash(TARGETS)
            self.signatures(
                TARGETS,
                targets_md,
                root.role_keys(TARGETS),
                root.threshold(TARGETS),
                self.resign_fix(TARGETS, f"offtrust resign {self.gun} {TARGETS}"),
            )
            self.settle(TARGETS)
            self.then(hash_problem)
            self.expiry(TARGETS, targets_md)
            if root_ok and not self.failed(TARGETS):
                report.trusted.add(TARGETS)
            self.delegations()
        if root_ok:
            report.trusted.add(ROOT)
            if TIMESTAMP in state.roles and not self.failed(TIMESTAMP):
                report.trusted.add(TIMESTAMP)
            if self.snapshot_trusted and not self.failed(SNAPSHOT):
                report.trusted.add(SNAPSHOT)
        else:
            # Nothing can be trusted when the root cannot.
            report.trusted.clear()
        # Report in the order notary signs: root, targets, delegations, snapshot, timestamp.
        tail = [r for r in (SNAPSHOT, TIMESTAMP) if r in report.checked]
        report.checked = [r for r in report.checked if r not in tail] + tail
        return report

    def resign_fix(self, role: str, fix: str) -> str:
        """*fix* (a re-signing) when the role's content is vouched for, else refetch/reset."""
        return fix if role in self.report.vouched else self.refetch(role)

    def root(self, root_md: Metadata[Any]) -> None:
        gun = self.gun
        root = root_md.signed
        staged = ROOT in self.state.staged
        fix = f"offtrust reset {gun}" if staged else self.fetch
        for name in BASE_ROLES:
            entry = root.roles.get(name)
            if entry is None:
                self.add(ROOT, f"lists no {name} role", f"offtrust key rotate {gun} {name}")
                continue
            if entry.threshold < 1:
                self.add(
                    ROOT,
                    f"{name} threshold {entry.threshold} is below 1",
                    f"offtrust key rotate {gun} {name} --threshold 1",
                )
            missing = [k for k in entry.keyids if k not in root.keys]
            if missing:
                self.add(
                    ROOT,
                    f"{name} role lists unknown key {missing[0][:12]}",
                    f"offtrust key rotate {gun} {name}",
                )
        self.key_ids(ROOT, root.keys, fix)
        root_keys = root.role_keys(ROOT)
        trusted = self.trusted_root
        if trusted is not None and trusted.to_bytes() != root_md.to_bytes():
            self.root_chain(trusted, root_md, fix)
        else:
            self.signatures(ROOT, root_md, root_keys, root.threshold(ROOT), fix)
        self.settle(ROOT)
        self.certificates(ROOT, root_keys, is_root=True)
        self.expiry(ROOT, root_md)

    def root_chain(self, trusted: Metadata[Any], newest: Metadata[Any], fix: str) -> None:
        """Each root after the trusted one: version + 1, signed by the previous and itself."""
        chain = [trusted, *self.state.root_chain, newest]
        if len(chain) - 1 > MAX_ROOT_CHAIN:
            self.add(
                ROOT,
                f"{len(chain) - 1} root versions after the trusted one; at most "
                f"{MAX_ROOT_CHAIN} are followed",
                fix,
                kind=ROLLBACK,
            )
            return
        for previous, current in zip(chain, chain[1:], strict=False):
            old_v, new_v = previous.signed.version, current.signed.version
            if new_v == old_v:
                # Another root under the same version: another repository
                # under this name, unless the trusted keys signed it (a fork).
                signed_by_trusted = self.crypto_threshold(previous, current)
                self.add(
                    ROOT,
                    f"root version {new_v} differs from the trusted root of that version"
                    + ("" if signed_by_trusted else " and is not signed by the trusted root keys"),
                    fix,
                    kind=SIGNATURE if not signed_by_trusted else ROLLBACK,
                )
                return
            if new_v != old_v + 1:
                what = "does not move past" if new_v <= old_v else "skips versions after"
                self.add(
                    ROOT,
                    f"root version {new_v} {what} the trusted root version {old_v}",
                    fix,
                    kind=ROLLBACK,
                )
                return
            if current is not newest:
                self.key_ids(ROOT, current.signed.keys, fix)
            label = "the trusted root keys" if previous is trusted else f"the root keys of v{old_v}"
            newest_staged = current is newest and ROOT in self.state.staged
            ok = self.signatures(
                ROOT,
                current,
                previous.signed.role_keys(ROOT),
                previous.signed.threshold(ROOT),
                f"offtrust bundle sign BUNDLE (with the root key of v{old_v} of {self.gun})"
                if newest_staged
                else fix,
                label,
                label=f"previous root v{old_v}",
                record=current is newest,
            )
            ok = ok and self.signatures(
                ROOT,
                current,
                current.signed.role_keys(ROOT),
                current.signed.threshold(ROOT),
                fix,
                "its own root keys",
                label="new root",
                record=current is newest,
            )
            if not ok:
                return

    def crypto_threshold(self, keys_from: Metadata[Root], md: Metadata[Root]) -> bool:
        """*md* carries a threshold of valid signatures by the root keys of *keys_from*."""
        root: Root = keys_from.signed
        try:
            valid = count_valid_signatures(md, root.role_keys(ROOT), self.crypto)
        except InvalidMetadataError:
            return False
        return len(valid) >= root.threshold(ROOT)

    def fast_forward(self, root_md: Metadata[Any]) -> None:
        """A root that rotates the timestamp or snapshot keys resets their version floor."""
        trusted = self.trusted_root
        if trusted is None:
            return
        for role in (TIMESTAMP, SNAPSHOT):
            old = trusted.signed.roles.get(role)
            new = root_md.signed.roles.get(role)
            if old is None or new is None or set(old.keyids) != set(new.keyids):
                self.floors.pop(role, None)

    def snapshot_left_to_server(self, root: Any) -> bool:
        """A staged root rotates the snapshot key and no new snapshot is staged.

        ``key rotate GUN snapshot --server-managed``: the published snapshot,
        signed by the old key, is not uploaded; the server signs a new one
        with its key when the root is published (and the server checks it).
        """
        trusted = self.trusted_root
        if self.state.network or trusted is None:
            return False
        if ROOT not in self.state.staged or SNAPSHOT in self.state.staged:
            return False
        old = trusted.signed.roles.get(SNAPSHOT)
        new = root.roles.get(SNAPSHOT)
        return old is not None and new is not None and set(old.keyids) != set(new.keyids)

    def timestamp_and_snapshot(self, root: Any, new_gun: bool) -> None:
        state = self.state
        timestamp_md = state.get(TIMESTAMP)
        snapshot_md = state.get(SNAPSHOT)
        if timestamp_md is None and not new_gun:
            self.add(TIMESTAMP, "timestamp.json is missing", self.fetch)
        if snapshot_md is None and not new_gun:
            self.add(SNAPSHOT, "snapshot.json is missing", self.fetch)
        if timestamp_md is not None:
            self.report.checked.append(TIMESTAMP)
            self.signatures(
                TIMESTAMP,
                timestamp_md,
                root.role_keys(TIMESTAMP),
                root.threshold(TIMESTAMP),
                self.fetch,
            )
            self.expiry(TIMESTAMP, timestamp_md)
        if snapshot_md is None:
            return
        if self.snapshot_left_to_server(root):
            self.add(
                SNAPSHOT,
                "is left to the server: the staged root lists a new snapshot key that did not "
                "sign it, so the server signs a new snapshot when the root is published",
                f"offtrust stage {self.gun} --output BUNDLE, then offtrust publish BUNDLE",
                WARNING,
            )
            return
        self.report.checked.append(SNAPSHOT)
        staged = SNAPSHOT in state.staged
        self.signatures(
            SNAPSHOT,
            snapshot_md,
            root.role_keys(SNAPSHOT),
            root.threshold(SNAPSHOT),
            f"offtrust resign {self.gun} snapshot" if staged else self.fetch,
        )
        self.settle(SNAPSHOT)
        self.expiry(SNAPSHOT, snapshot_md)
        if not staged and timestamp_md is not None:
            entry = timestamp_md.signed.meta.get(SNAPSHOT)
            if entry is None:
                self.add(TIMESTAMP, f"does not record {SNAPSHOT}", self.fetch)
            else:
                problem = entry.mismatch(snapshot_md.to_bytes())
                if problem:
                    self.add(
                        SNAPSHOT,
                        f"does not match {TIMESTAMP}: {problem}",
                        self.fetch,
                        kind=HASH,
                    )
        vouched = staged or (timestamp_md is not None and not self.failed(TIMESTAMP))
        self.snapshot_trusted = vouched and not self.failed(SNAPSHOT)

    def delegations(self) -> None:
        state = self.state
        gun = self.gun
        report = self.report
        snapshot = state.get(SNAPSHOT)
        for parent, entry in state.walk_delegations():
            name = entry.name
            parent_md = state.roles[parent]
            if not is_delegation(name) or parent_of(name) != parent:
                self.add(
                    parent,
                    f"delegates to invalid role name {name!r}",
                    f"offtrust delegation remove {gun} {name}",
                )
                continue
            if entry.threshold < 1:
                self.add(
                    parent,
                    f"{name}: threshold {entry.threshold} is below 1",
                    f"offtrust delegation add {gun} {name} --threshold 1",
                )
            all_keys = parent_md.signed.delegations.keys
            missing = [k for k in entry.key_ids if k not in all_keys]
            if missing:
                self.add(
                    parent,
                    f"{name}: key ID {missing[0][:12]} has no corresponding key",
                    f"offtrust delegation remove {gun} {name} {missing[0]}",
                )
            keys = parent_md.signed.delegations.role_keys(entry)
            self.key_ids(parent, keys, self.refetch(parent))
            self.certificates(name, keys, is_root=False)
            parent_entry = state.delegation_entry(parent) if parent != TARGETS else None
            if parent_entry is not None:
                parent_paths = parent_entry[1].paths or []
                outside = [
                    p for p in entry.paths or [] if not any(p.startswith(q) for q in parent_paths)
                ]
                if outside:
                    self.add(
                        name,
                        f"paths {outside} lie outside the paths of {parent} and are ignored",
                        f"offtrust delegation add {gun} {parent} --path PREFIX",
                        WARNING,
                    )
            md = state.get(name)
            if md is None:
                if (
                    state.network
                    and name in state.previous_roles
                    and snapshot is not None
                    and name not in snapshot.signed.meta
                ):
                    self.add(
                        SNAPSHOT,
                        f"omits {name}, which {parent} still delegates to and which had "
                        "metadata before",
                        self.fetch,
                        kind=ROLLBACK,
                    )
                continue
            report.checked.append(name)
            hash_problem = self.snapshot_hash(name)
            if not keys:
                add_key = (
                    f"offtrust signer add NAME {gun} --key FILE"
                    if name == RELEASES
                    else f"offtrust delegation add {gun} {name} --key FILE"
                )
                self.add(
                    name,
                    "has no keys left, so no signature on it can be valid",
                    f"{add_key}, then offtrust witness {gun} {name}; "
                    f"or drop it: offtrust delegation remove {gun} {name}",
                    kind=SIGNATURE,
                )
            else:
                self.signatures(
                    name,
                    md,
                    keys,
                    entry.threshold,
                    self.resign_fix(name, f"offtrust witness {gun} {name}"),
                )
            self.then(hash_problem)
            self.expiry(name, md)
            # A delegation is trusted only through a trusted parent (walk order
            # visits parents first).
            if parent in report.trusted and not self.failed(parent) and not self.failed(name):
                report.trusted.add(name)
            files = md.signed.targets or {}
            outside_targets = [t for t in files if not entry.matches(t)]
            if outside_targets:
                self.add(
                    name,
                    f"{len(outside_targets)} target(s) lie outside the role's paths and are "
                    f"ignored by clients (first: {outside_targets[0]!r})",
                    f"offtrust target remove {gun} {shlex.quote(outside_targets[0])} --role {name}",
                    WARNING,
                )


def verify_repository(state: RepoState, now: datetime, *, crypto: Crypto) -> VerificationReport:
    """Check the whole TUF chain of *state* as of *now*, by the rules of this module.

    Args:
        state: the documents of one GUN, and what they are checked against
            (see :class:`~offtrust.model.repository.RepoState`).
        now: the reference time for expiry checks (timezone-aware).
        crypto: the signature and certificate back-end.

    Returns:
        A report with every problem found and the roles that can be trusted;
        ``report.ok`` is False on any error.

    Raises:
        Nothing for problems in the metadata: they are all in the report.
    """
    return _Checker(state, now, crypto).run()


def untrusted_roles(report: VerificationReport, roles: Iterable[str]) -> list[str]:
    """Those of *roles* the report does not trust, in the given order."""
    return [r for r in roles if not report.is_usable(r)]
