"""Staged edits: ``status``, ``diff``, ``reset``, and packing them with ``stage``."""

from __future__ import annotations

import contextlib
import difflib
import json
from typing import TYPE_CHECKING, Any

from offtrust.errors import ConflictError, NotFoundError, OfftrustError, VerificationError
from offtrust.model.metadata import ROOT, TIMESTAMP, Metadata
from offtrust.model.repository import RepoState
from offtrust.ops.context import Context
from offtrust.ops.verify import check_publishable, verify_state

if TYPE_CHECKING:
    from offtrust.store.repo import RepoStore


def staged_guns(ctx: Context) -> list[str]:
    """GUNs with staged edits not yet published (a published staged layer is retired)."""
    return list(_staged_files_by_gun(ctx))


def _staged_files_by_gun(
    ctx: Context, guns: list[str] | None = None
) -> dict[str, dict[str, Any]]:
    """:func:`staged_guns` (of *guns*, default every staged one), each with its
    ``staged_files`` (looked up once)."""
    repos = ctx.repos
    names = ctx.trust.staged_guns() if guns is None else guns
    found = {gun: repos.staged_files(gun) for gun in names}
    return {gun: files for gun, files in found.items() if files}


def pending_guns(ctx: Context) -> list[str]:
    """Every GUN with staged edits not yet published or a staged deletion, sorted
    (one walk of the staged layer finds both)."""
    staged, deleted = ctx.repos.staged_and_deleted_guns()
    return sorted({*_staged_files_by_gun(ctx, staged), *deleted})


def status(ctx: Context, guns: list[str] | None = None) -> list[dict[str, Any]]:
    """Per staged GUN: which roles changed, versions published → staged, and the edits.

    Without *guns*, only GUNs with edits not yet published; a named GUN whose
    staged edits are all published says so (``retired``: the next writing
    command on it, ``fetch`` or ``rebase``, drops them). ``behind`` lists the
    roles whose published version moved past the one the edits were built on
    (``rebase`` replays them; ``rebase`` is False when they cannot be replayed).
    """
    out: list[dict[str, Any]] = []
    names = guns if guns is not None else pending_guns(ctx)
    for gun in names:
        deletion = ctx.repos.deletion(gun)
        if deletion is not None:
            out.append(_deletion_row(gun, deletion.base.get(ROOT)))
            continue
        info = ctx.repos.staged_info(gun)
        files = ctx.repos.staged_files(gun)
        if info is None and not files:
            retired = ctx.repos.staged_published(gun)
            out.append({"gun": gun, "staged": False, "retired": retired, "roles": {}, "edits": []})
            continue
        state = ctx.repos.load(gun)
        roles = {}
        for role in sorted(files):
            md = state.roles.get(role)
            roles[role] = {
                "published_version": (info.base.get(role) if info else None),
                "staged_version": md.signed.version if md is not None else None,
            }
        new_gun = bool(info and info.new_gun)
        behind = [] if info is None or new_gun else moved_roles(ctx, gun, info.base)
        out.append(
            {
                "gun": gun,
                "staged": True,
                "retired": False,
                "new_gun": new_gun,
                "roles": roles,
                "edits": list(info.edits) if info else [],
                "behind": behind,
                "rebase": bool(info and info.ops is not None and not new_gun),
            }
        )
    return out


def _deletion_row(gun: str, root_version: int | None) -> dict[str, Any]:
    """A staged deletion as ``status`` lists it."""
    return {
        "gun": gun,
        "staged": True,
        "retired": False,
        "new_gun": False,
        "delete": True,
        "roles": {},
        "edits": [
            f"delete the repository on the server (only while its root is v{root_version}, "
            "the one it was deleted at); `offtrust reset` drops the deletion"
        ],
        "behind": [],
        "rebase": False,
    }


def moved_roles(ctx: Context, gun: str, base: dict[str, int]) -> list[str]:
    """Staged roles (and root) whose published version moved past the staged edits' base.

    These are what ``publish`` would refuse; a role the edits did not touch
    (or the server-signed snapshot) may move on without a conflict.
    """
    repos = ctx.repos
    if not repos.has_published(gun):
        return []
    state = repos.load(gun)
    current = {r: md.signed.version for r, md in state.published.items()}
    roles = {ROOT, *state.staged} - {TIMESTAMP}
    return sorted(r for r in roles if base.get(r) != current.get(r))


def pretty_document(md: Metadata[Any] | None) -> list[str]:
    """A document as :func:`diff` compares it: indented JSON lines, each ending in a newline."""
    if md is None:
        return []
    doc = {"signed": md.signed.to_dict(), "signatures": [s.to_dict() for s in md.iter_signatures()]}
    text = json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return text.splitlines(keepends=True)


