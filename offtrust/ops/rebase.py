"""``rebase``: replay a GUN's recorded edits on a newer published state.

After ``publish`` refused a GUN because the server moved on, and ``fetch``
brought the new published state, ``rebase`` re-runs the GUN's staged edits,
in their order, through the same operations that made them (each opens an
:class:`~offtrust.ops.edit.Editor`, which verifies the state it builds on),
over the new published state instead of the old.

Every edit command records one operation in ``state.json`` next to its human
line (``ops``): a small JSON object, ``{"op": NAME, ...arguments}``:

=====================  ==========================================================
``target_add``         ``tag``, ``digest``, ``size``, ``role`` (null: docker's roles)
``target_remove``      ``tag``, ``role`` (null: docker's roles)
``signer_add``         ``name``, ``keys`` (public keys, as TUF metadata lists them)
``signer_remove``      ``name``, ``force``
``delegation_add``     ``role``, ``keys``, ``paths``, ``all_paths``, ``threshold``
``delegation_remove``  ``role``, ``keyids`` (empty: the whole role)
``delegation_purge``   ``keyid``
``witness``            ``roles``
``resign``             ``roles`` (empty: every role local keys sign), ``expires_seconds``
``key_rotate``         ``role``, ``keys`` (the new keys, as root.json lists them),
                       ``threshold``, ``server_managed``, ``expires_seconds``
=====================  ==========================================================

An operation whose effect the new published state already has is skipped and
reported (the signer, the delegation, the key or the tag to remove is gone;
the signer to add is there with the same keys). Any other failure (a key no
longer local, a tag now outside the role's paths, a state that does not
verify) fails the whole rebase and changes nothing: the replay writes into a
staged layer in memory (:class:`~offtrust.store.repo.ScratchRepoStore`),
switched in with one rename at the end.

A GUN whose edits were recorded without operations (by offtrust before
``rebase``, or by a command that records none) cannot be rebased; neither can
a staged new GUN (its edits create the repository: nothing to rebase onto).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from offtrust.errors import (
    ConflictError,
    InvalidMetadataError,
    NotFoundError,
    NothingToDoError,
    OfftrustError,
)
from offtrust.model.keys import PublicKey
from offtrust.model.metadata import TARGETS
from offtrust.model.roles import RELEASES
from offtrust.ops.context import Context
from offtrust.ops.edit import CommitResult
from offtrust.ops.staging import moved_roles
from offtrust.store.keystore import PassphraseSource
from offtrust.store.repo import RepoStore, ScratchRepoStore

#: Outcomes of :func:`rebase`.
REBASED = "rebased"
RETIRED = "retired"
UP_TO_DATE = "up-to-date"
DROPPED = "dropped"


@dataclass
class RebaseResult:
    gun: str
    status: str
    message: str = ""
    replayed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "gun": self.gun,
            "status": self.status,
            "message": self.message,
            "replayed": list(self.replayed),
            "skipped": list(self.skipped),
            "versions": dict(self.versions),
            "warnings": list(self.warnings),
        }


class _ScratchContext(Context):
    """*base*'s trust directory, clock and keys, with the staged layer of one GUN in memory."""

    def __init__(self, base: Context, scratch: ScratchRepoStore) -> None:
        super().__init__(base.trust, base.clock)
        self._scratch = scratch

    @property
    def repos(self) -> RepoStore:
        return self._scratch


def describe(op: dict[str, Any]) -> str:
    """A recorded operation as the command that made it (for messages)."""
    kind = str(op.get("op"))
    words = [kind.replace("_", " ")]
    for name in ("name", "tag", "role", "keyid"):
        value = op.get(name)
        if isinstance(value, str) and value:
            words.append(value)
    for name in ("roles", "keyids"):
        value = op.get(name)
        if isinstance(value, list):
            words.extend(str(v) for v in value)
    return " ".join(words)


def _bad(op: dict[str, Any], name: str) -> InvalidMetadataError:
    return InvalidMetadataError(
        f"staged state: operation {describe(op)!r} has no valid {name!r}",
        hint="`offtrust reset GUN` and redo the edits",
    )


