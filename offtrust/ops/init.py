"""Offline initialisation of a new GUN, as ``docker trust signer add`` does it.

Root and targets keys are local; the snapshot is left to the server (Docker's
server-managed snapshot), and the server's timestamp and snapshot keys must be
in root v1, so they come from an earlier ``offtrust fetch`` of the GUN.
"""

from __future__ import annotations

from offtrust.errors import NotFoundError
from offtrust.model.keys import PublicKey
from offtrust.model.metadata import (
    ROOT,
    SNAPSHOT,
    TARGETS,
    TIMESTAMP,
    Delegations,
    Metadata,
    RoleKeys,
    Root,
    Targets,
    default_expiry,
)
from offtrust.model.repository import RepoState
from offtrust.model.timefmt import format_go_time
from offtrust.ops.context import Context
from offtrust.ops.edit import Editor
from offtrust.store.keystore import PassphraseSource
from offtrust.store.repo import read_server_keys


def init_editor(ctx: Context, gun: str, passphrases: PassphraseSource) -> Editor:
    """An editor holding root v1 and an empty targets for a GUN not yet on the server.

    Uses the first local root key (by key ID) or a new one, and a new targets
    key; new keys reach the key store only when the edit commits.

    Raises:
        NotFoundError: the server's keys were never fetched for this GUN.
    """
    from offtrust import crypto

    server = read_server_keys(ctx.trust, gun)
    missing = [r for r in (TIMESTAMP, SNAPSHOT) if r not in server]
    if missing:
        raise NotFoundError(
            f"{gun} has no metadata and the server's {' and '.join(missing)} "
            + ("keys are" if len(missing) > 1 else "key is")
            + " not recorded",
            hint=f"run `offtrust fetch {gun} --server URL` on the networked machine first",
        )
    now = ctx.now()
    store = ctx.keys
    roots = [k for k in store.list() if k.role == ROOT]
    new_keys = []
    if roots:
        root_key = ctx.keyring(passphrases).private_key(roots[0].keyid)
    else:
        root_key = crypto.generate_private_key("ecdsa")
        new_keys.append((root_key, ROOT, ""))
    targets_key = crypto.generate_private_key("ecdsa")
    new_keys.append((targets_key, TARGETS, gun))
    root_cert = crypto.make_root_certificate(root_key, gun, now)
    timestamp_pub = PublicKey.from_dict(server[TIMESTAMP])
    snapshot_pub = PublicKey.from_dict(server[SNAPSHOT])
    targets_pub = targets_key.public_key()
    keys = {k.keyid: k for k in (root_cert, targets_pub, snapshot_pub, timestamp_pub)}
    root = Root(
        version=0,
        expires=format_go_time(now + default_expiry(ROOT)),
        unrecognized={},
        keys=keys,
        roles={
            ROOT: RoleKeys([root_cert.keyid], 1),
            TARGETS: RoleKeys([targets_pub.keyid], 1),
            SNAPSHOT: RoleKeys([snapshot_pub.keyid], 1),
            TIMESTAMP: RoleKeys([timestamp_pub.keyid], 1),
        },
    )
    root_md = Metadata(signed=root, signatures=[])
    targets = Targets(
        version=0,
        expires=format_go_time(now + default_expiry(TARGETS)),
        unrecognized={},
        targets={},
        delegations=Delegations(),
    )
    state = RepoState(gun=gun, roles={ROOT: root_md, TARGETS: Metadata(targets, [])})
    editor = Editor(ctx, gun, passphrases, state=state, new_gun=True)
    editor.remember_key(root_key)
    for key, role, key_gun in new_keys:
        editor.add_new_key(key, role, key_gun)
    editor.changed.add(ROOT)
    editor.note(f"init {gun} (root {root_cert.keyid[:12]}, targets {targets_pub.keyid[:12]})")
    return editor
