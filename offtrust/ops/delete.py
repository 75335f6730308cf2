"""``repo delete``: remove a GUN's local trust data at once and stage its deletion on the server.

The published cache (``tuf/<gun>/metadata`` and ``changelist``, as ``notary
delete`` removes them), the staged edits and the server keys ``fetch``
recorded go at once; what stays is a staged deletion that pins the published
root, which ``stage`` packs and ``publish`` carries out (``DELETE
/v2/<gun>/_trust/tuf/``, as ``notary delete --remote``) only while the
server's root is that one. ``reset GUN`` drops the staged deletion; the local
data it removed comes back with ``fetch``.

With ``keys``, the GUN's own private keys go too: the keys its metadata lists
(root, targets, snapshot, delegations) and those whose ``gun`` header names
it, except any key the metadata of another GUN lists (a root key Docker
reuses for every repository stays).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from offtrust.errors import NotFoundError, OfftrustError, VerificationError
from offtrust.model.keys import PublicKey
from offtrust.model.metadata import ROOT
from offtrust.model.repository import RepoState
from offtrust.model.verify import EXPIRY
from offtrust.ops.context import Context
from offtrust.ops.verify import verify_state
from offtrust.store.keystore import KeyInfo
from offtrust.store.layout import check_gun
from offtrust.store.repo import StagedDeletion


@dataclass
class DeletePlan:
    """What ``repo delete`` of one GUN removes and stages (shown before confirming).

    Attributes:
        gun: the GUN.
        published: it has a published cache (whose root the deletion pins).
        root_version: the version of that root.
        staged_edits: staged edits are dropped.
        already_staged: a deletion of it is staged already.
        keys: the private keys removed (with ``keys``).
        kept_keys: key ID -> the other GUNs whose metadata lists it (kept).
        legacy_keys: keys of the GUN in a legacy layout (kept: offtrust never
            changes those).
    """

    gun: str
    published: bool
    root_version: int | None
    staged_edits: bool
    already_staged: bool
    keys: list[KeyInfo] = field(default_factory=list)
    kept_keys: dict[str, list[str]] = field(default_factory=dict)
    legacy_keys: list[KeyInfo] = field(default_factory=list)
    deletion: StagedDeletion | None = None

    @property
    def stages_deletion(self) -> bool:
        """A deletion is (or stays) staged: the server may hold the GUN."""
        return self.deletion is not None or self.already_staged

    def to_dict(self) -> dict[str, Any]:
        return {
            "gun": self.gun,
            "deletion_staged": self.stages_deletion,
            "root_version": self.root_version,
            "published_cache_removed": self.published,
            "staged_edits_dropped": self.staged_edits,
            "keys_removed": [k.keyid for k in self.keys],
            "keys_kept": {k: list(v) for k, v in sorted(self.kept_keys.items())},
        }


def _key_ids(key_id: str, key: PublicKey) -> set[str]:
    """The IDs a private key of *key* may be stored under: its TUF ID and its canonical one."""
    from offtrust.crypto import canonical_keyid

    ids = {key_id}
    with contextlib.suppress(OfftrustError):
        ids.add(canonical_keyid(key))
    return ids


def _listed_keys(state: RepoState) -> set[str]:
    """Every key ID (TUF and canonical) the metadata of *state* lists, published and staged."""
    out: set[str] = set()
    documents = [*state.roles.values(), *state.published.values()]
    for md in documents:
        signed = md.signed
        for key_id, key in dict(getattr(signed, "keys", None) or {}).items():
            out |= _key_ids(key_id, key)
        delegations = getattr(signed, "delegations", None)
        for key_id, key in dict(getattr(delegations, "keys", None) or {}).items():
            out |= _key_ids(key_id, key)
    return out


def _other_guns_keys(ctx: Context, gun: str) -> dict[str, list[str]]:
    """Key ID -> the other GUNs whose metadata (published or staged) lists it.

    A GUN that cannot be loaded is read raw, so a key it lists is never taken
    for unused.
    """
    out: dict[str, list[str]] = {}
    for other in ctx.trust.all_guns():
        if other == gun:
            continue
        try:
            listed = _listed_keys(ctx.repos.load(other))
        except OfftrustError:
            listed = set()
        for key_id in listed:
            out.setdefault(key_id, []).append(other)
    for other in ctx.repos.deleted_guns():
        if other == gun:
            continue
        deletion = ctx.repos.deletion(other)
        if deletion is None:
            continue
        state = RepoState(gun=other)
        from offtrust.store.repo import parse_metadata

        try:
            state.roles[ROOT] = parse_metadata(deletion.trusted_root, ROOT, f"{other} (deleted)")
        except OfftrustError:
            continue
        for key_id in _listed_keys(state):
            out.setdefault(key_id, []).append(other)
    return out


def plan_delete(ctx: Context, gun: str, *, keys: bool = False) -> DeletePlan:
    """Work out what deleting *gun* removes, without changing anything.

    Raises:
        NotFoundError: the trust directory holds nothing of *gun*.
        VerificationError: its published root does not verify (only an
            expired one may be pinned).
        InvalidMetadataError, UnreadableInputError: its metadata is broken.
    """
    check_gun(gun)
    repos = ctx.repos
    published = repos.has_published(gun)
    staged_edits = bool(repos.staged_files(gun)) or repos.staged_info(gun) is not None
    existing = repos.deletion(gun)
    if not published and not staged_edits and existing is None:
        raise NotFoundError(
            f"no trust data for {gun} in {ctx.trust.path}", hint=repos._unknown_gun_hint(gun)
        )
    plan = DeletePlan(
        gun=gun,
        published=published,
        root_version=existing.base.get(ROOT) if existing else None,
        staged_edits=staged_edits,
        already_staged=existing is not None,
    )
    state = repos.load(gun) if published or staged_edits else RepoState(gun=gun)
    if published:
        pub = repos.load(gun, staged=False)
        root = pub.roles.get(ROOT)
        if root is None:
            raise VerificationError(f"{gun}: the published cache has no root to pin")
        report = verify_state(ctx, pub)
        errors = [p for p in report.errors_of(ROOT) if p.kind != EXPIRY]
        report.raise_for(errors, prefix="cannot delete: the published ")
        plan.deletion = StagedDeletion(
            base={role: md.signed.version for role, md in pub.roles.items()},
            trusted_root=root.to_bytes(),
        )
        plan.root_version = root.signed.version
    if keys:
        _plan_keys(ctx, gun, state, existing, plan)
    return plan


def _plan_keys(
    ctx: Context,
    gun: str,
    state: RepoState,
    existing: StagedDeletion | None,
    plan: DeletePlan,
) -> None:
    """Fill in the keys *plan* removes and keeps."""
    own = _listed_keys(state)
    if existing is not None:
        from offtrust.store.repo import parse_metadata

        pinned = RepoState(gun=gun)
        pinned.roles[ROOT] = parse_metadata(existing.trusted_root, ROOT, f"{gun} (deleted)")
        own |= _listed_keys(pinned)
    others = _other_guns_keys(ctx, gun)
    for info in ctx.keys.list():
        if info.keyid not in own and info.gun != gun:
            continue
        if info.keyid in others:
            plan.kept_keys[info.keyid] = sorted(set(others[info.keyid]))
        elif info.legacy:
            plan.legacy_keys.append(info)
        else:
            plan.keys.append(info)


def delete_repo(ctx: Context, plan: DeletePlan) -> DeletePlan:
    """Carry out *plan* (from :func:`plan_delete`, under the same lock).

    The staged edits go first, then the staged deletion is recorded, and only
    then the published cache (with the server keys ``fetch`` recorded), each
    in one rename, then the keys: a command killed midway leaves the
    published cache or the deletion with the root it pins, and running it
    again finishes the work.

    Raises:
        UnreadableInputError: a link or special file is in the way (nothing
            is changed when it is in the published or staged data).
        StoreError: something cannot be removed.
    """
    repos = ctx.repos
    gun = plan.gun
    record = plan.deletion or repos.deletion(gun)
    if plan.staged_edits:
        repos.reset(gun)
    if record is not None:
        repos.stage_deletion(gun, record)
    if plan.published:
        repos.remove_published(gun)
    repos.remove_server_keys(gun)
    if plan.keys:
        ctx.keys.discard(plan.keys)
    return plan