def _field(
    op: dict[str, Any], name: str, kind: type | tuple[type, ...], *, null: bool = False
) -> Any:
    """*op*'s field *name*, of type *kind* (or None when *null*).

    Raises:
        InvalidMetadataError: it is missing or of another type.
    """
    value = op.get(name)
    if value is None and null:
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise _bad(op, name)
    return value


def _strings(op: dict[str, Any], name: str) -> list[str]:
    value = op.get(name)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(op, name)
    return list(value)


def _keys(op: dict[str, Any]) -> list[PublicKey]:
    value = op.get("keys")
    if not isinstance(value, list) or not all(isinstance(k, dict) for k in value):
        raise _bad(op, "keys")
    return [PublicKey.from_dict(k) for k in value]


def _signer_there(ctx: Context, gun: str, name: str, keys: list[PublicKey]) -> bool:
    """``targets/NAME`` and ``targets/releases`` already list every one of *keys*."""
    targets = ctx.repos.load(gun).targets.signed
    ids = {k.keyid for k in keys}
    for role in (f"{TARGETS}/{name}", RELEASES):
        entry = targets.delegations.get(role)
        if entry is None or not ids <= set(entry.key_ids):
            return False
    return True


def _replay(
    ctx: Context, gun: str, op: dict[str, Any], passphrases: PassphraseSource
) -> CommitResult:
    """Run one recorded operation through its ops function.

    Raises:
        NothingToDoError: the new published state already has its effect (skip it).
        OfftrustError: it no longer applies.
    """
    from offtrust.ops import delegations, edit, targets

    kind = op.get("op")
    if kind == "target_add":
        return targets.target_add(
            ctx,
            gun,
            _field(op, "tag", str),
            _field(op, "digest", str),
            _field(op, "size", int),
            passphrases,
            role=_field(op, "role", str, null=True),
        )
    if kind == "target_remove":
        role = _field(op, "role", str, null=True)
        tag = _field(op, "tag", str)
        return _gone_is_done(lambda: targets.target_remove(ctx, gun, tag, passphrases, role=role))
    if kind == "signer_add":
        name, keys = _field(op, "name", str), _keys(op)
        if ctx.repos.has_published(gun) and _signer_there(ctx, gun, name, keys):
            raise NothingToDoError(f"signer {name} is already in {gun} with these keys")
        return delegations.signer_add(ctx, name, gun, keys, passphrases)
    if kind == "signer_remove":
        force = bool(op.get("force", False))
        return delegations.signer_remove(
            ctx, _field(op, "name", str), gun, passphrases, force=force
        )
    if kind == "delegation_add":
        return delegations.delegation_add(
            ctx,
            gun,
            _field(op, "role", str),
            _keys(op),
            passphrases,
            paths=_strings(op, "paths"),
            all_paths=bool(op.get("all_paths", False)),
            threshold=_field(op, "threshold", int, null=True),
        )
    if kind == "delegation_remove":
        role, keyids = _field(op, "role", str), _strings(op, "keyids")
        return _gone_is_done(
            lambda: delegations.delegation_remove(ctx, gun, role, keyids, passphrases)
        )
    if kind == "delegation_purge":
        return delegations.delegation_purge(ctx, gun, _field(op, "keyid", str), passphrases)
    if kind == "witness":
        return delegations.witness(ctx, gun, _strings(op, "roles"), passphrases)
    if kind == "resign":
        seconds = _field(op, "expires_seconds", int, null=True)
        return edit.resign(
            ctx,
            gun,
            _strings(op, "roles"),
            passphrases,
            expires_in=None if seconds is None else timedelta(seconds=seconds),
        )
    if kind == "key_rotate":
        from offtrust.ops.rotate import rotate_key

        seconds = _field(op, "expires_seconds", int, null=True)
        return rotate_key(
            ctx,
            gun,
            _field(op, "role", str),
            passphrases,
            threshold=_field(op, "threshold", int),
            server_managed=bool(op.get("server_managed", False)),
            expires_in=None if seconds is None else timedelta(seconds=seconds),
            public_keys=_keys(op),
        ).commit
    raise InvalidMetadataError(
        f"staged state of {gun}: unknown operation {describe(op)!r}",
        hint=f"`offtrust reset {gun}` and redo the edits",
    )


