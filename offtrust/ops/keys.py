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
    for directory in (ctx.trust.tuf, ctx.trust.offtrust / "staged"):
        if not directory.is_dir():
            continue
        for path in directory.rglob("*.json"):
            if "metadata" not in path.parts:
                continue
            try:
                signed = json.loads(path.read_bytes())["signed"]
                keys = dict(signed.get("keys") or {})
                keys.update((signed.get("delegations") or {}).get("keys") or {})
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
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
        UsageError: bad name or algorithm, or ``NAME.pub`` exists.
        StoreError: the files cannot be written (then none is).
    """
    from offtrust import crypto
    from offtrust.store._atomic import remove_files, write_atomic

    check_key_name(name)
    if algorithm not in ("ecdsa", "rsa", "ed25519"):
        raise UsageError(f"unknown algorithm {algorithm!r} (ecdsa, rsa or ed25519)")
    pub_path = directory / f"{name}.pub"
    if pub_path.exists():
        raise UsageError(f"public key file {pub_path} already exists")
    key = crypto.generate_private_key(algorithm)
    public = key.public_key()
    passphrase = passphrases.new(name, key.keyid)
    pub_pem = crypto.encode_public_key_pem(public, {"role": name})
    info = ctx.keys.save(key, role=name, passphrase=passphrase)
    try:
        write_atomic(pub_path.absolute(), pub_pem, mode=0o600)
    except BaseException:
        remove_files([info.path])
        raise
    return {
        "keyid": key.keyid,
        "role": name,
        "algorithm": algorithm,
        "public_key_file": str(pub_path),
        "location": info.location,
    }


def load_key(ctx: Context, path: Path, name: str, passphrases: PassphraseSource) -> dict[str, Any]:
    """``docker trust key load``: import a PEM private key under role NAME.

    Accepts PKCS#8 (encrypted or not), SEC1 EC and PKCS#1 RSA; refuses RSA under
    2048 bits and, like Docker, a file other users can read or write. A
    ``role:`` header in the input wins over NAME, as in Docker.

    Raises:
        UnreadableInputError: the file cannot be read or is readable by others.
        InvalidKeyError: not a usable private key.
        WrongPassphraseError: an encrypted input could not be decrypted.
    """
    from offtrust import crypto

    check_key_name(name)
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as e:
        raise UnreadableInputError(f"{path}: cannot read: {e.strerror or e}") from e
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
    role = block.headers.get("role") or name
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