def diff(ctx: Context, gun: str) -> str:
    """A unified diff, one file per staged role, of the published and the staged document.

    Each file compares the role's document as indented JSON, with ``a/`` and
    ``b/`` paths (``/dev/null`` for a role that is new or removed), so that
    ``patch -p1`` turns the published files into the staged ones.

    Raises:
        NotFoundError: the GUN has no staged edits.
    """
    files = ctx.repos.staged_files(gun)
    if not files:
        raise NotFoundError(f"{gun} has no staged edits")
    published = ctx.repos.load(gun, staged=False) if ctx.repos.has_published(gun) else None
    staged = ctx.repos.load(gun)
    out: list[str] = []
    for role in sorted(files):
        before = published.roles.get(role) if published else None
        after = staged.roles.get(role)
        name = f"{gun}/{role}.json"
        out.extend(
            difflib.unified_diff(
                pretty_document(before),
                pretty_document(after),
                fromfile=f"a/{name}" if before is not None else "/dev/null",
                tofile=f"b/{name}" if after is not None else "/dev/null",
            )
        )
    return "".join(out)


def reset(ctx: Context, gun: str) -> bool:
    """Drop the staged edits of *gun*; False when it had none."""
    return ctx.repos.reset(gun)


def check_stageable(ctx: Context, state: RepoState) -> list[str]:
    """Refuse to pack a GUN whose staged chain does not verify.

    Returns:
        Warnings (a delegation left without valid signatures, as Docker
        leaves it: the server accepts the upload; a top-level role still
        gathering signatures, packed for ``bundle sign``).

    Raises:
        VerificationError: naming the first problem and its fix.
    """
    return check_publishable(ctx, state, verify_state(ctx, state), allow_pending=True)


def _check_base(
    ctx: Context,
    gun: str,
    state: RepoState,
    base: dict[str, int],
    new_gun: bool,
    *,
    rebase: bool,
) -> None:
    """Refuse to pack edits built on a published state that has moved on since.

    Raises:
        ConflictError: naming the role and the versions, and ``rebase`` (or
            ``reset``, when the edits cannot be replayed) as the fix.
    """
    fix = (
        f"`offtrust rebase {gun}` replays the edits on it"
        if rebase
        else f"`offtrust reset {gun}` and redo the edits"
    )
    if new_gun:
        if state.published.get(ROOT) is not None:
            raise ConflictError(
                f"cannot stage {gun}: the edits create it, but the published state now holds it",
                hint=f"`offtrust reset {gun}` and redo the edits",
            )
        return
    if state.published.get(ROOT) is None:
        return
    current = {r: md.signed.version for r, md in state.published.items()}
    roles = [ROOT, *sorted(r for r in state.staged if r not in (ROOT, TIMESTAMP))]
    for role in roles:
        if base.get(role) != current.get(role):
            was = f"v{base[role]}" if role in base else "no file"
            now = f"v{current[role]}" if role in current else "none"
            raise ConflictError(
                f"cannot stage {gun}: the edits were built on {role} {was}, but the published "
                f"{role} is now {now}",
                hint=fix,
            )


def build_bundle(
    ctx: Context,
    guns: list[str] | None = None,
    *,
    warnings: list[str] | None = None,
    fingerprints: dict[str, str | None] | None = None,
) -> tuple[bytes, list[str]]:
    """Pack the staged edits of *guns* (default: every staged GUN) into bundle bytes.

    Many GUNs are read and verified ahead by worker processes
    (:mod:`offtrust.store.workers`; the work only reads); the result is the same.
    *fingerprints* receives each packed GUN's staged fingerprint, taken while
    packing it, for :func:`record_bundled`.

    Returns:
        The bundle bytes and the GUNs packed.

    Raises:
        NotFoundError: nothing is staged.
        VerificationError: a GUN's staged chain does not verify (the first in order).
    """
    from offtrust.bundle import pack_gun, write_bundle
    from offtrust.store import workers

    every = not guns
    names = guns if guns else sorted(set().union(*ctx.repos.staged_and_deleted_guns()))
    if not names:
        raise NotFoundError(_NOTHING_STAGED, hint=_NOTHING_STAGED_HINT)

    def pack(gun: str) -> tuple[Any, list[str], str | None] | None:
        # Read-only under the lock: each GUN's retire rule is worked out once.
        with ctx.repos.remembering() as repos:
            files = repos.staged_files(gun) if every else None
            if every and not files and repos.deletion(gun) is None:
                return None  # its staged edits are all published (retired): nothing to pack
            entry, notes = _bundle_entry(ctx, gun, files, repos)
            wanted = fingerprints is not None
            fingerprint = repos.staged_fingerprint(gun, packed=True) if wanted else None
        return pack_gun(entry), notes, fingerprint

    entries = []
    packed: list[str] = []
    count = workers.worker_count(len(names)) if len(set(names)) == len(names) else 0
    if count:
        from offtrust.ops.verify import warm_up

        warm_up()  # the workers share it instead of each loading it
    with workers.Rehearsal(names, pack, count) if count else contextlib.nullcontext() as ahead:
        for index, gun in enumerate(names):
            kind: str = "redo"
            answer: Any = None
            if ahead is not None:
                kind, answer = ahead.answer(index)
            if kind == "error" and isinstance(answer, OfftrustError):
                raise answer
            result = answer if kind == "ok" else pack(gun)
            if result is None:
                continue
            entry, notes, fingerprint = result
            if fingerprints is not None:
                fingerprints[gun] = fingerprint
            if warnings is not None:
                warnings.extend(f"{gun}: {note}" for note in notes)
            entries.append(entry)
            packed.append(gun)
    if not entries:
        raise NotFoundError(_NOTHING_STAGED, hint=_NOTHING_STAGED_HINT)
    return write_bundle(entries), packed