def _gone_is_done(action: Callable[[], CommitResult]) -> CommitResult:
    """A removal whose target is already gone has nothing left to do."""
    try:
        return action()
    except NothingToDoError:
        raise
    except NotFoundError as e:
        raise NothingToDoError(e.message) from e


def rebase(ctx: Context, gun: str, passphrases: PassphraseSource) -> RebaseResult:
    """Replay the recorded edits of *gun* on its current published state.

    Returns:
        What happened: ``rebased`` (the staged layer now builds on the
        published state), ``retired`` (the edits were all published: the
        staged layer is dropped), ``up-to-date`` (already built on the
        published state: nothing changed) or ``dropped`` (every edit was
        skipped because the published state already has it).

    Raises:
        NothingToDoError: nothing is staged for *gun*.
        ConflictError: the edits cannot be replayed (no recorded operations,
            or a new GUN that the server now holds).
        OfftrustError: an edit no longer applies (message names it); nothing changed.
    """
    repos = ctx.repos
    if repos.retire(gun):
        return RebaseResult(gun, RETIRED, "the staged edits are published: retired")
    info = repos.staged_info(gun)
    if info is None or not repos.staged_files(gun):
        raise NothingToDoError(f"{gun} has no staged edits")
    if info.new_gun:
        if not repos.has_published(gun):
            return RebaseResult(
                gun, UP_TO_DATE, "the staged edits create the GUN: nothing to rebase onto"
            )
        raise ConflictError(
            f"cannot rebase {gun}: its staged edits create the GUN, but the published state "
            "now holds one (someone else created it)",
            hint=f"`offtrust reset {gun}` and redo the edits on the published GUN",
        )
    if info.ops is None:
        raise ConflictError(
            f"cannot rebase {gun}: its staged edits were recorded without replayable "
            "operations (by an older offtrust, or by a command rebase cannot replay)",
            hint=f"`offtrust status {gun}` lists them; `offtrust reset {gun}` and redo them",
        )
    if not moved_roles(ctx, gun, info.base):
        return RebaseResult(
            gun, UP_TO_DATE, "the staged edits already build on the published state"
        )
    scratch = ScratchRepoStore(ctx.trust, gun)
    replay_ctx = _ScratchContext(ctx, scratch)
    result = RebaseResult(gun, REBASED)
    for number, op in enumerate(info.ops, start=1):
        text = describe(op)
        try:
            commit = _replay(replay_ctx, gun, op, passphrases)
        except NothingToDoError as e:
            result.skipped.append(f"{text}: {e.message} (already so on the published state)")
            continue
        except OfftrustError as e:
            raise _no_longer_applies(gun, number, text, e) from e
        result.replayed.append(text)
        result.warnings.extend(commit.warnings)
    if scratch.documents and scratch.info is not None:
        state = scratch.load(gun)
        result.versions = {r: state.roles[r].signed.version for r in sorted(scratch.documents)}
        result.message = f"replayed {len(result.replayed)} edit(s) on the published state"
    else:
        result.status = DROPPED
        result.message = "the published state already has every edit: staged layer dropped"
    scratch.commit()
    return result


def _no_longer_applies(gun: str, number: int, text: str, error: OfftrustError) -> OfftrustError:
    """*error*, its message naming the edit that failed and saying nothing changed."""
    message = (
        f"cannot rebase {gun}: edit {number} ({text}) does not apply to the published state: "
        f"{error.message}; nothing was changed"
    )
    hint = error.hint or f"`offtrust reset {gun}` and redo the edits that still apply"
    try:
        return type(error)(message, hint=hint)
    except TypeError:  # an error type with other arguments
        return ConflictError(message, hint=hint)
