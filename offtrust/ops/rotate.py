"""``key rotate``: new keys for root, targets or snapshot, offline, as ``notary key rotate``.

A rotation is an edit like any other (an :class:`~offtrust.ops.edit.Editor`
session over verified state): root v+1 lists the new keys of the role, drops
the keys no role uses any more, and is signed by every local key of the
*trusted* root (the published one) and of the new root, so that clients that
pinned the old root accept it (:meth:`Editor.commit` adds the old root's
signatures when the root keys change). Rotating targets re-signs targets with
the new key; the snapshot is re-signed when its key is local (a rotation to a
new local snapshot key included), otherwise the server signs it.

``--server-managed`` (``notary key rotate GUN snapshot -r``) lists the
server's snapshot key, recorded by ``offtrust fetch``, and leaves the snapshot
to the server.

Keys come from ``--key`` inputs (:func:`resolve_key`): a PEM private key
(stored, encrypted, as notary stores a key of that role), a PEM certificate
(root; its private key may be held elsewhere, the holder signs with ``bundle
sign``), a PEM public key (targets and snapshot only), or the ID of a local
key (a root certificate renewed over the same key). Without ``--key`` a new
ECDSA P-256 key is made (with notary's self-signed certificate for a root).
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from offtrust.errors import (
    InvalidKeyError,
    NotFoundError,
    NothingToDoError,
    UnreadableInputError,
    UsageError,
)
from offtrust.model.keys import PublicKey
from offtrust.model.metadata import ROOT, SNAPSHOT, TARGETS, TIMESTAMP, RoleKeys
from offtrust.model.verify import CERTIFICATE_START_LEEWAY
from offtrust.ops.context import Context
from offtrust.ops.edit import CommitResult, Editor, expiry_after
from offtrust.ops.keys import MAX_KEY_FILE_SIZE
from offtrust.store.keystore import PassphraseSource
from offtrust.store.repo import read_server_keys

if TYPE_CHECKING:
    from offtrust.crypto import PrivateKey

#: Roles ``key rotate`` rotates (the timestamp key is always the server's).
ROTATABLE = (ROOT, TARGETS, SNAPSHOT)
_KEYID = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class NewKey:
    """One key of the rotated role.

    Attributes:
        public: the key as root.json lists it (a certificate for a root key).
        private: the private key when it is here (None: held elsewhere).
        store: the private key is new to the key store (saved on commit).
        source: what the user gave (for messages).
    """

    public: PublicKey
    private: PrivateKey | None
    store: bool
    source: str


@dataclass
class RotateResult:
    commit: CommitResult
    role: str
    keys: list[dict[str, Any]]
    threshold: int


def _check_role(role: str, *, server_managed: bool) -> None:
    if role == TIMESTAMP:
        raise UsageError(
            "the timestamp key is the server's: offtrust cannot rotate it offline",
            hint="rotate it online with `notary key rotate GUN timestamp -r`",
        )
    if role not in ROTATABLE:
        raise UsageError(f"cannot rotate role {role!r}: give root, targets or snapshot")
    if server_managed and role != SNAPSHOT:
        raise UsageError("--server-managed is for the snapshot key only (the server holds it)")


def _check_root_certificate(gun: str, key: PublicKey, source: str, now: datetime) -> None:
    """Refuse a root certificate notary would refuse (formats doc 6.1).

    Raises:
        InvalidKeyError: not for the GUN, not exactly one leaf, a CA, expired,
            not yet valid or SHA-1 signed.
    """
    from offtrust import crypto

    info = crypto.certificate_info(key)
    name = info.common_name
    problem = None
    if name != gun and not (name and name.endswith("*") and gun.startswith(name[:-1])):
        problem = f"its certificate is for {name!r}, not {gun!r}"
    elif info.leaf_count != 1:
        problem = f"it holds {info.leaf_count} leaf certificates; notary needs exactly one"
    elif info.is_ca:
        problem = "it is a CA certificate; a root key needs a leaf certificate"
    elif info.uses_sha1:
        problem = "its certificate is signed with SHA-1"
    elif info.not_after <= now:
        problem = f"its certificate expired at {info.not_after:%Y-%m-%d}"
    elif info.not_before > now + CERTIFICATE_START_LEEWAY:
        problem = f"its certificate is not valid before {info.not_before:%Y-%m-%d %H:%M:%S}"
    if problem:
        raise InvalidKeyError(
            f"{source}: cannot be a root key of {gun}: {problem}",
            hint="give the private key instead (offtrust makes the certificate), or a "
            f"certificate made for {gun} (`offtrust key export KEYID --public --gun {gun} "
            "--output FILE` on the holder's side)",
        )


def _from_private(
    key: PrivateKey, role: str, gun: str, now: datetime, *, store: bool, source: str
) -> NewKey:
    """The listed key of a private key: notary's self-signed certificate for a root."""
    from offtrust import crypto

    if role == ROOT:
        if key.algorithm == "ed25519":
            raise InvalidKeyError(
                f"{source}: an ed25519 key cannot be a root key (notary makes certificates "
                "for ECDSA and RSA keys only)"
            )
        public = crypto.make_root_certificate(key, gun, now)
    else:
        public = key.public_key()
    return NewKey(public, key, store, source)


