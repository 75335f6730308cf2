"""Full offline TUF verification of one repository, the way notary 0.7 checks it.

:func:`verify_repository` returns a report listing every problem (role, reason
and the command that fixes it) instead of stopping at the first; the caller
decides whether to raise (:meth:`VerificationReport.raise_for_errors`). Nothing
here reads files or the clock: the reference time is passed in.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from offtrust.errors import (
    ExpiredError,
    HashMismatchError,
    InvalidMetadataError,
    RollbackError,
    SignatureError,
    VerificationError,
)
from offtrust.model.canonical import encode_for_verification
from offtrust.model.keys import PublicKey
from offtrust.model.metadata import (
    BASE_ROLES,
    ROOT,
    SNAPSHOT,
    TARGETS,
    TIMESTAMP,
    Metadata,
)
from offtrust.model.repository import RepoState
from offtrust.model.roles import is_delegation, parent_of

WARN_BEFORE_EXPIRY = timedelta(days=30)
ERROR, WARNING = "error", "warning"

VerifyFn = Callable[[PublicKey, str, bytes, bytes], bool]


@dataclass(frozen=True)
class Problem:
    """One finding: which role, what is wrong, and the command that fixes it."""

    role: str
    reason: str
    fix: str | None = None
    severity: str = ERROR
    #: What kind of failure it is; picks the exception of raise_for_errors.
    kind: str = "verification"

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


@dataclass
class VerificationReport:
    gun: str
    problems: list[Problem] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "gun": self.gun,
            "ok": self.ok,
            "checked": list(self.checked),
            "problems": [p.to_dict() for p in self.problems],
        }

    def raise_for_errors(self) -> None:
        """Raise the error class of the first problem, naming it.

        Raises:
            VerificationError: (or a subclass) when any error was found.
        """
        if not self.errors:
            return
        first = self.errors[0]
        kind = _ERROR_CLASSES.get(first.kind, VerificationError)
        more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
        raise kind(f"{self.gun}: {first.role}: {first.reason}{more}", hint=first.fix)


SIGNATURE, EXPIRY, HASH, ROLLBACK = "signature", "expiry", "hash", "rollback"
_ERROR_CLASSES: dict[str, type[VerificationError]] = {
    SIGNATURE: SignatureError,
    EXPIRY: ExpiredError,
    HASH: HashMismatchError,
    ROLLBACK: RollbackError,
}


def _default_verify(key: PublicKey, method: str, sig: bytes, message: bytes) -> bool:
    from offtrust.crypto import verify_signature

    return verify_signature(key, method, sig, message)


def count_valid_signatures(
    md: Metadata[Any], keys: dict[str, PublicKey], verify: VerifyFn | None = None
) -> set[str]:
    """The distinct key IDs of *keys* with a valid signature on *md*.

    Raises:
        InvalidMetadataError: the ``signed`` object cannot be canonicalized.
    """
    verify = verify or _default_verify
    message = encode_for_verification(md.signed.to_dict())
    valid: set[str] = set()
    for sig in md.iter_signatures():
        key = keys.get(sig.keyid)
        if key is None or sig.keyid in valid:
            continue
        if verify(key, sig.method.lower(), sig.sig_bytes, message):
            valid.add(sig.keyid)
    return valid


class _Checker:
    def __init__(self, state: RepoState, now: datetime, verify: VerifyFn | None) -> None:
        self.state = state
        self.gun = state.gun
        self.now = now
        self.verify = verify
        self.report = VerificationReport(gun=state.gun)

    def add(
        self,
        role: str,
        reason: str,
        fix: str | None = None,
        severity: str = ERROR,
        *,
        kind: str = "verification",
    ) -> None:
        self.report.problems.append(Problem(role, reason, fix, severity, kind))

    # -- individual rules ------------------------------------------------

    def signatures(
        self, role: str, md: Metadata[Any], keys: dict[str, PublicKey], threshold: int, fix: str
    ) -> bool:
        if not md.signatures:
            self.add(role, "has no signatures", fix, kind=SIGNATURE)
            return False
        try:
            valid = count_valid_signatures(md, keys, self.verify)
        except InvalidMetadataError as e:
            self.add(role, f"cannot be canonicalized for verification: {e}", fix)
            return False
        if len(valid) < threshold:
            self.add(
                role,
                f"valid signatures did not meet threshold ({len(valid)} of {threshold} "
                f"required, {len(md.signatures)} present)",
                fix,
                kind=SIGNATURE,
            )
            return False
        return True

    def expiry(self, role: str, md: Metadata[Any]) -> None:
        expires = md.signed.expires_at
        if role == TIMESTAMP:
            # The server re-signs an expired timestamp whenever it is fetched,
            # so an old one in an exported directory is normal.
            if expires <= self.now:
                self.add(
                    role,
                    f"expired at {md.signed.expires} (the server re-signs it on the next fetch)",
                    f"offtrust fetch {self.gun} --server URL",
                    WARNING,
                )
            return
        fix = f"offtrust resign {self.gun} {role}"
        if expires <= self.now:
            self.add(role, f"expired at {md.signed.expires}", fix, kind=EXPIRY)
        elif expires - self.now < WARN_BEFORE_EXPIRY:
            self.add(role, f"expires soon, at {md.signed.expires}", fix, WARNING)

    def certificates(self, role: str, keys: dict[str, PublicKey], *, is_root: bool) -> None:
        from offtrust.crypto import certificate_info

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
                info = certificate_info(key)
            except Exception as e:  # noqa: BLE001 - reported, not raised
                self.add(role, f"key {keyid[:12]}: unreadable certificate ({e})")
                continue
            fix = (
                f"offtrust key rotate {self.gun} root"
                if is_root
                else f"offtrust delegation add {self.gun} {role} --key NEW_CERT"
            )
            if (
                is_root
                and info.common_name != self.gun
                and not (
                    info.common_name
                    and info.common_name.endswith("*")
                    and self.gun.startswith(info.common_name[:-1])
                )
            ):
                self.add(
                    role,
                    f"root certificate {keyid[:12]} is for {info.common_name!r}, not {self.gun!r}",
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

    def meta_hash(
        self, parent: str, parent_md: Metadata[Any], role: str, required: bool, fix: str
    ) -> None:
        entry = parent_md.signed.meta.get(role)
        target = self.state.get(role)
        if entry is None:
            if required:
                self.add(parent, f"does not record {role}", fix)
            return
        if target is None:
            return
        problem = entry.mismatch(target.to_bytes())
        if problem:
            self.add(role, f"does not match {parent}: {problem}", fix, kind=HASH)

    # -- the walk -----------------------------------------------------------

    def run(self) -> VerificationReport:
        state = self.state
        gun = self.gun
        fetch = f"offtrust fetch {gun} --server URL"
        root_md = state.get(ROOT)
        if root_md is None:
            self.add(ROOT, "root.json is missing", fetch)
            return self.report
        root = root_md.signed
        self.report.checked.append(ROOT)

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
        root_keys = root.role_keys(ROOT)
        self.signatures(
            ROOT,
            root_md,
            root_keys,
            root.threshold(ROOT),
            # A bad signature on the published (cached) root is repaired by
            # fetching it again; a staged one by signing it again.
            f"offtrust resign {gun} root" if ROOT in state.staged else fetch,
        )
        self.certificates(ROOT, root_keys, is_root=True)
        self.expiry(ROOT, root_md)

        trusted = state.published.get(ROOT) if ROOT in state.staged else None
        if trusted is not None:
            old = trusted.signed
            if root.version != old.version + 1:
                self.add(
                    ROOT,
                    f"staged root version {root.version} does not follow published "
                    f"version {old.version}",
                    f"offtrust reset {gun}",
                    kind=ROLLBACK,
                )
            self.signatures(
                ROOT + " (rotation)",
                root_md,
                old.role_keys(ROOT),
                old.threshold(ROOT),
                f"offtrust bundle sign BUNDLE (with the previous root key of {gun})",
            )

        targets_md = state.get(TARGETS)
        if targets_md is None:
            self.add(TARGETS, "targets.json is missing", fetch)
        else:
            self.report.checked.append(TARGETS)
            self.signatures(
                TARGETS,
                targets_md,
                root.role_keys(TARGETS),
                root.threshold(TARGETS),
                f"offtrust resign {gun} targets",
            )
            self.expiry(TARGETS, targets_md)
            self.delegations()

        snapshot_md = state.get(SNAPSHOT)
        snapshot_is_current = snapshot_md is not None and (
            SNAPSHOT in state.staged or not (state.staged - {TIMESTAMP})
        )
        if snapshot_md is not None:
            self.report.checked.append(SNAPSHOT)
            snap_fix = f"offtrust resign {gun} snapshot"
            self.signatures(
                SNAPSHOT,
                snapshot_md,
                root.role_keys(SNAPSHOT),
                root.threshold(SNAPSHOT),
                snap_fix if SNAPSHOT in state.staged else fetch,
            )
            self.expiry(SNAPSHOT, snapshot_md)
            if snapshot_is_current:
                fix = fetch if not state.staged else snap_fix
                self.meta_hash(SNAPSHOT, snapshot_md, ROOT, True, fix)
                self.meta_hash(SNAPSHOT, snapshot_md, TARGETS, True, fix)
                for role in state.targets_roles():
                    if role != TARGETS:
                        self.meta_hash(SNAPSHOT, snapshot_md, role, False, fix)

        timestamp_md = state.get(TIMESTAMP)
        if timestamp_md is not None:
            self.report.checked.append(TIMESTAMP)
            self.signatures(
                TIMESTAMP, timestamp_md, root.role_keys(TIMESTAMP), root.threshold(TIMESTAMP), fetch
            )
            self.expiry(TIMESTAMP, timestamp_md)
            if snapshot_md is not None and snapshot_is_current and SNAPSHOT not in state.staged:
                self.meta_hash(TIMESTAMP, timestamp_md, SNAPSHOT, True, fetch)
        return self.report

    def delegations(self) -> None:
        state = self.state
        gun = self.gun
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
            missing = [k for k in entry.key_ids if k not in parent_md.signed.delegations.keys]
            if missing:
                self.add(
                    parent,
                    f"{name}: key ID {missing[0][:12]} has no corresponding key",
                    f"offtrust delegation remove {gun} {name} {missing[0]}",
                )
            keys = parent_md.signed.delegations.role_keys(entry)
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
                continue
            self.report.checked.append(name)
            if not keys:
                self.add(
                    name,
                    "has no keys left, so no signature on it can be valid",
                    f"offtrust delegation add {gun} {name} --key FILE",
                )
            else:
                self.signatures(name, md, keys, entry.threshold, f"offtrust witness {gun} {name}")
            self.expiry(name, md)
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


def verify_repository(
    state: RepoState, now: datetime, *, verify: VerifyFn | None = None
) -> VerificationReport:
    """Check the whole TUF chain of *state* as of *now*.

    Args:
        state: the documents of one GUN (published, with staged ones over them).
        now: the reference time for expiry checks (timezone-aware).
        verify: signature check to use; defaults to notary's verifiers.

    Returns:
        A report with every problem found; ``report.ok`` is False on any error.

    Raises:
        Nothing for problems in the metadata: they are all in the report.
    """
    return _Checker(state, now, verify).run()