_NOTHING_STAGED = "nothing is staged (edits already published are retired)"
_NOTHING_STAGED_HINT = "edit something first, e.g. `offtrust signer add`"


def _bundle_entry(
    ctx: Context, gun: str, files: dict[str, Any] | None, repos: RepoStore | None = None
) -> tuple[Any, list[str]]:
    """One GUN of a bundle, and the warnings of packing it; *files*: its staged files if known.

    Raises:
        As :func:`build_bundle`.
    """
    from offtrust.bundle import BundleFile, BundleGUN

    if repos is None:
        repos = ctx.repos
    if files is None:
        files = repos.staged_files(gun)
    deletion = repos.deletion(gun)
    if deletion is not None:
        if files:
            raise ConflictError(
                f"cannot stage {gun}: both a deletion and edits are staged",
                hint=f"`offtrust reset {gun}` drops both; then redo the one you want",
            )
        entry = BundleGUN(
            gun=gun,
            base=dict(deletion.base),
            new_gun=False,
            files={},
            trusted_root=deletion.trusted_root,
            delete=True,
        )
        return entry, []
    if not files:
        if repos.staged_published(gun):
            raise NotFoundError(f"{gun} has no staged edits left to carry back: they are published")
        raise NotFoundError(f"{gun} has no staged edits")
    info = repos.staged_info(gun)
    state = repos.load(gun)
    base = dict(info.base) if info else {}
    trusted_root = state.published.get(ROOT)
    new_gun = bool(info and info.new_gun)
    # A published state that moved on first: its fix (rebase) is not the verifier's.
    _check_base(ctx, gun, state, base, new_gun, rebase=info is not None and info.ops is not None)
    try:
        notes = check_stageable(ctx, state)
    except VerificationError as e:
        raise type(e)(f"cannot stage {e.message}", hint=e.hint) from e
    bundle_files = {}
    for role in [*state.roles]:
        md = state.roles[role]
        bundle_files[role] = BundleFile(
            role=role, data=md.to_bytes(), version=md.signed.version, upload=role in files
        )
    entry = BundleGUN(
        gun=gun,
        base=base,
        new_gun=new_gun,
        files=bundle_files,
        trusted_root=None if new_gun or trusted_root is None else trusted_root.to_bytes(),
    )
    return entry, notes


def record_bundled(
    ctx: Context,
    guns: list[str],
    data: bytes,
    fingerprints: dict[str, str | None] | None = None,
) -> None:
    """Best effort: note which bundle each GUN's staged state went into, for ``doctor``.

    Called once the bundle is written (a bundle that was never written is not
    recorded, so a failed ``stage`` changes nothing). A trust directory that
    cannot be written (a read-only copy) still stages. *fingerprints*: the
    staged fingerprints :func:`build_bundle` took under the same lock.
    """
    import hashlib

    repos = ctx.repos
    taken: dict[str, str | None] = {}
    for gun in guns:
        if fingerprints is not None and gun in fingerprints:
            taken[gun] = fingerprints[gun]
            continue
        try:
            taken[gun] = repos.staged_fingerprint(gun, packed=True)
        except OfftrustError:
            taken[gun] = None
    with contextlib.suppress(OfftrustError):
        repos.record_bundled(hashlib.sha256(data).hexdigest(), taken)
