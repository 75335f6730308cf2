"""Key-store use cases: list (and, later, generate, load, export, remove)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from offtrust.errors import InvalidKeyError, UnreadableInputError, UsageError, WrongPassphraseError
from offtrust.model.names import check_key_name
from offtrust.ops.context import Context
from offtrust.store.keystore import KeyInfo, PassphraseSource

_PEM_ALGORITHMS = {
    "EC PRIVATE KEY": "ecdsa",
    "RSA PRIVATE KEY": "rsa",
    "ED25519 PRIVATE KEY": "ed25519",
}


def _public_key_types(ctx: Context) -> dict[str, str]:
    """Canonical key ID → key type, from every key listed in the metadata.

    An encrypted PKCS#8 file does not say its algorithm; the metadata that
    lists its public key does. Files are read without verification: this is
    only a label.
    """
    from offtrust.crypto import canonical_keyid
    from offtrust.model.keys import PublicKey

    found: dict[str, str] = {}
    # Read by the store: links, FIFOs and devices are skipped, sizes bounded.
    for data in ctx.repos.metadata_documents():
        try:
            signed = json.loads(data)["signed"]
            keys = dict(signed.get("keys") or {})
            keys.update((signed.get("delegations") or {}).get("keys") or {})
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            continue
        for keyid, key in keys.items():
            keytype = str(key.get("keytype", "")) if isinstance(key, dict) else ""
            found[keyid] = keytype.replace("-x509", "")
            if keytype.endswith("-x509"):
                try:
                    found[canonical_keyid(PublicKey.from_dict(key))] = found[keyid]
                except Exception:  # noqa: BLE001, S112 - best-effort label
                    continue
    return found


def list_keys(
    ctx: Context, gun: str | None = None, *, with_algorithm: bool = False
) -> list[dict[str, Any]]:
    """The local private keys, like ``notary key list``.

    Args:
        ctx: the trust directory.
        gun: only keys whose ``gun`` header is this GUN (root and delegation
            keys, which carry no GUN, are always listed, as notary does).
        with_algorithm: add each key's algorithm (reads metadata for encrypted keys).
    """
    infos: list[KeyInfo] = ctx.keys.list()
    if gun is not None:
        infos = [i for i in infos if not i.gun or i.gun == gun]
    types = _public_key_types(ctx) if with_algorithm else {}
    out = []
    for info in infos:
        row = info.to_dict()
        if with_algorithm:
            row["algorithm"] = _PEM_ALGORITHMS.get(info.pem_type) or types.get(info.keyid)
        out.append(row)
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


#: Largest private key file ``key load`` reads (an RSA 8192 PEM is under 7 KiB).
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
    from offtrust.store.output import read_user_file

    if name is not None:
        check_key_name(name)
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
    block = blocks[0]
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