def _local_key(
    ctx: Context, keyid: str, role: str, gun: str, passphrases: PassphraseSource
) -> NewKey:
    """A key of the key store, by its ID (renewing a root certificate over the same key).

    Raises:
        UsageError: the key is stored for another role or GUN.
        KeyAccessError: it cannot be decrypted.
    """
    info = ctx.keys.find(keyid)
    if info.role != role or (role != ROOT and info.gun and info.gun != gun):
        held = f"a {info.role} key" + (f" of {info.gun}" if info.gun else "")
        raise UsageError(
            f"key {keyid[:12]} is {held}, not a {role} key"
            + ("" if role == ROOT else f" of {gun}"),
            hint=f"give a {role} key, or no --key to make a new one",
        )
    key = ctx.keyring(passphrases).private_key(keyid)
    return _from_private(key, role, gun, ctx.now(), store=False, source=f"key {keyid[:12]}")


def _read_key_file(path: Path) -> tuple[bytes, int]:
    from offtrust.store.output import read_user_file

    data = read_user_file(path, limit=MAX_KEY_FILE_SIZE, what="key file")
    try:
        mode = path.stat().st_mode
    except OSError as e:
        raise UnreadableInputError(f"{path}: cannot read: {e.strerror or e}") from e
    return data, stat.S_IMODE(mode)


def _key_file(
    ctx: Context, path: Path, role: str, gun: str, passphrases: PassphraseSource
) -> NewKey:
    """A key from a PEM file: private key, certificate, or (not for root) public key.

    Raises:
        UnreadableInputError: the file cannot be read, or a private key file
            is readable by others.
        InvalidKeyError: no usable key, or one that cannot serve *role*.
        WrongPassphraseError: an encrypted private key could not be decrypted.
    """
    from offtrust import crypto
    from offtrust.store.keyring import decrypt_block

    data, mode = _read_key_file(path)
    try:
        blocks = crypto.parse_pem(data)
    except InvalidKeyError as e:
        raise InvalidKeyError(f"{path}: {e.message}") from e
    private = [b for b in blocks if "PRIVATE KEY" in b.type]
    if private:
        if mode & 0o077:
            raise UnreadableInputError(
                f"private key file {path} must not be readable or writable by others",
                hint=f"chmod 600 {path}",
            )
        key = decrypt_block(private[0], passphrases, role=role, keyid="(file)", label=str(path))
        store = not ctx.keys.has(key.keyid)
        return _from_private(key, role, gun, ctx.now(), store=store, source=str(path))
    if not blocks:
        raise InvalidKeyError(f"{path}: no PEM key or certificate in the file")
    try:
        public = crypto.load_public_key_pem(data)
    except InvalidKeyError as e:
        raise InvalidKeyError(f"{path}: {e.message}") from e
    if role == ROOT and not public.is_x509:
        raise InvalidKeyError(
            f"{path}: a root key must be an X.509 certificate, as notary requires, not a "
            "plain public key",
            hint="give the private key (offtrust makes the certificate) or the holder's "
            f"certificate (`offtrust key export KEYID --public --gun {gun} --output FILE`)",
        )
    if role == ROOT:
        _check_root_certificate(gun, public, str(path), ctx.now())
    # A local private key of it (if any) is found through the keyring when signing.
    return NewKey(public, None, False, str(path))


def resolve_key(
    ctx: Context, spec: str, role: str, gun: str, passphrases: PassphraseSource
) -> NewKey:
    """One ``--key`` argument: a local key ID (64 hex digits) or a PEM file.

    Raises:
        NotFoundError: neither a local key nor a file.
        UsageError, InvalidKeyError, UnreadableInputError, KeyAccessError: see
            :func:`_local_key` and :func:`_key_file`.
    """
    path = Path(spec)
    if _KEYID.fullmatch(spec) and not path.exists():
        if not ctx.keys.has(spec):
            raise NotFoundError(
                f"no local key {spec[:12]} and no file {spec}",
                hint="`offtrust key list` shows the local keys",
            )
        return _local_key(ctx, spec, role, gun, passphrases)
    return _key_file(ctx, path, role, gun, passphrases)


