"""The thin online steps: ``fetch`` and ``publish``, over a :class:`NotaryClient`.

Both verify everything they receive with the same offline rules as
``verify``; ``fetch`` writes to the published state only after the whole
chain checked out, and ``publish`` refuses a GUN the server moved on from.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from offtrust.errors import (
    ConflictError,
    InvalidMetadataError,
    OfftrustError,
    RollbackError,
    VerificationError,
)
from offtrust.model.metadata import ROOT, SNAPSHOT, TARGETS, TIMESTAMP, Metadata
from offtrust.model.repository import RepoState
from offtrust.model.verify import count_valid_signatures, verify_repository
from offtrust.ops.context import Context
from offtrust.store.repo import parse_metadata, read_server_keys, write_server_keys

if TYPE_CHECKING:
    from offtrust.bundle import BundleGUN
    from offtrust.online.client import NotaryClient


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
    client: NotaryClient, gun: str, role: str, source: str, sha256_hex: str | None = None
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


def download_state(client: NotaryClient, gun: str, root: Metadata[Any] | None = None) -> RepoState:
    """Everything the server serves for *gun*: timestamp → snapshot → targets → delegations.

    Raises:
        NetworkError: the server failed.
        InvalidMetadataError: it served something malformed.
    """
    source = client.server
    state = RepoState(gun=gun)
    root = root or _get(client, gun, ROOT, source)
    if root is None:
        return state
    state.roles[ROOT] = root
    timestamp = _get(client, gun, TIMESTAMP, source)
    if timestamp is not None:
        state.roles[TIMESTAMP] = timestamp
    snapshot = _get(client, gun, SNAPSHOT, source, _hash_hex(timestamp, SNAPSHOT))
    if snapshot is not None:
        state.roles[SNAPSHOT] = snapshot
    targets = _get(client, gun, TARGETS, source, _hash_hex(snapshot, TARGETS))
    if targets is not None:
        state.roles[TARGETS] = targets
    seen: set[str] = set()
    for _, entry in state.walk_delegations():
        if entry.name in seen:
            continue
        seen.add(entry.name)
        if snapshot is not None and entry.name not in snapshot.signed.meta:
            continue  # no file published for this delegation yet
        md = _get(client, gun, entry.name, source, _hash_hex(snapshot, entry.name))
        if md is not None:
            state.roles[entry.name] = md
    state.sources = dict.fromkeys(state.roles, "server")
    return state


def _check_root_update(
    client: NotaryClient, gun: str, trusted: Metadata[Any], new: Metadata[Any]
) -> None:
    """Walk root versions from the trusted one to *new*, each signed by its predecessor.

    Raises:
        RollbackError, VerificationError: the chain is broken.
    """
    old_v, new_v = trusted.signed.version, new.signed.version
    if new_v < old_v:
        raise RollbackError(f"{gun}: server root version {new_v} is older than the trusted {old_v}")
    if new_v == old_v:
        if new.to_bytes() != trusted.to_bytes():
            _require_root_signatures(gun, new, trusted, "the trusted root keys")
            raise VerificationError(
                f"{gun}: the server's root v{new_v} differs from the trusted root of that version"
            )
        return
    previous = trusted
    for version in range(old_v + 1, new_v + 1):
        if version == new_v:
            current = new
        else:
            data = client.get_metadata_version(gun, ROOT, version)
            if data is None:
                raise VerificationError(f"{gun}: the server does not serve root v{version}")
            current = parse_metadata(data, ROOT, f"{client.server}/{gun}/{version}.root.json")
        label = (
            "the trusted root keys"
            if previous is trusted
            else f"the root keys of v{previous.signed.version}"
        )
        _require_root_signatures(gun, current, previous, label)
        _require_root_signatures(gun, current, current, "its own root keys")
        previous = current


def _require_root_signatures(
    gun: str, root: Metadata[Any], keys_from: Metadata[Any], label: str
) -> None:
    """*root* carries a threshold of valid signatures by the root keys of *keys_from*.

    Raises:
        VerificationError: naming *label* (which keys were missing).
    """
    valid = count_valid_signatures(root, keys_from.signed.role_keys(ROOT))
    threshold = keys_from.signed.threshold(ROOT)
    if len(valid) < threshold:
        raise VerificationError(
            f"{gun}: the server's root v{root.signed.version} is not signed by {label} "
            f"({len(valid)} of threshold {threshold})"
        )


def fetch_gun(ctx: Context, gun: str, client: NotaryClient) -> GUNResult:
    """Refresh the published metadata of *gun*, verified against the trusted root.

    For a GUN the server does not know, record its timestamp and snapshot keys
    (once: the server hands out a new key on every request).

    Raises:
        VerificationError, RollbackError: what the server serves does not verify.
        NetworkError: the server failed.
    """
    repos = ctx.repos
    published = repos.load(gun, staged=False) if ctx.trust.published_dir(gun).is_dir() else None
    trusted = published.get(ROOT) if published else None
    root = _get(client, gun, ROOT, client.server)
    if root is None:
        if trusted is not None:
            raise ConflictError(f"{gun}: the server has no trust data, but this directory does")
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
            "not on the server yet; server keys recorded "
            + ", ".join(f"{r} {i}" for r, i in sorted(ids.items()))
            + ("" if keys else " (kept from an earlier fetch)"),
        )
    warnings = []
    if trusted is not None:
        _check_root_update(client, gun, trusted, root)
    else:
        warnings.append("no trusted root yet: trusting the server's root on first use")
    state = download_state(client, gun, root)
    report = verify_repository(state, ctx.now())
    if not report.ok:
        first = report.errors[0]
        raise VerificationError(f"{gun}: server metadata fails verification: {first}")
    warnings += [str(p) for p in report.warnings if p.role != TIMESTAMP]
    if published is not None:
        for role, md in state.roles.items():
            old = published.roles.get(role)
            if old is not None and md.signed.version < old.signed.version:
                raise RollbackError(
                    f"{gun}: server {role} v{md.signed.version} is older than the local "
                    f"v{old.signed.version}"
                )
    repos.write_published(gun, {role: md.to_bytes() for role, md in state.roles.items()})
    info = repos.staged_info(gun)
    if info is not None:
        moved = [
            r
            for r, v in info.base.items()
            if r in state.roles
            and state.roles[r].signed.version != v
            and r not in (SNAPSHOT, TIMESTAMP)
        ]
        if moved:
            warnings.append(
                f"staged edits were built on older versions of {', '.join(sorted(moved))}; "
                f"`offtrust reset {gun}` and redo them"
            )
    return GUNResult(
        gun,
        "fetched",
        roles={r: md.signed.version for r, md in sorted(state.roles.items())},
        warnings=warnings,
    )


# -- publish ----------------------------------------------------------------


def bundle_state(entry: BundleGUN) -> RepoState:
    """The repository a bundle describes, uploads marked as staged."""
    state = RepoState(gun=entry.gun)
    for role, f in entry.files.items():
        md = parse_metadata(f.data, role, f"bundle:{entry.gun}/{role}.json")
        state.roles[role] = md
        state.sources[role] = "bundle"
        if f.upload:
            state.staged.add(role)
    return state


def verify_bundle_gun(ctx: Context, entry: BundleGUN) -> list[str]:
    """Check one GUN of a bundle: its whole TUF chain, and versions past the base.

    Returns:
        Warnings.

    Raises:
        VerificationError: naming the role, the reason and the fix.
    """
    state = bundle_state(entry)
    report = verify_repository(state, ctx.now())
    for role in sorted(state.staged):
        base = entry.base.get(role)
        version = state.roles[role].signed.version
        if base is not None and version <= base:
            raise VerificationError(
                f"{entry.gun}: {role} v{version} does not move past the base v{base}"
            )
    if not report.ok:
        first = report.errors[0]
        raise VerificationError(f"{entry.gun}: {first.role}: {first.reason}", hint=first.fix)
    return [str(p) for p in report.warnings]


def _version_of(data: bytes) -> int:
    try:
        return int(json.loads(data)["signed"]["version"])
    except (ValueError, KeyError, TypeError) as e:
        raise InvalidMetadataError(f"server served unreadable metadata: {e}") from e


def publish_gun(
    ctx: Context, entry: BundleGUN, client: NotaryClient, *, dry_run: bool
) -> GUNResult:
    """Upload one GUN of a bundle unless the server moved past its base.

    Raises:
        ConflictError: the server state moved on (stale bundle) or disagrees.
        VerificationError: the bundle, or what the server serves afterwards, fails.
        NetworkError: the server refused or failed.
    """
    gun = entry.gun
    warnings = verify_bundle_gun(ctx, entry)
    uploads = {role: f.data for role, f in entry.files.items() if f.upload}
    server: dict[str, bytes | None] = {
        role: client.get_metadata(gun, role) for role in sorted({ROOT, *uploads})
    }
    if all(server.get(role) == data for role, data in uploads.items()):
        return GUNResult(
            gun,
            "already-published",
            "the server already serves these files",
            roles={r: f.version for r, f in entry.files.items() if f.upload},
        )
    if entry.new_gun:
        if server[ROOT] is not None:
            raise ConflictError(
                f"{gun} already exists on the server; the bundle initialises it",
                hint=f"`offtrust fetch {gun}`, then `offtrust reset {gun}` and redo",
            )
    elif server[ROOT] is None:
        raise ConflictError(f"{gun}: the server has no trust data, but the bundle builds on it")
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
    state = download_state(client, gun)
    served_wrong = [
        r for r, d in uploads.items() if r in state.roles and state.roles[r].to_bytes() != d
    ]
    missing = [r for r in uploads if r not in state.roles]
    if served_wrong or missing:
        raise VerificationError(
            f"{gun}: published, but the server does not serve the uploaded "
            f"{', '.join(served_wrong + missing)}"
        )
    report = verify_repository(state, ctx.now())
    if not report.ok:
        raise VerificationError(
            f"{gun}: published, but the server's metadata fails: {report.errors[0]}"
        )
    return GUNResult(
        gun,
        "published",
        "the server serves the new metadata and it verifies",
        roles=roles,
        warnings=warnings,
    )


def run_per_gun(items: Iterable[Any], action: Any) -> tuple[list[GUNResult], list[GUNResult]]:
    """Apply *action* to each item; failures become results instead of stopping the run."""
    done, failed = [], []
    for item in items:
        gun = getattr(item, "gun", item)
        try:
            done.append(action(item))
        except OfftrustError as e:
            failed.append(
                GUNResult(gun, "failed", e.message + (f" (hint: {e.hint})" if e.hint else ""))
            )
    return done, failed
