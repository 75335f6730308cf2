"""Key-store use cases: list, generate, load, import, export, passwd and remove."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from offtrust.errors import (
    InvalidKeyError,
    StoreError,
    UnreadableInputError,
    UsageError,
    WrongPassphraseError,
)
from offtrust.ops.context import Context
from offtrust.store.keystore import KeyInfo, PassphraseSource

if TYPE_CHECKING:
    from offtrust.crypto import PemBlock


def check_key_name(name: str) -> str:
    """:func:`offtrust.model.names.check_key_name`, imported when first used.

    The name rules import the metadata model, which ``key list`` does not need.
    """
    from offtrust.model.names import check_key_name as check

    return check(name)


_PEM_ALGORITHMS = {
    "EC PRIVATE KEY": "ecdsa",
    "RSA PRIVATE KEY": "rsa",
    "ED25519 PRIVATE KEY": "ed25519",
}


def _public_key_types(ctx: Context, wanted: set[str]) -> dict[str, str]:
    """Canonical key ID → key type, for the key IDs in *wanted*, from the metadata.

    An encrypted PKCS#8 file does not say its algorithm; the metadata that
    lists its public key does. Files are read without verification: this is
    only a label. Reading stops once every wanted key ID is found, a document
    with no ``"keys"`` member is not parsed, and a certificate is parsed (for
    the canonical ID of a root key) only while a wanted key ID is missing.
    """
    found: dict[str, str] = {}
    if not wanted or not (ctx.trust.published_guns() or ctx.trust.staged_guns()):
        # Nothing to look up, or no GUN whose metadata could say (the
        # documents come from these GUNs): not even the metadata store is loaded.
        return found
    missing = set(wanted)
    # Read by the store: links, FIFOs and devices are skipped, sizes bounded.
    for data in ctx.repos.metadata_documents():
        if b'"keys"' not in data and b"\\u" not in data:
            # No "keys" member, even spelled with escapes: snapshot, timestamp,
            # targets without delegations (a 100,000-tag file is not parsed).
            continue
        try:
            signed = json.loads(data)["signed"]
            keys = dict(signed.get("keys") or {})
            keys.update((signed.get("delegations") or {}).get("keys") or {})
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            continue
        for keyid, key in keys.items():
            keytype = str(key.get("keytype", "")) if isinstance(key, dict) else ""
            found[keyid] = keytype.replace("-x509", "")
            missing.discard(keyid)
            if keytype.endswith("-x509") and missing:
                canonical = _canonical_keyid(key)
                if canonical is not None:
                    found[canonical] = found[keyid]
                    missing.discard(canonical)
        if not missing:
            break
    return found


def _canonical_keyid(key: dict[str, Any]) -> str | None:
    """The canonical key ID of a certificate key (the name of its private key file)."""
    from offtrust.crypto import canonical_keyid
    from offtrust.model.keys import PublicKey

    try:
        return canonical_keyid(PublicKey.from_dict(key))
    except Exception:  # noqa: BLE001 - best-effort label
        return None


#: The fields of a :func:`key_rows` row, in order.
ROW_FIELDS = ("role", "gun", "keyid", "location", "encrypted", "pem_type", "legacy_layout")


def key_rows(
    ctx: Context, gun: str | None = None, *, with_algorithm: bool = False
) -> list[tuple[Any, ...]]:
    """:func:`list_keys` as tuples: :data:`ROW_FIELDS`, then the algorithm when asked for.

    20,000 keys make no dict or other object per key (``key list --json``).
    """
    rows: list[Any] = ctx.keys.rows()
    if gun is not None:
        rows = [r for r in rows if not r[1] or r[1] == gun]
    if not with_algorithm:
        return rows
    known = _PEM_ALGORITHMS.get
    types = _public_key_types(ctx, {r[2] for r in rows if r[5] not in _PEM_ALGORITHMS})
    looked_up = types.get
    return [(*r, known(r[5]) or looked_up(r[2])) for r in rows]


def list_keys(
    ctx: Context, gun: str | None = None, *, with_algorithm: bool = False
) -> list[dict[str, Any]]:
    """The local private keys, like ``notary key list``.

    Args:
        ctx: the trust directory.
        gun: only keys whose ``gun`` header is this GUN (root and delegation
            keys, which carry no GUN, are always listed, as notary does).
        with_algorithm: add each key's algorithm: from the PEM type when it
            says it, else from the metadata that lists the key (null when none
            does); the metadata is read only for keys that need it.

    Returns:
        One dict per key (see :meth:`~offtrust.store.keystore.KeyInfo.to_dict`),
        sorted by role, GUN and key ID.
    """
    out = []
    for row in key_rows(ctx, gun, with_algorithm=with_algorithm):
        role, gun_, keyid, location, encrypted, pem_type, legacy = row[:7]
        item = {
            "keyid": keyid,
            "role": role,
            "gun": gun_,
            "location": location,
            "encrypted": encrypted,
            "pem_type": pem_type,
            "legacy_layout": legacy,
        }
        if with_algorithm:
            item["algorithm"] = row[7]
        out.append(item)
    return out


def generate_key(
    ctx: Context,
    name: str,
    directory: Path,
    passphrases: PassphraseSource,
    *,
    algorithm: str = "ecdsa",
) -> dict[str, Any]:
    """``docker trust key generate``: a new key under role NAME and ``NAME.pub`` in *directory*.

    Raises:
        UsageError: bad name or algorithm, ``NAME.pub`` exists or is not a
            regular file, or *directory* does not exist.
        StoreError: the files cannot be written (then none is).
    """
    from offtrust import crypto
    from offtrust.store.output import check_output, write_output

    check_key_name(name)
    if algorithm not in ("ecdsa", "rsa", "ed25519"):
        raise UsageError(f"unknown algorithm {algorithm!r} (ecdsa, rsa or ed25519)")
    pub_path = directory / f"{name}.pub"
    # Before the key is made: the directory must exist and NAME.pub must not.
    check_output(pub_path, replace=False)
    key = crypto.generate_private_key(algorithm)
    public = key.public_key()
    passphrase = passphrases.new(name, key.keyid)
    pub_pem = crypto.encode_public_key_pem(public, {"role": name})
    info = ctx.keys.save(key, role=name, passphrase=passphrase)
    try:
        # 0600, as `docker trust key generate` writes it.
        write_output(pub_path, pub_pem, mode=0o600, replace=False)
    except BaseException:
        ctx.keys.discard([info])
        raise
    return {
        "keyid": key.keyid,
        "role": name,
        "algorithm": algorithm,
        "public_key_file": str(pub_path),
        "location": info.location,
    }


#: Largest key or certificate file read (an RSA 8192 PEM is under 7 KiB).
MAX_KEY_FILE_SIZE = 1024 * 1024

_BASE_ROLES = ("root", "targets", "snapshot", "timestamp")


def _import_hint(path: Path, role: str) -> str:
    """The command that loads a key of *role* from *path* on purpose."""
    if role in _BASE_ROLES or not _is_key_name(role):
        return f"`offtrust key import {path} --role {role}` imports a {role} key on purpose"
    return f"`offtrust key load {path} --name {role}` loads it under the name its header gives"


def _is_key_name(name: str) -> bool:
    try:
        check_key_name(name)
    except UsageError:
        return False
    return True


def key_load_role(path: Path, name: str | None, header: str | None) -> str:
    """The role ``key load`` stores a key under: *name*, unless the ``role:`` header disagrees.

    Docker lets the header win, so ``--name dave`` of a file saying
    ``role: root`` stores a root key, which the next offline initialisation of
    a GUN would then use as its root. offtrust refuses that: a root, targets,
    snapshot or timestamp key is imported on purpose with ``offtrust key
    import FILE --role ROLE``, and a name and a header that disagree are an
    error. Without ``--name`` the header's name is used, if it is a key name.

    Raises:
        UsageError: *name* is invalid or a base role name.
        InvalidKeyError: the header names a base role, or another name than *name*.
    """
    if name is not None:
        check_key_name(name)
        if name in _BASE_ROLES:
            raise UsageError(
                f"`key load` loads signer keys, not {name} keys",
                hint=_import_hint(path, name),
            )
    if header is not None and header != (name or header):
        raise InvalidKeyError(
            f"{path}: the key's PEM header says role {header!r}, but the name given is {name!r}",
            hint=_import_hint(path, header),
        )
    if header is not None and (header in _BASE_ROLES or not _is_key_name(header)):
        raise InvalidKeyError(
            f"{path}: its PEM header says role {header!r}: `key load` loads signer keys only",
            hint=_import_hint(path, header),
        )
    return name or header or "signer"


def _read_key_input(path: Path) -> list[PemBlock]:
    """The PEM private key blocks of a key file the user names (at least one).

    Like Docker, a file other users can read or write is refused.

    Raises:
        UnreadableInputError: the file cannot be read, is not a regular file,
            or is readable by others.
        InvalidKeyError: no PEM private key in it.
    """
    from offtrust import crypto
    from offtrust.store.output import read_user_file

    try:
        mode = path.stat().st_mode
    except OSError as e:
        raise UnreadableInputError(f"{path}: cannot read: {e.strerror or e}") from e
    data = read_user_file(path, limit=MAX_KEY_FILE_SIZE, what="key file")
    if mode & 0o077:
        raise UnreadableInputError(
            f"private key file {path} must not be readable or writable by others",
            hint=f"chmod 600 {path}",
        )
    try:
        blocks = [b for b in crypto.parse_pem(data) if "PRIVATE KEY" in b.type]
    except InvalidKeyError as e:
        raise InvalidKeyError(f"{path}: {e.message}") from e
    if not blocks:
        raise InvalidKeyError(f"{path}: no PEM private key in the file")
    return blocks


def load_key(
    ctx: Context, path: Path, name: str | None, passphrases: PassphraseSource
) -> dict[str, Any]:
    """``docker trust key load``: import a PEM private key under role NAME.

    Accepts PKCS#8 (encrypted or not), SEC1 EC and PKCS#1 RSA; refuses RSA under
    2048 bits and, like Docker, a file other users can read or write. Unlike
    Docker, a ``role:`` header in the input that disagrees with NAME, or that
    names a root, targets, snapshot or timestamp key, is refused (see
    :func:`key_load_role`); without NAME, the header's name (else ``signer``).

    Raises:
        UsageError: an invalid or base-role NAME.
        UnreadableInputError: the file cannot be read, is not a regular file,
            or is readable by others.
        InvalidKeyError: not a usable private key, or a header that disagrees.
        WrongPassphraseError: an encrypted input could not be decrypted.
    """
    from offtrust import crypto

    if name is not None:
        check_key_name(name)
    block = _read_key_input(path)[0]
    role = key_load_role(path, name, block.headers.get("role") or None)
    if crypto.is_encrypted_block(block):
        key = None
        attempt = 0
        while key is None:
            try:
                key = crypto.decrypt_private_key(block, passphrases(role, "(file)", attempt))
            except WrongPassphraseError:
                attempt += 1
                if attempt >= 3:
                    raise WrongPassphraseError(f"wrong passphrase for {path}") from None
    else:
        key = crypto.decrypt_private_key(block, None)
    passphrase = passphrases.new(role, key.keyid)
    info = ctx.keys.save(key, role=role, passphrase=passphrase)
    return {"keyid": key.keyid, "role": role, "algorithm": key.algorithm, "location": info.location}


# -- key import ---------------------------------------------------------------

#: Roles whose keys notary files under a GUN (``gun:`` header).
_ROLES_WITH_GUN = ("targets", "snapshot", "timestamp")
#: PEM headers of a legacy (``Proc-Type``/``DEK-Info``) encryption: never copied
#: onto a key offtrust encrypts itself.
_ENCRYPTION_HEADERS = ("Proc-Type", "DEK-Info")


def check_import_role(role: str) -> str:
    """A role ``key import`` takes: a base role, a delegation or a Docker key name.

    ``notary key import --role`` takes any string; offtrust takes the names a
    key is used under: ``root``, ``targets``, ``snapshot``, ``timestamp``, a
    delegation (``targets/releases``) or a Docker signer key name (``alice``,
    notary's default ``delegation``).

    Raises:
        UsageError: anything else.
    """
    from offtrust.model.names import is_valid_role

    if is_valid_role(role) or _is_key_name(role):
        return role
    raise UsageError(
        f"invalid role {role!r}: root, targets, snapshot, timestamp, a delegation "
        "(targets/NAME) or a key name ([a-z0-9][a-z0-9_-]*)"
    )


def import_key(
    ctx: Context,
    path: Path,
    role: str,
    gun: str | None,
    passphrases: PassphraseSource,
) -> dict[str, Any]:
    """``notary key import FILE --role ROLE [--gun GUN]``, refusing what contradicts ROLE.

    The key is checked before it is stored: an encrypted input is decrypted
    with the role's passphrase (variables, else a prompt). It is stored in the
    flat layout exactly as notary writes keys: ``private/<keyid>.key``, PBES2
    PKCS#8, ``role:`` and (targets, snapshot, timestamp keys only) ``gun:``.
    An encrypted input keeps the passphrase that opened it (notary stores such
    a file as it is); an unencrypted one gets the passphrase of a new key of
    the role.

    Raises:
        UsageError: an invalid role or GUN, a targets/snapshot/timestamp key
            without a GUN (``--gun`` or a ``gun:`` header), ``--gun`` for a key
            that carries none, or a key with this ID is already stored.
        UnreadableInputError: the file cannot be read, is not a regular file,
            or is readable by others.
        InvalidKeyError: not one usable private key (RSA under 2048 bits, an
            ed25519 root key), or a ``role:``, ``gun:`` or ``path:`` header that
            contradicts ROLE, GUN or the key.
        WrongPassphraseError, PassphraseRequiredError: an encrypted input
            cannot be decrypted.
    """
    from offtrust.model.names import check_gun
    from offtrust.store.keyring import decrypt_block_with_passphrase

    check_import_role(role)
    if gun is not None:
        check_gun(gun)
        if role not in _ROLES_WITH_GUN:
            raise UsageError(
                f"a {role} key carries no GUN (notary drops it): leave out --gun",
            )
    blocks = _read_key_input(path)
    if len(blocks) > 1:
        raise InvalidKeyError(
            f"{path}: holds {len(blocks)} private keys; `key import` imports one",
            hint="split the file, one PEM block per file, and import each with its role",
        )
    block = blocks[0]
    header_role = block.headers.get("role") or None
    if header_role is not None and header_role != role:
        raise InvalidKeyError(
            f"{path}: the key's PEM header says role {header_role!r}, not {role!r}",
            hint=f"import it as what it is: --role {header_role}"
            if is_valid_role_or_name(header_role)
            else None,
        )
    if role in _ROLES_WITH_GUN:
        header_gun = block.headers.get("gun") or None
        if header_gun is not None and gun is not None and header_gun != gun:
            raise InvalidKeyError(
                f"{path}: the key's PEM header says GUN {header_gun!r}, not {gun!r}"
            )
        gun = gun or header_gun
        if not gun:
            raise UsageError(
                f"a {role} key belongs to one GUN: give --gun GUN",
                hint=f"offtrust key import {path} --role {role} --gun example.com/app",
            )
        check_gun(gun)
    key, passphrase = decrypt_block_with_passphrase(
        block, passphrases, role=role, keyid="(file)", label=str(path)
    )
    where = block.headers.get("path")
    if where is not None and where.rsplit("/", 1)[-1] != key.keyid:
        # notary would store it under that name, where it is not the key the name says.
        raise InvalidKeyError(
            f"{path}: its path header names key {where.rsplit('/', 1)[-1][:12]}, "
            f"but it holds key {key.keyid[:12]}"
        )
    if role == "root" and key.algorithm == "ed25519":
        raise InvalidKeyError(
            f"{path}: an ed25519 key cannot be a root key (notary makes no certificate for it)"
        )
    if ctx.keys.has(key.keyid):
        raise UsageError(
            f"key {key.keyid[:12]} is already in the key store",
            hint="`offtrust key list` shows it; remove it first to import it under another role",
        )
    if not passphrase:
        passphrase = passphrases.new(role, key.keyid)
    info = ctx.keys.save(key, role=role, gun=gun or "", passphrase=passphrase)
    return {
        "keyid": key.keyid,
        "role": role,
        "gun": info.gun or None,
        "algorithm": key.algorithm,
        "location": info.location,
    }


def is_valid_role_or_name(name: str) -> bool:
    """*name* is a role or key name :func:`check_import_role` takes."""
    try:
        check_import_role(name)
    except UsageError:
        return False
    return True


# -- key export -----------------------------------------------------------------


def _find_all(ctx: Context, keyids: list[str]) -> list[KeyInfo]:
    """The stored keys of *keyids* (full IDs or unique prefixes), each once, in order.

    Raises:
        UsageError: no key ID.
        NotFoundError: one of them is not in the store (nothing was done).
    """
    if not keyids:
        raise UsageError("name at least one KEYID", hint="`offtrust key list` shows the key IDs")
    found: dict[str, KeyInfo] = {}
    for keyid in keyids:
        info = ctx.keys.find(keyid)
        found.setdefault(info.keyid, info)
    return list(found.values())


def export_keys(
    ctx: Context, keyids: list[str], passphrases: PassphraseSource
) -> tuple[bytes, list[dict[str, Any]]]:
    """``notary key export --key KEYID...``: one PEM block per key, always encrypted.

    Every key is decrypted first, which proves its file holds the key its ID
    says. A block encrypted with a real passphrase is copied as it is; an
    unencrypted one (or one the empty passphrase opens) is encrypted as
    notary encrypts keys, with the passphrase of a new key of its role. The
    headers are kept (a legacy-layout key gets the ``role:`` and ``gun:`` headers
    notary's migration would give it) and ``path: <keyid>`` is added, which
    ``notary key import`` needs to accept an encrypted block.

    Returns:
        The PEM text and, per key, its ID, role, GUN and whether it was
        encrypted for the export.

    Raises:
        NotFoundError: a key ID is not in the store (nothing is exported).
        KeyMismatchError, InvalidKeyError: a key file does not hold its key.
        WrongPassphraseError, PassphraseRequiredError: a key cannot be decrypted.
    """
    from offtrust import crypto

    infos = _find_all(ctx, keyids)
    keyring = ctx.keyring(passphrases)
    out: list[bytes] = []
    rows: list[dict[str, Any]] = []
    for info in infos:
        opened = keyring.open(info.keyid)
        headers = dict(opened.block.headers)
        if opened.info.legacy:
            headers["role"] = opened.info.role
            if opened.info.gun:
                headers["gun"] = opened.info.gun
        headers["path"] = opened.info.keyid
        if opened.passphrase:
            block = crypto.PemBlock(opened.block.type, headers, opened.block.der)
            out.append(crypto.encode_pem(block))
        else:
            for name in _ENCRYPTION_HEADERS:
                headers.pop(name, None)
            passphrase = passphrases.new(opened.info.role or "key", opened.info.keyid)
            out.append(crypto.encode_private_key(opened.key, passphrase, headers))
        rows.append(
            {
                "keyid": opened.info.keyid,
                "role": opened.info.role,
                "gun": opened.info.gun or None,
                "encrypted_now": not opened.passphrase,
            }
        )
    return b"".join(out), rows


def export_public(
    ctx: Context, keyid: str, passphrases: PassphraseSource, *, gun: str | None = None
) -> tuple[bytes, dict[str, Any]]:
    """The public half of a stored key: a PEM public key, or a root certificate for GUN.

    With *gun*, a self-signed certificate exactly as ``notary init`` wraps a
    root key (``CN=<gun>``, valid from now for 10 x 365 days): what a second
    root key holder hands to whoever rotates the root of GUN. A root key needs
    *gun*. The private key is decrypted first (a certificate is signed with
    it, and it proves the file holds the key its ID says).

    Returns:
        The PEM text and what it is (key ID, role, kind, the certificate's key ID).

    Raises:
        UsageError: a root key without *gun*, or an invalid GUN.
        NotFoundError: no such key.
        InvalidKeyError: an ed25519 key with *gun* (notary makes no certificate for it).
        WrongPassphraseError, PassphraseRequiredError, KeyMismatchError: as for signing.
    """
    from offtrust import crypto
    from offtrust.model.names import check_gun

    info = ctx.keys.find(keyid)
    if gun is not None:
        check_gun(gun)
    elif info.role == "root":
        raise UsageError(
            "the public half of a root key is a certificate for one GUN: give --gun GUN",
            hint=f"offtrust key export {info.keyid[:12]} --public --gun GUN --output root.crt",
        )
    opened = ctx.keyring(passphrases).open(info.keyid)
    if gun is None:
        public = opened.key.public_key()
        headers = {"role": opened.info.role} if opened.info.role else {}
        return crypto.encode_public_key_pem(public, headers), {
            "keyid": opened.info.keyid,
            "role": opened.info.role,
            "kind": "public key",
            "public_keyid": public.keyid,
        }
    cert = crypto.make_root_certificate(opened.key, gun, ctx.now())
    return crypto.encode_public_key_pem(cert), {
        "keyid": opened.info.keyid,
        "role": opened.info.role,
        "kind": "certificate",
        "gun": gun,
        "public_keyid": cert.keyid,
    }


# -- key passwd -------------------------------------------------------------------


class PasswdSource(PassphraseSource, Protocol):
    """A passphrase source that also gives a key's replacement passphrase."""

    def replacement(self, role: str, keyid: str) -> str:
        """The new passphrase for the existing key *keyid* (never the role's variables)."""


def change_passphrase(ctx: Context, keyid: str, passphrases: PasswdSource) -> dict[str, Any]:
    """``notary key passwd KEYID``: re-encrypt a stored key with a new passphrase.

    The old passphrase is checked first (the key is decrypted, and its file
    must hold the key its ID says); the new one comes from
    :meth:`PasswdSource.replacement`. The file is rewritten in one rename as
    notary writes keys (PBES2 PKCS#8), its headers kept, its owner's mode
    kept. A key in a legacy layout is never changed.

    Raises:
        NotFoundError: no such key.
        StoreError: the key is in a legacy layout, or cannot be written.
        UsageError: the new passphrase is the old one, or is too short.
        WrongPassphraseError, PassphraseRequiredError: the old passphrase is
            wrong or missing, or no new one can be had.
        KeyMismatchError, InvalidKeyError: the file does not hold its key.
    """
    from offtrust import crypto

    info = ctx.keys.find(keyid)
    if info.legacy:
        raise StoreError(
            f"{info.location}: offtrust does not change the legacy key layout",
            hint="run any notary command on this trust directory (e.g. `notary -d DIR key "
            "list`): it moves the keys to private/<keyid>.key; then retry",
        )
    opened = ctx.keyring(passphrases).open(info.keyid)
    role = opened.info.role or "key"
    new = passphrases.replacement(role, opened.info.keyid)
    if opened.passphrase and new == opened.passphrase:
        raise UsageError(f"the new passphrase of key {opened.info.keyid[:12]} is the old one")
    headers = {k: v for k, v in opened.block.headers.items() if k not in _ENCRYPTION_HEADERS}
    ctx.keys.rewrite(opened.info, crypto.encode_private_key(opened.key, new, headers))
    return {
        "keyid": opened.info.keyid,
        "role": opened.info.role,
        "location": opened.info.location,
        "was_encrypted": bool(opened.passphrase),
    }


# -- key remove -------------------------------------------------------------------


def plan_remove(ctx: Context, keyids: list[str]) -> list[KeyInfo]:
    """The key files ``key remove`` would delete: every ID checked before any is removed.

    Raises:
        UsageError: no key ID.
        NotFoundError: a key ID is not in the store.
        StoreError: a key is in a legacy layout (offtrust never changes those).
    """
    infos = _find_all(ctx, keyids)
    for info in infos:
        if info.legacy:
            raise StoreError(
                f"{info.location}: offtrust does not change the legacy key layout",
                hint="run any notary command on this trust directory (e.g. `notary -d DIR "
                "key list`): it moves the keys to private/<keyid>.key; then retry",
            )
    return infos


def _signing_roles(ctx: Context, gun: str) -> list[dict[str, set[str]]]:
    """Per metadata state of *gun* (published, then staged over it): role → canonical key IDs.

    Best effort: a state that cannot be read is left out. Nothing here is
    trusted; it only says which local keys a role lists.
    """
    from offtrust.crypto import canonical_keyid
    from offtrust.errors import OfftrustError
    from offtrust.model.keys import PublicKey

    def ids(keys: dict[str, PublicKey]) -> set[str]:
        out = set()
        for key in keys.values():
            try:
                out.add(canonical_keyid(key))
            except OfftrustError:
                continue
        return out

    states = []
    for staged in (False, True):
        try:
            states.append(ctx.repos.load(gun, staged=staged))
        except OfftrustError:
            continue
    found = []
    for state in states:
        roles: dict[str, set[str]] = {}
        root = state.get("root")
        if root is not None:
            for role in root.signed.roles:
                roles[role] = ids(root.signed.role_keys(role))
        for parent, entry in state.walk_delegations():
            parent_md = state.get(parent)
            if parent_md is not None:
                roles.setdefault(entry.name, set()).update(
                    ids(parent_md.signed.delegations.role_keys(entry))
                )
        found.append(roles)
    return found


def last_key_warnings(ctx: Context, infos: list[KeyInfo]) -> list[str]:
    """One line per role of a GUN that no local key could sign once *infos* are removed.

    Scans the published and the staged metadata of every GUN in the trust
    directory: root, targets, snapshot, timestamp and every delegation.
    """
    from offtrust.errors import OfftrustError

    removing = {info.keyid for info in infos}
    local = {info.keyid for info in ctx.keys.list()}
    try:
        guns = ctx.trust.all_guns()
    except OfftrustError:
        return []
    lines: list[str] = []
    for gun in guns:
        warned: set[str] = set()
        for roles in _signing_roles(ctx, gun):
            for role, keyids in roles.items():
                here = keyids & local
                if role in warned or not here or not here <= removing:
                    continue
                warned.add(role)
                which = ", ".join(sorted(k[:12] for k in here))
                subject = (
                    f"key {which} is the last local key"
                    if len(here) == 1
                    else (f"keys {which} are the last local keys")
                )
                lines.append(f"{subject} able to sign {role} of {gun}")
    return lines


def remove_keys(ctx: Context, infos: list[KeyInfo]) -> list[dict[str, Any]]:
    """Delete exactly the key files *infos* (from :func:`plan_remove`): all of them, or none.

    Raises:
        StoreError: a file cannot be removed (the ones removed are put back).
    """
    ctx.keys.remove_all(infos)
    return [
        {"keyid": i.keyid, "role": i.role, "gun": i.gun or None, "location": i.location}
        for i in infos
    ]
