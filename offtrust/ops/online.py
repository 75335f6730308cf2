"""The thin online steps: ``fetch`` and ``publish``, over a :class:`NotaryAPI`.

Both verify everything they receive by the one set of trust rules
(:mod:`offtrust.model.verify`): ``fetch`` writes to the published state only
after the whole chain checked out against the trusted (cached) root, and
``publish`` pins the root: it uploads only when the server's root is the one
the bundle was built on, and checks what the server then serves against the
bundle's root.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from offtrust.errors import (
    ConflictError,
    InvalidMetadataError,
    VerificationError,
)
from offtrust.model.metadata import BASE_ROLES, ROOT, SNAPSHOT, TARGETS, TIMESTAMP, Metadata
from offtrust.model.repository import RepoState
from offtrust.model.roles import is_delegation
from offtrust.model.verify import EXPIRY, MAX_ROOT_CHAIN, WARNING, verify_repository
from offtrust.online.api import GUN_DEADLINE
from offtrust.ops.context import Context
from offtrust.ops.verify import check_publishable
from offtrust.store.repo import parse_metadata, read_server_keys, write_server_keys

if TYPE_CHECKING:
    from offtrust.bundle import BundleGUN
    from offtrust.online.api import NotaryAPI


@dataclass
class GUNResult:
    gun: str
    status: str
    message: str = ""
    roles: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "gun": self.gun,
            "status": self.status,
            "message": self.message,
            "roles": dict(self.roles),
            "warnings": list(self.warnings),
        }


def _get(
    client: NotaryAPI, gun: str, role: str, source: str, sha256_hex: str | None = None
) -> Metadata[Any] | None:
    data = None
    if sha256_hex:
        data = client.get_metadata_by_hash(gun, role, sha256_hex)
    if data is None:
        data = client.get_metadata(gun, role)
    if data is None:
        return None
    return parse_metadata(data, role, f"{source}/{gun}/{role}.json")


def _hash_hex(parent: Metadata[Any] | None, role: str) -> str | None:
    if parent is None:
        return None
    entry = parent.signed.meta.get(role)
    if entry is None or "sha256" not in entry.hashes:
        return None
    import base64

    try:
        return base64.b64decode(entry.hashes["sha256"]).hex()
    except ValueError:
        return None


def download_state(
    client: NotaryAPI,
    gun: str,
    *,
    trusted_root: Metadata[Any] | None = None,
    previous: RepoState | None = None,
) -> RepoState | None:
    """Everything the server serves for *gun*, as network input for the trust rules.

    Root (and every root version between *trusted_root* and the newest), then
    timestamp → snapshot → targets → delegations, each by the hash its parent
    records where the server serves it so. Nothing is verified here: the
    returned state carries what it must be checked against.

    Returns:
        None when the server has no root for the GUN.

    Raises:
        VerificationError: the server has a root but no timestamp, snapshot or
            targets, or not every root version from the trusted one.
        NetworkError: the server failed.
        InvalidMetadataError: it served something malformed.
    """
    source = client.server
    root = _get(client, gun, ROOT, source)
    if root is None:
        return None
    state = RepoState(gun=gun, network=True, trusted_root=trusted_root)
    state.roles[ROOT] = root
    if trusted_root is not None:
        first, last = trusted_root.signed.version + 1, root.signed.version
        # The same cap as the trust rules' (at most MAX_ROOT_CHAIN steps), before any download.
        if last - trusted_root.signed.version > MAX_ROOT_CHAIN:
            raise VerificationError(
                f"{gun}: the server's root v{last} is more than {MAX_ROOT_CHAIN} versions "
                f"past the trusted v{first - 1}"
            )
        for version in range(first, last):
            data = client.get_metadata_version(gun, ROOT, version)
            if data is None:
                raise VerificationError(f"{gun}: the server does not serve root v{version}")
            state.root_chain.append(
                parse_metadata(data, ROOT, f"{source}/{gun}/{version}.root.json")
            )
    parent: Metadata[Any] | None = None
    for role, vouched_by in ((TIMESTAMP, None), (SNAPSHOT, TIMESTAMP), (TARGETS, SNAPSHOT)):
        parent = state.roles.get(vouched_by) if vouched_by else None
        md = _get(client, gun, role, source, _hash_hex(parent, role))
        if md is None:
            raise VerificationError(
                f"{gun}: the server serves a root but no {role}.json",
                hint="the server is broken or withholds metadata; try again later",
            )
        state.roles[role] = md
    snapshot = state.roles[SNAPSHOT]
    seen: set[str] = set()
    for _, entry in state.walk_delegations():
        if entry.name in seen:
            continue
        seen.add(entry.name)
        if entry.name not in snapshot.signed.meta:
            continue  # no file published for this delegation (yet)
        md = _get(client, gun, entry.name, source, _hash_hex(snapshot, entry.name))
        if md is not None:
            state.roles[entry.name] = md
    state.sources = dict.fromkeys(state.roles, "server")
    if previous is not None:
        state.floors = {role: md.signed.version for role, md in previous.roles.items()}
        state.previous_roles = {r for r in previous.roles if r not in BASE_ROLES}
    return state


def fetch_gun(ctx: Context, gun: str, client: NotaryAPI) -> GUNResult:
    """Refresh the published metadata of *gun*, verified against the trusted root.

    The trusted root is the cached one (trust on first use when there is
    none); the server's metadata must pass every trust rule as network input
    (expired timestamp or snapshot, rollback, a root not chained from the
    trusted one: refused, nothing written). A delegation that fails is
    skipped with a warning, as notary skips it; the rest is written.

    For a GUN the server does not know, record its timestamp and snapshot keys
    (once: the server hands out a new key on every request).

    Raises:
        VerificationError, RollbackError, ExpiredError: what the server serves
            does not verify.
        NetworkError: the server failed.
    """
    with client.deadline(GUN_DEADLINE):
        return _fetch_gun(ctx, gun, client)


def _fetch_gun(ctx: Context, gun: str, client: NotaryAPI) -> GUNResult:
    repos = ctx.repos
    published = repos.load(gun, staged=False) if repos.has_published(gun) else None
    trusted = published.get(ROOT) if published else None
    state = download_state(client, gun, trusted_root=trusted, previous=published)
    if state is None:
        if trusted is not None:
            raise ConflictError(f"{gun}: the server has no trust data, but this directory does")
        if repos.deletion(gun) is not None:
            # A staged deletion the server has carried out: done, nothing to keep.
            repos.reset(gun)
            return GUNResult(gun, "deleted", "the server holds no trust data: deletion done")
        return _record_server_keys(ctx, gun, client)
    warnings = []
    if trusted is None:
        warnings.append("no trusted root yet: trusting the server's root on first use")
    report = verify_repository(state, ctx.now(), crypto=ctx.crypto)
    report.raise_for(
        report.blocking(strict_expiry=True), prefix="refusing the server's metadata of "
    )
    skipped = [r for r in state.roles if r not in BASE_ROLES and not report.is_usable(r)]
    warnings += [
        str(p)
        for p in report.problems
        if p.role != TIMESTAMP and (p.severity == WARNING or is_delegation(p.role))
    ]
    warnings += [f"{r}: skipped (fails verification), not written" for r in skipped]
    roles = {r: md for r, md in state.roles.items() if r not in skipped}
    repos.write_published(gun, {role: md.to_bytes() for role, md in roles.items()})
    warnings += _refresh_server_keys(ctx, gun, client, state.roles[ROOT])
    message = ""
    if repos.retire(gun):
        message = "the staged edits are published now: retired, nothing left to carry back"
    elif (info := repos.staged_info(gun)) is not None and not info.new_gun:
        from offtrust.ops.staging import moved_roles

        moved = moved_roles(ctx, gun, info.base)
        if moved:
            fix = (
                f"`offtrust rebase {gun}` replays them on the new state"
                if info.ops is not None
                else f"`offtrust reset {gun}` and redo them (they cannot be replayed)"
            )
            warnings.append(
                f"staged edits were built on older versions of {', '.join(sorted(moved))}; {fix}"
            )
    return GUNResult(
        gun,
        "fetched",
        message,
        roles={r: md.signed.version for r, md in sorted(roles.items())},
        warnings=warnings,
    )


def _refresh_server_keys(
    ctx: Context, gun: str, client: NotaryAPI, root: Metadata[Any]
) -> list[str]:
    """Record the server's timestamp and snapshot keys of an existing GUN (best effort).

    ``key rotate GUN snapshot --server-managed`` lists the snapshot key
    offline. A record whose timestamp key the root lists is kept (the server
    keeps every key it made; for a client-managed snapshot it makes a new one
    on every request); a record from before the GUN existed is replaced.

    Returns:
        A warning when the server would not hand the keys out (they need
        push access); fetching itself does not fail for it.
    """
    from offtrust.errors import OfftrustError
    from offtrust.model.keys import PublicKey

    try:
        recorded = read_server_keys(ctx.trust, gun)
        listed = set(root.signed.role_keys(TIMESTAMP))
        if recorded and PublicKey.from_dict(recorded[TIMESTAMP]).keyid in listed:
            return []
        keys = {role: client.get_server_key(gun, role) for role in (TIMESTAMP, SNAPSHOT)}
        write_server_keys(ctx.trust, gun, keys)
    except OfftrustError as e:
        return [
            f"the server's snapshot key was not recorded ({e.message}); "
            f"`offtrust key rotate {gun} snapshot --server-managed` needs it"
        ]
    return []


def _record_server_keys(ctx: Context, gun: str, client: NotaryAPI) -> GUNResult:
    """Keep the timestamp and snapshot keys the server would use for a new GUN."""
    recorded = read_server_keys(ctx.trust, gun)
    wanted = [r for r in (TIMESTAMP, SNAPSHOT) if r not in recorded]
    keys = {role: client.get_server_key(gun, role) for role in wanted}
    if keys:
        write_server_keys(ctx.trust, gun, keys)
    from offtrust.model.keys import PublicKey

    ids = {r: PublicKey.from_dict(k).keyid[:12] for r, k in {**recorded, **keys}.items()}
    return GUNResult(
        gun,
        "new",
        "the server does not know this GUN: signing it offline creates a new repository, "
        "which publish uploads; the server's keys for it are recorded: "
        + ", ".join(f"{r} {i}" for r, i in sorted(ids.items()))
        + ("" if keys else " (kept from an earlier fetch)"),
    )


# -- publish ----------------------------------------------------------------


def bundle_state(entry: BundleGUN) -> RepoState:
    """The repository a bundle describes, checked against the root it was built on.

    Uploads are marked staged and must move past the base version.
    """
    state = RepoState(gun=entry.gun)
    for role, f in entry.files.items():
        md = parse_metadata(f.data, role, f"bundle:{entry.gun}/{role}.json")
        state.roles[role] = md
        state.sources[role] = "bundle"
        if f.upload:
            state.staged.add(role)
            if role in entry.base:
                state.floors[role] = entry.base[role] + 1
    if entry.trusted_root is not None:
        state.trusted_root = parse_metadata(
            entry.trusted_root, ROOT, f"bundle:{entry.gun}/trusted-root.json"
        )
    return state


def verify_bundle_gun(ctx: Context, entry: BundleGUN) -> list[str]:
    """Check one GUN of a bundle by the trust rules, from the root it was built on.

    Returns:
        Warnings.

    Raises:
        VerificationError: naming the role, the reason and the fix.
    """
    if entry.delete:
        return _verify_deletion(ctx, entry)
    state = checked_bundle_state(entry)
    report = verify_repository(state, ctx.now(), crypto=ctx.crypto)
    return check_publishable(ctx, state, report)


def checked_bundle_state(entry: BundleGUN) -> RepoState:
    """:func:`bundle_state`, refusing a bundle whose unchanged root is not its trusted root.

    Raises:
        VerificationError: the root is not uploaded yet differs from the trusted root.
    """
    state = bundle_state(entry)
    root = entry.files.get(ROOT)
    if (
        root is not None
        and not root.upload
        and entry.trusted_root is not None
        and root.data != entry.trusted_root
    ):
        raise VerificationError(
            f"{entry.gun}: the bundle's root is not the trusted root it was built on"
        )
    return state


def _verify_deletion(ctx: Context, entry: BundleGUN) -> list[str]:
    """A staged deletion pins a root: it must be a root that verifies by itself.

    Only its expiry may have passed (a repository is often deleted because
    nobody maintains it any more).

    Raises:
        VerificationError: the pinned root is missing or does not verify.
    """
    if entry.trusted_root is None:
        raise VerificationError(f"{entry.gun}: the deletion pins no root")
    root = parse_metadata(entry.trusted_root, ROOT, f"bundle:{entry.gun}/trusted-root.json")
    state = RepoState(gun=entry.gun, trusted_root=root)
    state.roles[ROOT] = root
    state.sources[ROOT] = "bundle"
    report = verify_repository(state, ctx.now(), crypto=ctx.crypto)
    errors = [p for p in report.errors_of(ROOT) if p.kind != EXPIRY]
    report.raise_for(errors, prefix="the deletion's pinned ")
    return [str(p) for p in report.problems if p.role == ROOT and p not in errors]


def delete_gun(ctx: Context, entry: BundleGUN, client: NotaryAPI, *, dry_run: bool) -> GUNResult:
    """Carry out a staged deletion (``repo delete``): ``notary delete GUN --remote``, pinned.

    The server's root must be the root the deletion was decided on (a server
    whose root moved on, or that holds another repository under this name, is
    left alone); then ``DELETE /v2/<gun>/_trust/tuf/``, and the server must
    answer 404 for the GUN's root and timestamp. A GUN the server already
    lacks is reported as such (publishing twice is safe).

    Raises:
        ConflictError: the server's root moved on since the deletion was staged.
        VerificationError: the pinned root does not verify, the server holds
            another root, or it still serves the GUN after the deletion.
        NetworkError: the server refused or failed.
    """
    gun = entry.gun
    warnings = _verify_deletion(ctx, entry)
    pinned = parse_metadata(entry.trusted_root or b"", ROOT, f"bundle:{gun}/trusted-root.json")
    served_root = client.get_metadata(gun, ROOT)
    if served_root is None:
        _check_deleted(client, gun, after="")
        return GUNResult(gun, "already-deleted", "the server holds no trust data for it")
    _check_server_root(ctx, entry, client, served_root)
    version = pinned.signed.version
    if dry_run:
        return GUNResult(
            gun,
            "would-delete",
            f"delete all its trust data on the server (root v{version}, as pinned)",
            roles={ROOT: version},
            warnings=warnings,
        )
    client.delete_trust_data(gun)
    _check_deleted(client, gun, after="deleted, but ")
    return GUNResult(
        gun,
        "deleted",
        "the server no longer serves it (404 for root and timestamp)",
        roles={ROOT: version},
        warnings=warnings,
    )


def _check_deleted(client: NotaryAPI, gun: str, *, after: str) -> None:
    """The server answers 404 for the root and the timestamp of *gun*.

    Raises:
        VerificationError: it still serves one of them.
    """
    served = [role for role in (ROOT, TIMESTAMP) if client.get_metadata(gun, role) is not None]
    if served:
        raise VerificationError(
            f"{gun}: {after}the server still serves its {' and '.join(served)}",
            hint="check the server's storage and logs; publish the bundle again to retry",
        )


def _version_of(data: bytes) -> int:
    try:
        version = json.loads(data)["signed"]["version"]
    except (ValueError, KeyError, TypeError, RecursionError) as e:
        raise InvalidMetadataError(f"server served unreadable metadata: {_one_line(e)}") from e
    if not isinstance(version, int) or isinstance(version, bool):
        raise InvalidMetadataError("server served metadata without an integer signed.version")
    return version


def _one_line(error: BaseException) -> str:
    """*error*'s text on one line, cut short (a JSON error may quote the input)."""
    text = " ".join(str(error).split())[:200]
    return text or type(error).__name__


