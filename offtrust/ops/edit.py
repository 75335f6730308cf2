"""The editing engine: open a GUN, change documents, re-sign, write the staged layer.

An :class:`Editor` is an edit session over *verified* state: it loads the
published state with any staged edits over it and verifies it by the trust
rules (:mod:`offtrust.model.verify`) before anything else. A top-level role
that fails refuses the whole session; a delegation that fails is skipped, and
editing or re-signing it is refused unless its bytes are the ones the trusted
snapshot records (content vouched for, only a signature missing). Documents
are edited as working copies, never the published ones in memory.

Operations change documents through :meth:`Editor.targets` (which marks the
role changed); :meth:`Editor.commit` then, for every changed role, drops fields
notary would not keep, bumps the version once relative to the published state,
sets notary's default expiry, signs with every local key the role lists, brings
the snapshot up to date when its key is local (otherwise the server signs it),
and writes all staged files in one all-or-nothing step. Nothing is written when
any of it fails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from offtrust.errors import (
    MissingKeyError,
    NotFoundError,
    NothingToDoError,
    UsageError,
    VerificationError,
)
from offtrust.model.keys import PublicKey
from offtrust.model.metadata import (
    ROOT,
    SNAPSHOT,
    TARGETS,
    TIMESTAMP,
    Delegations,
    Metadata,
    MetaFile,
    Targets,
    default_expiry,
)
from offtrust.model.repository import RepoState
from offtrust.model.roles import is_delegation, parent_of
from offtrust.model.signing import Signer, sign_metadata
from offtrust.model.verify import VerificationReport
from offtrust.ops.context import Context
from offtrust.ops.verify import verify_state
from offtrust.store.keystore import PassphraseSource
from offtrust.store.repo import RepoStore, StagedInfo

if TYPE_CHECKING:
    from offtrust.crypto import PrivateKey


def canonical_id(key: PublicKey) -> str:
    """The canonical key ID of *key* (a root certificate's inner key), as notary names files."""
    from offtrust.crypto import canonical_keyid

    return canonical_keyid(key)


@dataclass
class CommitResult:
    gun: str
    changed: list[str]
    versions: dict[str, int]
    warnings: list[str] = field(default_factory=list)
    snapshot_by_server: bool = False


class Editor:
    """Stage edits to one GUN, over state verified first.

    Args:
        ctx: the trust directory and clock.
        gun: the GUN to edit.
        passphrases: how to decrypt signing keys.
        state: an already-built state (offline initialisation: nothing to verify).

    Raises:
        VerificationError: (on opening) a top-level role of the GUN fails the
            trust rules; the message names it and its fix.
    """

    def __init__(
        self,
        ctx: Context,
        gun: str,
        passphrases: PassphraseSource,
        *,
        state: RepoState | None = None,
        new_gun: bool = False,
    ) -> None:
        self.ctx = ctx
        self.gun = gun
        self.passphrases = passphrases
        self.repos: RepoStore = ctx.repos
        self.keyring = ctx.keyring(passphrases)
        self.report: VerificationReport | None = None
        if state is None:
            state = self.repos.load(gun)
            self.report = verify_state(ctx, state)
            self.report.raise_for(self.report.blocking(), prefix="cannot edit ")
        self.state = state
        self.base_versions = {r: md.signed.version for r, md in self.state.published.items()}
        self.changed: set[str] = set()
        self.removed: set[str] = set()
        self.new_gun = new_gun
        self.edits: list[str] = []
        self.ops: list[dict[str, Any]] = []
        self._working: set[str] = set()
        self._new_keys: list[tuple[PrivateKey, str, str]] = []
        # Lifetime of every document this edit signs (notary's defaults if None).
        self.expires_in: timedelta | None = None

    def remember_key(self, key: PrivateKey) -> None:
        """Use an already-decrypted private key for signing."""
        self.keyring.add(key)

    def add_new_key(self, key: PrivateKey, role: str, gun: str = "") -> None:
        """A key created by this edit: stored (encrypted) when the edit commits."""
        self.remember_key(key)
        self._new_keys.append((key, role, gun))

    # -- reading and marking ----------------------------------------------

    def targets(self, role: str, *, create: bool = False) -> Targets:
        """The Targets document of *role*, marked changed.

        Args:
            role: ``targets`` or a delegation name.
            create: start an empty document when the role is delegated but has
                no file yet (Docker creates a delegation's file on first signing).

        Raises:
            NotFoundError: the role has no document (and *create* is False or
                the role is not delegated).
        """
        md = self.state.get(role)
        if md is None:
            found = self.state.delegation_entry(role)
            if not create or role == TARGETS or found is None:
                raise NotFoundError(f"{self.gun}: role {role} has no metadata")
            self.check_editable(found[0])
            signed = Targets(version=0, expires="1970-01-01T00:00:00Z", unrecognized={})
            signed.delegations = Delegations()
            signed.targets = {}
            md = Metadata(signed=signed, signatures=[])
            self.state.roles[role] = md
            self._working.add(role)
        else:
            md = self._work(role)
        self.changed.add(role)
        self.removed.discard(role)
        return md.signed  # type: ignore[no-any-return]

    def mark(self, role: str) -> None:
        """Mark *role* changed without editing its content (``witness``, ``resign``).

        Raises:
            NotFoundError: the role has no document.
            VerificationError: the role's content cannot be trusted.
        """
        if self.state.get(role) is None:
            raise NotFoundError(f"{self.gun}: role {role} has no metadata to re-sign")
        self._work(role)
        self.changed.add(role)

    def check_editable(self, role: str) -> None:
        """Refuse to edit or sign *role* unless its content can be trusted.

        Trusted means verified (expired or not), or vouched for byte for byte
        by the trusted snapshot with only its signatures failing; signing
        anything else would launder content nobody with a key wrote.

        Raises:
            VerificationError: naming the role, why, and the fix.
        """
        report = self.report
        if report is None or report.is_resignable(role):
            return
        problems = report.errors_of(role) or [p for p in report.problems if p.role == role]
        if problems:
            first = problems[0]
            raise VerificationError(
                f"cannot edit {self.gun}: {role}: {first.reason}; its content is not what "
                "the trusted snapshot records, so it is not signed again",
                hint=first.fix,
            )
        raise VerificationError(f"cannot edit {self.gun}: {role} cannot be trusted")

    def _work(self, role: str) -> Metadata[Any]:
        """The working copy of *role*, made on first use: never the published document."""
        md = self.state.roles[role]
        if role in self._working:
            return md
        self.check_editable(role)
        self._working.add(role)
        if md is not self.state.published.get(role):
            return md  # a staged or new document: already this session's own
        copy = Metadata.from_bytes(md.to_bytes(), role)
        self.state.roles[role] = copy
        return copy

    def note(self, text: str) -> None:
        """Record a human description of the edit for ``status``."""
        self.edits.append(text)

    def record(self, op: dict[str, Any]) -> None:
        """Record the edit as a replayable operation for ``rebase`` (:mod:`offtrust.ops.rebase`)."""
        self.ops.append(op)

    def drop_role(self, role: str) -> None:
        """Forget a delegation's document (and its descendants') in the staged view."""
        for name in list(self.state.roles):
            if name == role or name.startswith(role + "/"):
                self.state.roles.pop(name, None)
                self.changed.discard(name)
                self.removed.add(name)

    # -- keys -----------------------------------------------------------------

    def role_keys(self, role: str) -> tuple[dict[str, PublicKey], int]:
        """The public keys and threshold that may sign *role*."""
        if role in (ROOT, TARGETS, SNAPSHOT, TIMESTAMP):
            root = self.state.root.signed
            return root.role_keys(role), root.threshold(role)
        found = self.state.delegation_entry(role)
        if found is None:
            raise NotFoundError(f"{self.gun}: no delegation {role}")
        parent, entry = found
        parent_md = self.state.roles[parent]
        return parent_md.signed.delegations.role_keys(entry), entry.threshold

    def _local_ids(self, keys: dict[str, PublicKey]) -> list[tuple[str, str]]:
        """(listed key ID, canonical key ID) of every listed key held locally."""
        out = []
        for keyid, pub in keys.items():
            try:
                cid = canonical_id(pub)
            except Exception:  # noqa: BLE001, S112 - an unreadable certificate cannot sign
                continue
            if self.keyring.has(cid):
                out.append((keyid, cid))
        return out

    def local_signers(self, keys: dict[str, PublicKey]) -> list[tuple[str, Signer]]:
        """(listed key ID, signer) for every listed key held locally, from the keyring.

        Raises:
            KeyMismatchError: a key file holds another key than its ID.
            WrongPassphraseError, PassphraseRequiredError: a key cannot be decrypted.
        """
        return [(keyid, self.keyring.private_key(cid)) for keyid, cid in self._local_ids(keys)]

    def can_sign(self, role: str) -> bool:
        keys, _ = self.role_keys(role)
        return bool(self._local_ids(keys))

    def sign(self, role: str, md: Metadata[Any], *, append: bool = False) -> list[str]:
        """Sign *md* with every local key of *role*, replacing (or appending to) its signatures.

        Returns:
            Warnings (threshold not met locally).

        Raises:
            MissingKeyError: no local key can sign the role.
        """
        keys, threshold = self.role_keys(role)
        signers = self.local_signers(keys)
        if not signers:
            listed = ", ".join(k[:12] for k in keys) or "none"
            raise MissingKeyError(
                f"{self.gun}: no local private key can sign {role} (its keys: {listed})",
                hint="load the key with `offtrust key load` or import the right trust directory",
            )
        sign_metadata(md, signers, append=append)
        if len(signers) < threshold:
            return [
                f"{role}: signed by {len(signers)} of the {threshold} keys its threshold needs; "
                "add the others with `offtrust bundle sign`"
            ]
        return []

    def _sign_root(self, md: Metadata[Any]) -> list[str]:
        """Sign a changed root; when its root keys change, also with the trusted root's.

        A new root must carry the previous (published) root's threshold as
        well as its own (a rotation), so every local key of either signs it;
        a threshold not met here is a warning (``bundle sign`` gathers the
        rest where the other keys are).

        Raises:
            MissingKeyError: no local key of either root can sign.
        """
        previous = self.state.published.get(ROOT)
        new_keys, threshold = self.role_keys(ROOT)
        old_keys = previous.signed.role_keys(ROOT) if previous is not None else {}
        if previous is None or set(old_keys) == set(new_keys):
            return self.sign(ROOT, md)
        new_signers = self.local_signers(new_keys)
        old_signers = self.local_signers(old_keys)
        if not new_signers and not old_signers:
            listed = ", ".join(k[:12] for k in [*old_keys, *new_keys])
            raise MissingKeyError(
                f"{self.gun}: no local private key of the trusted or the new root can sign "
                f"root (their keys: {listed})",
                hint="load the root key with `offtrust key import FILE --role root`",
            )
        sign_metadata(md, dict([*new_signers, *old_signers]).items())
        warnings = []
        old_threshold = previous.signed.threshold(ROOT)
        if len(old_signers) < old_threshold:
            warnings.append(
                f"root: signed by {len(old_signers)} of the {old_threshold} keys the trusted "
                f"root v{previous.signed.version} needs for a new root; add the others with "
                "`offtrust bundle sign`"
            )
        if len(new_signers) < threshold:
            warnings.append(
                f"root: signed by {len(new_signers)} of the {threshold} keys of the new root; "
                "add the others with `offtrust bundle sign`"
            )
        return warnings

    # -- commit -----------------------------------------------------------

    def _bump(self, role: str, md: Metadata[Any]) -> None:
        signed = md.signed
        floor = self.base_versions.get(role, 0)
        if role not in self.state.staged or signed.version <= floor:
            signed.version = max(signed.version, floor) + 1
        lifetime = self.expires_in if self.expires_in is not None else default_expiry(role)
        signed.set_expires(expiry_after(self.ctx.now(), lifetime))
        signed.drop_unrecognized()
        md.unrecognized = {}

    def commit(self) -> CommitResult:
        """Sign every changed role (and the snapshot when its key is local) and stage it.

        Raises:
            MissingKeyError: a changed role cannot be signed locally.
            StoreError: the staged files cannot be written (nothing is).
        """
        if not self.changed and not self.removed:
            raise UsageError(f"{self.gun}: nothing to change")
        warnings: list[str] = []
        if TIMESTAMP in self.changed:
            raise UsageError("the timestamp is always signed by the server")
        if SNAPSHOT in self.changed and not self.can_sign(SNAPSHOT):
            raise MissingKeyError(
                f"{self.gun}: the snapshot key is not local (the server signs the snapshot)",
                hint=f"`offtrust fetch {self.gun} --server URL` gets a freshly signed one",
            )
        self.changed.discard(SNAPSHOT)
        for role in sorted(self.changed, key=lambda r: (r.count("/"), r), reverse=True):
            if role != TARGETS and role != ROOT and not is_delegation(role):
                raise UsageError(f"cannot edit role {role}")
            md = self.state.roles[role]
            self._bump(role, md)
            warnings += self._sign_root(md) if role == ROOT else self.sign(role, md)
        if self.report is not None:
            # A staged role still gathering signatures that this edit leaves as it is.
            warnings += [str(p) for p in self.report.pending if p.role not in self.changed]
        snapshot_by_server = True
        snapshot = self.state.get(SNAPSHOT)
        if snapshot is not None and self.can_sign(SNAPSHOT):
            snapshot_by_server = False
            snapshot = self._work(SNAPSHOT)
            self._update_snapshot(snapshot)
            self._bump(SNAPSHOT, snapshot)
            warnings += self.sign(SNAPSHOT, snapshot)
            self.changed.add(SNAPSHOT)
        documents = {role: self.state.roles[role].to_bytes() for role in self.changed}
        info = self.repos.staged_info(self.gun) or StagedInfo(
            base=dict(self.base_versions),
            edits=[],
            new_gun=self.new_gun,
        )
        info.edits.extend(self.edits)
        info.add_ops(self.ops)
        saved = []
        try:
            for key, role, key_gun in self._new_keys:
                passphrase = self.passphrases.new(role, key.keyid)
                saved.append(self.ctx.keys.save(key, role=role, gun=key_gun, passphrase=passphrase))
            self.repos.write_staged(self.gun, documents, info, remove=sorted(self.removed))
        except BaseException:
            # Leave nothing behind: keys of an edit that was not staged are useless.
            # (They are saved before the staged switch, so a kill never leaves
            # staged metadata listing a key that is not in the store.)
            self.ctx.keys.discard(saved)
            raise
        for role in self.changed:
            self.state.staged.add(role)
        return CommitResult(
            gun=self.gun,
            changed=sorted(self.changed),
            versions={r: self.state.roles[r].signed.version for r in sorted(self.changed)},
            warnings=warnings,
            snapshot_by_server=snapshot_by_server,
        )

    def _update_snapshot(self, snapshot: Metadata[Any]) -> None:
        """Record root, targets and every delegation document, as notary does.

        Only documents that were verified (or vouched for) or signed by this
        edit get their bytes recorded: a file that failed verification keeps
        the entry the trusted snapshot had, so the snapshot launders nothing.
        """
        meta = snapshot.signed.meta
        present = {ROOT, *self.state.targets_roles()}
        for name in list(meta):
            if name not in present:
                del meta[name]
        report = self.report
        for name in sorted(present):
            md = self.state.roles.get(name)
            if md is None:
                continue
            if name in self.changed or report is None or report.is_resignable(name):
                meta[name] = MetaFile.for_bytes(md.to_bytes())


def expiry_after(now: datetime, lifetime: timedelta) -> datetime:
    """*now* + *lifetime*, the expiry of a document signed now.

    Raises:
        UsageError: the expiry would fall after the year 9999, which neither
            Python nor Go's RFC 3339 encoding of a time can write.
    """
    try:
        return now + lifetime
    except OverflowError:
        raise UsageError(
            "--expires: the expiry would fall after the year 9999; give a shorter lifetime"
        ) from None


def check_parent_exists(state: RepoState, role: str) -> str:
    """The parent of a new delegation *role*, which must have a document.

    Raises:
        UsageError: not a valid delegation name, or the parent is missing.
    """
    if not is_delegation(role):
        raise UsageError(
            f"invalid delegation name {role!r}: it must start with targets/ and use only "
            "lower-case letters, digits, '-', '_' and '/'"
        )
    parent = parent_of(role)
    if parent not in state.roles:
        raise UsageError(f"parent role {parent} of {role} does not exist")
    return parent


_DIGITS = re.compile(r"[0-9]+")

_UNITS = {
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
    "y": timedelta(days=365),
}


def parse_duration(text: str) -> timedelta:
    """``90d``, ``12h``, ``6w`` or ``3y`` as a timedelta.

    Raises:
        UsageError: not a positive number (of at most 9 digits) followed by
            h, d, w or y, or longer than a timedelta holds.
    """
    shown = text if len(text) <= 40 else text[:37] + "..."
    text = text.strip().lower()
    unit = _UNITS.get(text[-1:]) if text else None
    # ASCII digits only (str.isdigit() takes any script's), and few enough to
    # convert; whether the expiry fits before the year 10000 is expiry_after's.
    number = text[:-1]
    if unit is None or not _DIGITS.fullmatch(number) or len(number) > 9 or int(number) < 1:
        raise UsageError(f"--expires takes a duration like 90d, 12h, 6w or 3y, not {shown!r}")
    try:
        return int(number) * unit
    except OverflowError:
        raise UsageError(f"--expires {shown}: too long a lifetime") from None


def resign(
    ctx: Context,
    gun: str,
    roles: list[str],
    passphrases: PassphraseSource,
    *,
    expires_in: timedelta | None = None,
) -> CommitResult:
    """Re-sign roles with the local keys: version + 1, a fresh expiry, same content.

    With no roles, every role that local keys can sign (root, targets, the
    delegations that have a document, and the snapshot when its key is local).

    Raises:
        NothingToDoError: a named role has no document (a skip across ``--all``).
        MissingKeyError: no local key can sign a named role.
        UsageError: the timestamp was named (the server signs it), or
            *expires_in* ends after the year 9999.
    """
    if expires_in is not None:
        expiry_after(ctx.now(), expires_in)  # refuse an impossible --expires first
    editor = Editor(ctx, gun, passphrases)
    editor.expires_in = expires_in
    if not roles:
        candidates = [ROOT, *editor.state.targets_roles()]
        report = editor.report
        roles = [
            r
            for r in candidates
            if editor.can_sign(r) and (report is None or report.is_resignable(r))
        ]
        if editor.state.get(SNAPSHOT) is not None and editor.can_sign(SNAPSHOT):
            roles.append(SNAPSHOT)
        if not roles:
            raise MissingKeyError(f"{gun}: no local key can sign any of its roles")
    for role in roles:
        # A named role this GUN lacks is nothing to change (a skip across --all).
        if editor.state.get(role) is None:
            raise NothingToDoError(f"{gun}: role {role} has no metadata to re-sign")
    for role in roles:
        editor.mark(role)
        editor.note(f"resign {role}")
    seconds = None if expires_in is None else int(expires_in.total_seconds())
    editor.record({"op": "resign", "roles": list(roles), "expires_seconds": seconds})
    return editor.commit()