def _new_keys(
    ctx: Context,
    gun: str,
    role: str,
    passphrases: PassphraseSource,
    key_specs: list[str],
    public_keys: list[PublicKey] | None,
    server_managed: bool,
) -> list[NewKey]:
    from offtrust import crypto

    if public_keys is not None:  # replayed by rebase: the keys the edit chose
        return [NewKey(k, None, False, f"key {k.keyid[:12]}") for k in public_keys]
    if server_managed:
        if key_specs:
            raise UsageError("--server-managed takes no --key: the key is the server's")
        recorded = read_server_keys(ctx.trust, gun).get(SNAPSHOT)
        if recorded is None:
            raise NotFoundError(
                f"{gun}: the server's snapshot key is not recorded",
                hint=f"run `offtrust fetch {gun} --server URL` on the networked machine first",
            )
        return [NewKey(PublicKey.from_dict(recorded), None, False, "the server")]
    if key_specs:
        return [resolve_key(ctx, spec, role, gun, passphrases) for spec in key_specs]
    key = crypto.generate_private_key("ecdsa")
    return [_from_private(key, role, gun, ctx.now(), store=True, source="a new key")]


def rotate_key(
    ctx: Context,
    gun: str,
    role: str,
    passphrases: PassphraseSource,
    *,
    key_specs: list[str] | None = None,
    threshold: int | None = None,
    server_managed: bool = False,
    expires_in: timedelta | None = None,
    public_keys: list[PublicKey] | None = None,
) -> RotateResult:
    """Rotate the keys of *role* of *gun*: stage root v+1 (and what must be re-signed).

    Args:
        ctx: the trust directory and clock.
        gun: the GUN.
        role: ``root``, ``targets`` or ``snapshot``.
        passphrases: for the keys that sign and for new keys.
        key_specs: ``--key`` arguments (see :func:`resolve_key`); none: a new key.
        threshold: the role's new threshold (root only; default 1).
        server_managed: the snapshot goes to the server's key recorded by ``fetch``.
        expires_in: the lifetime of what is signed (default: notary's).
        public_keys: the new keys as recorded by an earlier run (``rebase``).

    Returns:
        The commit, the new keys as root.json lists them, and the threshold.

    Raises:
        UsageError: a bad role, threshold or key combination.
        NothingToDoError: the role already has exactly these keys and threshold.
        NotFoundError: a ``--key`` is neither a file nor a local key; no
            recorded server key for ``--server-managed``.
        InvalidKeyError: a key that cannot serve the role.
        VerificationError: the GUN's current state fails the trust rules.
        MissingKeyError: no local key of the trusted or the new root can sign.
    """
    _check_role(role, server_managed=server_managed)
    specs = list(key_specs or [])
    if threshold is not None and role != ROOT and threshold != 1:
        raise UsageError(
            f"--threshold is for root keys: notary signs {role} with one key",
        )
    if expires_in is not None:
        expiry_after(ctx.now(), expires_in)
    editor = Editor(ctx, gun, passphrases)
    editor.expires_in = expires_in
    new = _new_keys(ctx, gun, role, passphrases, specs, public_keys, server_managed)
    seen: dict[str, str] = {}
    for item in new:
        cid = _canonical(item.public)
        if cid in seen:
            raise UsageError(f"{item.source} and {seen[cid]} are the same key")
        seen[cid] = item.source
    if role != ROOT and len(new) != 1:
        raise UsageError(f"give one --key for {role}: notary signs {role} with one key")
    wanted = 1 if threshold is None else threshold
    if not 1 <= wanted <= len(new):
        raise UsageError(
            f"--threshold {wanted}: give between 1 and the number of keys ({len(new)})"
        )

    editor.mark(ROOT)
    root = editor.state.roles[ROOT].signed
    current = root.roles.get(role)
    new_ids = [k.public.keyid for k in new]
    if current is not None and current.keyids == new_ids and current.threshold == wanted:
        raise NothingToDoError(f"{gun}: {role} already has exactly these keys")
    for item in new:
        root.keys[item.public.keyid] = item.public
        if item.private is not None:
            if item.store:
                editor.add_new_key(item.private, role, "" if role == ROOT else gun)
            else:
                editor.remember_key(item.private)
    root.roles[role] = RoleKeys(new_ids, wanted)
    used = {k for entry in root.roles.values() for k in entry.keyids}
    for keyid in [k for k in root.keys if k not in used]:
        del root.keys[keyid]
    if role == TARGETS:
        editor.mark(TARGETS)

    shown = ", ".join(k[:12] for k in new_ids)
    how = " (server-managed)" if server_managed else ""
    editor.note(f"key rotate {role}{how}: {shown}, threshold {wanted}")
    seconds = None if expires_in is None else int(expires_in.total_seconds())
    editor.record(
        {
            "op": "key_rotate",
            "role": role,
            "keys": [k.public.to_dict() for k in new],
            "threshold": wanted,
            "server_managed": server_managed,
            "expires_seconds": seconds,
        }
    )
    commit = editor.commit()
    return RotateResult(
        commit=commit,
        role=role,
        keys=[
            {
                "keyid": k.public.keyid,
                "canonical_id": _canonical(k.public),
                "keytype": k.public.keytype,
                "local": k.private is not None or ctx.keys.has(_canonical(k.public)),
                "new": k.store,
                "source": k.source,
            }
            for k in new
        ],
        threshold=wanted,
    )


def _canonical(key: PublicKey) -> str:
    from offtrust.crypto import canonical_keyid

    return canonical_keyid(key)