def _check_server_root(ctx: Context, entry: BundleGUN, client: NotaryAPI, served: bytes) -> None:
    """The server's root must be the bundle's trusted root; say why not.

    Raises:
        ConflictError: the server's root moved on from the trusted one by a
            valid rotation (the bundle is stale).
        VerificationError: the server holds a root that does not chain from
            the trusted one (another repository under the same name).
    """
    gun = entry.gun
    assert entry.trusted_root is not None
    if served == entry.trusted_root:
        return
    trusted = parse_metadata(entry.trusted_root, ROOT, f"bundle:{gun}/trusted-root.json")
    try:
        state = download_state(client, gun, trusted_root=trusted)
    except VerificationError as e:
        raise VerificationError(
            f"{gun}: the server's root is not the root this bundle was built on: {e.message}"
        ) from e
    problems = []
    if state is not None:
        report = verify_repository(state, ctx.now(), crypto=ctx.crypto)
        problems = report.errors_of(ROOT)
    if state is None or problems:
        reason = problems[0].reason if problems else "it has none"
        raise VerificationError(
            f"{gun}: the server holds a different root than the one this bundle was built on "
            f"({reason}); refusing to publish",
            hint="check --server: this is another repository under the same name",
        )
    raise ConflictError(
        f"{gun}: the server's root moved to v{state.roles[ROOT].signed.version} since the "
        f"bundle was built on v{trusted.signed.version}",
        hint=f"`offtrust fetch {gun}` on the networked side, redo the edits, stage again",
    )


def publish_gun(ctx: Context, entry: BundleGUN, client: NotaryAPI, *, dry_run: bool) -> GUNResult:
    """Upload one GUN of a bundle unless the server moved past its base.

    The server's root must be the bundle's trusted root (or, for a new GUN,
    absent); after uploading, what the server serves is verified against the
    bundle's root, not against the server's own.

    Raises:
        ConflictError: the server state moved on (stale bundle) or disagrees.
        VerificationError: the bundle, the server's root, or what the server
            serves afterwards, fails.
        NetworkError: the server refused or failed.
    """
    with client.deadline(GUN_DEADLINE):
        return _publish_gun(ctx, entry, client, dry_run=dry_run)


def _publish_gun(
    ctx: Context, entry: BundleGUN, client: NotaryAPI, *, dry_run: bool
) -> GUNResult:
    gun = entry.gun
    if entry.delete:
        return delete_gun(ctx, entry, client, dry_run=dry_run)
    warnings = verify_bundle_gun(ctx, entry)
    uploads = {role: f.data for role, f in entry.files.items() if f.upload}
    server: dict[str, bytes | None] = {
        role: client.get_metadata(gun, role) for role in sorted({ROOT, *uploads})
    }
    final_root = parse_metadata(entry.files[ROOT].data, ROOT, f"bundle:{gun}/root.json")
    if all(server.get(role) == data for role, data in uploads.items()):
        _verify_served(ctx, entry, client, final_root, uploads)
        return GUNResult(
            gun,
            "already-published",
            "the server already serves these files",
            roles={r: f.version for r, f in entry.files.items() if f.upload},
        )
    served_root = server[ROOT]
    if entry.new_gun:
        if served_root is not None:
            raise ConflictError(
                f"{gun} already exists on the server; the bundle initialises it",
                hint=f"`offtrust fetch {gun}`, then `offtrust reset {gun}` and redo",
            )
    elif served_root is None:
        raise ConflictError(f"{gun}: the server has no trust data, but the bundle builds on it")
    else:
        _check_server_root(ctx, entry, client, served_root)
    stale = []
    for role, data in server.items():
        if data is None or (role in uploads and data == uploads[role]):
            continue
        base = entry.base.get(role, 0)
        current = _version_of(data)
        if current > base:
            stale.append(f"{role} is at v{current}, the bundle was built on v{base}")
    if stale:
        raise ConflictError(
            f"{gun}: the server moved past the bundle's base ({'; '.join(stale)})",
            hint=f"`offtrust fetch {gun}` on the networked side, redo the edits, stage again",
        )
    roles = {role: entry.files[role].version for role in sorted(uploads)}
    if dry_run:
        return GUNResult(
            gun,
            "would-publish",
            "upload " + ", ".join(sorted(uploads)),
            roles=roles,
            warnings=warnings,
        )
    client.publish(gun, uploads)
    _verify_served(ctx, entry, client, final_root, uploads)
    return GUNResult(
        gun,
        "published",
        "the server serves the new metadata and it verifies",
        roles=roles,
        warnings=warnings,
    )


def _verify_served(
    ctx: Context,
    entry: BundleGUN,
    client: NotaryAPI,
    final_root: Metadata[Any],
    uploads: dict[str, bytes],
) -> None:
    """What the server now serves is the uploaded files and verifies from the bundle's root.

    Raises:
        VerificationError: it does not.
    """
    gun = entry.gun
    try:
        state = download_state(client, gun, trusted_root=final_root)
    except VerificationError as e:
        raise VerificationError(f"{gun}: published, but {e.message}") from e
    if state is None:
        raise VerificationError(f"{gun}: published, but the server serves no root")
    served_wrong = [
        r for r, d in uploads.items() if r in state.roles and state.roles[r].to_bytes() != d
    ]
    missing = [r for r in uploads if r not in state.roles]
    if served_wrong or missing:
        raise VerificationError(
            f"{gun}: published, but the server does not serve the uploaded "
            f"{', '.join(served_wrong + missing)}"
        )
    report = verify_repository(state, ctx.now(), crypto=ctx.crypto)
    report.raise_for(report.blocking(strict_expiry=True), prefix="published, but the server's ")
