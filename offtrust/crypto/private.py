"""Private key files exactly as notary reads and writes them (formats doc section 2).

Notary's own PKCS#8 dialect (ECDSA version 1, RSA without the NULL parameter,
Ed25519 under OID 1.3.6.1.4.1.11591.15.1 as 96 bytes), PBES2 encryption with
PBKDF2-HMAC-SHA1 and AES-256-CBC, and the legacy ``Proc-Type``/``DEK-Info``
formats; the standard forms other tools write are read too.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import NamedTuple, NoReturn, TypeVar

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.ciphers import (
    BlockCipherAlgorithm,
    Cipher,
    algorithms,
    modes,
)
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from offtrust.crypto._der import (
    _BIT_STRING,
    _CURVE_OIDS,
    _ENC_NULL,
    _INTEGER,
    _OCTET_STRING,
    _OID_AES256_CBC,
    _OID_EC_PUBLIC_KEY,
    _OID_ED25519,
    _OID_ED25519_NOTARY,
    _OID_PBES2,
    _OID_PBKDF2,
    _OID_RSA,
    _SEQUENCE,
    _der_int,
    _der_oid,
    _der_read,
    _der_sequence,
    _DerError,
    _enc_explicit,
    _enc_int,
    _enc_octets,
    _enc_oid,
    _enc_seq,
    _expect,
    _tlv,
)
from offtrust.crypto.pem import PemBlock, encode_pem, parse_pem
from offtrust.crypto.signers import _CryptoPrivateKey, sign_message
from offtrust.errors import InvalidKeyError, PassphraseRequiredError, WrongPassphraseError
from offtrust.model.keys import PublicKey

__all__ = [
    "MIN_RSA_BITS",
    "PRIVATE_KEY_BLOCK_TYPES",
    "PrivateKey",
    "decrypt_private_key",
    "ed25519_private_key_from_seed",
    "encode_private_key",
    "generate_private_key",
    "is_encrypted_block",
    "load_private_key_pem",
    "pkcs8_private_bytes",
]

_T = TypeVar("_T")

# Notary refuses RSA keys below this size when verifying (tuf/signed/verifiers.go).
MIN_RSA_BITS = 2048
_GENERATED_RSA_BITS = 4096

# What notary writes (tuf/utils/pkcs8.go): 8-byte salt, 2048 PBKDF2 rounds, AES-256-CBC.
_PBKDF2_SALT_BYTES = 8
_PBKDF2_ITERATIONS = 2048
_AES_IV_BYTES = 16
# A hostile file could ask for billions of rounds; no real key uses more than this.
_MAX_PBKDF2_ITERATIONS = 10_000_000

PRIVATE_KEY_BLOCK_TYPES = (
    "ENCRYPTED PRIVATE KEY",
    "PRIVATE KEY",
    "EC PRIVATE KEY",
    "RSA PRIVATE KEY",
    "ED25519 PRIVATE KEY",
)
_LEGACY_BLOCK_TYPES = ("EC PRIVATE KEY", "RSA PRIVATE KEY", "ED25519 PRIVATE KEY")

# PBES2 ciphers: OID -> key length. Notary only knows AES-256-CBC; the others are
# accepted on read because other tools write them.
_PBES2_CIPHERS = {
    "2.16.840.1.101.3.4.1.2": 16,
    "2.16.840.1.101.3.4.1.22": 24,
    _OID_AES256_CBC: 32,
}
# PBKDF2 PRFs. Notary ignores this field and always uses SHA-1 (its default);
# it is honoured on read so that keys written by other tools also load.
_PBKDF2_PRFS: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "1.2.840.113549.2.7": hashes.SHA1,
    "1.2.840.113549.2.8": hashes.SHA224,
    "1.2.840.113549.2.9": hashes.SHA256,
    "1.2.840.113549.2.10": hashes.SHA384,
    "1.2.840.113549.2.11": hashes.SHA512,
}


class PrivateKey:
    """A private key notary can use. The repr never shows secret material.

    Attributes:
        algorithm: ``"ecdsa"``, ``"rsa"`` or ``"ed25519"``.
    """

    __slots__ = ("_key", "_public", "algorithm")

    algorithm: str

    def __init__(self, key: _CryptoPrivateKey) -> None:
        """Wrap a ``cryptography`` key (use the loaders of this module instead).

        Raises:
            InvalidKeyError: notary cannot use this kind of key (curve, size).
        """
        if isinstance(key, ec.EllipticCurvePrivateKey):
            if key.curve.name not in _CURVE_OIDS:
                raise InvalidKeyError(f"unsupported elliptic curve {key.curve.name}")
            self.algorithm = "ecdsa"
        elif isinstance(key, rsa.RSAPrivateKey):
            if key.key_size < MIN_RSA_BITS:
                raise InvalidKeyError(
                    f"RSA key of {key.key_size} bits is too short (at least {MIN_RSA_BITS})"
                )
            self.algorithm = "rsa"
        elif isinstance(key, ed25519.Ed25519PrivateKey):
            self.algorithm = "ed25519"
        else:
            raise InvalidKeyError(f"unsupported private key type {type(key).__name__}")
        self._key: _CryptoPrivateKey = key
        self._public: PublicKey | None = None

    def public_key(self) -> PublicKey:
        """The plain TUF public key (``ecdsa``/``rsa``: DER SPKI; ``ed25519``: raw)."""
        if self._public is None:
            pub = self._key.public_key()
            if isinstance(pub, ed25519.Ed25519PublicKey):
                raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            else:
                raw = pub.public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            self._public = PublicKey.from_bytes(self.algorithm, raw)
        return self._public

    @property
    def keyid(self) -> str:
        """The key ID notary names the key file with."""
        return self.public_key().keyid

    def sign(self, message: bytes) -> tuple[str, bytes]:
        """Sign *message* the way notary does (see :func:`~offtrust.crypto.signers.sign_message`).

        Returns:
            ``(method, signature)``: ``("ecdsa", r||s)`` over SHA-256 with both
            halves padded to the curve size; ``("rsapss", sig)`` with PSS,
            SHA-256, MGF1-SHA-256 and a 32-byte salt; ``("eddsa", sig)``.
        """
        return sign_message(self._key, message)

    def __repr__(self) -> str:
        return f"PrivateKey({self.algorithm}, {self.keyid[:12]})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("private keys cannot be pickled")


def _crypto_key(key: PrivateKey) -> _CryptoPrivateKey:
    """The ``cryptography`` key inside *key*, for this package's own modules only."""
    return key._key


def generate_private_key(algorithm: str = "ecdsa") -> PrivateKey:
    """Generate a new key: ECDSA P-256 (notary's default), RSA 4096 or Ed25519.

    Args:
        algorithm: ``"ecdsa"``, ``"rsa"`` or ``"ed25519"``.

    Returns:
        The new key.

    Raises:
        InvalidKeyError: unknown algorithm.
    """
    key: _CryptoPrivateKey
    if algorithm == "ecdsa":
        key = ec.generate_private_key(ec.SECP256R1())
    elif algorithm == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=_GENERATED_RSA_BITS)
    elif algorithm == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        raise InvalidKeyError(f"unsupported key algorithm {algorithm!r} (ecdsa, rsa, ed25519)")
    return PrivateKey(key)


def ed25519_private_key_from_seed(seed: bytes) -> PrivateKey:
    """Build an Ed25519 key from its 32-byte seed (deterministic test keys).

    Raises:
        InvalidKeyError: the seed is not 32 bytes.
    """
    if len(seed) != 32:
        raise InvalidKeyError("an ed25519 seed must be 32 bytes")
    return PrivateKey(ed25519.Ed25519PrivateKey.from_private_bytes(seed))


def is_encrypted_block(block: PemBlock) -> bool:
    """Whether *block* needs a passphrase (PKCS#8 encryption or legacy DEK-Info)."""
    if block.type == "ENCRYPTED PRIVATE KEY":
        return True
    return "DEK-Info" in block.headers or block.headers.get("Proc-Type", "") == "4,ENCRYPTED"


def passphrase_bytes(passphrase: str) -> bytes:
    """The bytes *passphrase* stands for, as notary (Go) uses them.

    A variable that is not UTF-8 reaches Python with each undecodable byte as
    a surrogate escape (PEP 383); encoding those back gives the variable's
    exact bytes, which is what Go reads. Nothing of the passphrase ever goes
    into a message or an exception chain.

    Raises:
        WrongPassphraseError: it holds a code point no bytes stand for.
    """
    try:
        return passphrase.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        pass
    raise WrongPassphraseError("the passphrase holds characters that are not text")


class _BadPassphrase(Exception):
    """The passphrase did not produce a well-formed key. Internal."""


def _with_passphrase(
    passphrase: str | None, attempt: Callable[[bytes], _T], *, empty_fallback: bool = True
) -> _T:
    """Run *attempt* with the passphrase, trying the empty one as notary does.

    Notary tries the empty passphrase before asking for one (``GetKey``), so a
    key encrypted with ``""`` opens without a prompt. Without *empty_fallback*,
    only *passphrase* itself is tried (one key derivation).
    """
    candidates = [""] if not passphrase else [passphrase, ""] if empty_fallback else [passphrase]
    for candidate in candidates:
        try:
            return attempt(passphrase_bytes(candidate))
        except _BadPassphrase:
            continue
    if passphrase is None:
        raise PassphraseRequiredError("a passphrase is required to decrypt the key")
    raise WrongPassphraseError("wrong passphrase")


def decrypt_private_key(
    block: PemBlock, passphrase: str | None, *, empty_fallback: bool = True
) -> PrivateKey:
    """Load the private key in *block*, decrypting it if needed.

    Accepts every block type notary reads (``ENCRYPTED PRIVATE KEY``,
    ``PRIVATE KEY``, ``EC PRIVATE KEY``, ``RSA PRIVATE KEY``,
    ``ED25519 PRIVATE KEY``, the last three optionally ``DEK-Info``-encrypted),
    in notary's own dialect as well as the standard one (RFC 8410 Ed25519, any
    PBKDF2 PRF, AES-128/192/256-CBC).

    Args:
        block: A PEM block from :func:`parse_pem`.
        passphrase: The passphrase, or None when none is known yet.
        empty_fallback: When *passphrase* fails, try the empty one (notary
            does); False tries *passphrase* only, so the caller knows which opened it.

    Returns:
        The key.

    Raises:
        PassphraseRequiredError: the key is encrypted and *passphrase* is None.
        WrongPassphraseError: the passphrase does not decrypt the key, or
            holds a code point no bytes stand for (see :func:`passphrase_bytes`).
        InvalidKeyError: the block is not a key notary can use.
    """
    try:
        if block.type not in PRIVATE_KEY_BLOCK_TYPES:
            raise InvalidKeyError(f"unsupported private key PEM type {block.type!r}")
        der = block.der
        if block.type in _LEGACY_BLOCK_TYPES and is_encrypted_block(block):
            return _with_passphrase(
                passphrase, lambda pw: _decrypt_legacy(block, pw), empty_fallback=empty_fallback
            )
        if block.type == "ENCRYPTED PRIVATE KEY":
            params = _parse_encrypted_pkcs8(der)
            return _with_passphrase(
                passphrase, lambda pw: _decrypt_pkcs8(params, pw), empty_fallback=empty_fallback
            )
        if block.type == "PRIVATE KEY":
            return _load_pkcs8(der)
        return _load_legacy(block.type, der)
    except _DerError as e:
        raise InvalidKeyError(f"malformed {block.type}: {e}") from e


def _load_der_key(der: bytes) -> PrivateKey:
    try:
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise InvalidKeyError("unreadable private key") from e
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise InvalidKeyError(f"unsupported private key type {type(key).__name__}")
    return PrivateKey(key)


def _ed25519_from_notary(data: bytes) -> PrivateKey:
    """Notary's 96 bytes: public key, then Go's private key (seed, public key)."""
    if len(data) != 96:
        raise InvalidKeyError("malformed ed25519 private key (expected 96 bytes)")
    key = ed25519.Ed25519PrivateKey.from_private_bytes(data[32:64])
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    # Go signs with the stored public half, so an inconsistent key would make
    # signatures nobody can verify.
    if data[:32] != public or data[64:] != public:
        raise InvalidKeyError("ed25519 private key does not match its public key")
    return PrivateKey(key)


def _load_legacy(block_type: str, der: bytes) -> PrivateKey:
    """Load an ``EC``/``RSA``/``ED25519 PRIVATE KEY`` body (already decrypted).

    Raises:
        _DerError: the body is not the structure its type names.
    """
    if block_type == "ED25519 PRIVATE KEY":
        if len(der) != 96:
            raise _DerError("ed25519 private key must be 96 bytes")
        return _ed25519_from_notary(der)
    # SEC1 ECPrivateKey starts INTEGER 1, OCTET STRING; PKCS#1 RSAPrivateKey
    # starts INTEGER 0, INTEGER. Checking this refuses a PKCS#8 body under a
    # legacy label, as Go's parsers do.
    items = _der_sequence(der, min_items=2)
    second = _OCTET_STRING if block_type == "EC PRIVATE KEY" else _INTEGER
    if items[0].tag != _INTEGER or items[1].tag != second:
        raise _DerError(f"not a {block_type}")
    key = _load_der_key(der)
    expected = "ecdsa" if block_type == "EC PRIVATE KEY" else "rsa"
    if key.algorithm != expected:
        raise InvalidKeyError(f"{block_type} holds a {key.algorithm} key")
    return key


def _load_pkcs8(der: bytes, *, allow_trailing: bool = False) -> PrivateKey:
    """Load a PrivateKeyInfo in notary's or the standard dialect.

    Raises:
        _DerError: not a PrivateKeyInfo.
        InvalidKeyError: a well-formed PrivateKeyInfo notary cannot use.
    """
    items = _der_sequence(der, min_items=3, allow_trailing=allow_trailing)
    version = _der_int(items[0])
    algorithm = _der_sequence(items[1].raw, min_items=1)
    oid = _der_oid(algorithm[0])
    private = _expect(items[2], _OCTET_STRING)
    if version not in (0, 1):
        raise InvalidKeyError(f"unsupported PKCS#8 version {version}")
    if oid == _OID_ED25519_NOTARY:
        return _ed25519_from_notary(private)
    if oid == _OID_ED25519:
        seed_item, end = _der_read(private)
        seed = _expect(seed_item, _OCTET_STRING)
        if end != len(private) or len(seed) != 32:
            raise InvalidKeyError("malformed ed25519 private key")
        return PrivateKey(ed25519.Ed25519PrivateKey.from_private_bytes(seed))
    if oid == _OID_EC_PUBLIC_KEY:
        algorithm_raw = items[1].raw
    elif oid == _OID_RSA:
        # Notary omits the NULL parameter; the standard form has it.
        algorithm_raw = _enc_seq(_enc_oid(_OID_RSA), _ENC_NULL)
    else:
        raise InvalidKeyError(f"unsupported private key algorithm {oid}")
    # Re-wrapped as version 0 without optional fields, which every
    # cryptography release reads (48 refuses notary's ECDSA version 1).
    return _load_der_key(_enc_seq(_enc_int(0), algorithm_raw, _enc_octets(private)))


class _Pbes2(NamedTuple):
    salt: bytes
    iterations: int
    prf: Callable[[], hashes.HashAlgorithm]
    key_length: int
    iv: bytes
    ciphertext: bytes


def _parse_encrypted_pkcs8(der: bytes) -> _Pbes2:
    """Parse an EncryptedPrivateKeyInfo using PBES2, PBKDF2 and AES-CBC.

    Raises:
        _DerError: malformed structure.
        InvalidKeyError: an encryption scheme other than PBES2/PBKDF2/AES-CBC.
    """
    outer = _der_sequence(der, min_items=2)
    scheme = _der_sequence(outer[0].raw, min_items=1)
    ciphertext = _expect(outer[1], _OCTET_STRING)
    if _der_oid(scheme[0]) != _OID_PBES2 or len(scheme) != 2:
        raise InvalidKeyError("unsupported key encryption (only PBES2 is supported)")
    kdf, cipher = _der_sequence(scheme[1].raw, min_items=2)[:2]
    kdf_items = _der_sequence(kdf.raw, min_items=1)
    if _der_oid(kdf_items[0]) != _OID_PBKDF2 or len(kdf_items) != 2:
        raise InvalidKeyError("unsupported key derivation (only PBKDF2 is supported)")
    kdf_params = _der_sequence(kdf_items[1].raw, min_items=2)
    salt = _expect(kdf_params[0], _OCTET_STRING)
    iterations = _der_int(kdf_params[1])
    key_length: int | None = None
    prf: Callable[[], hashes.HashAlgorithm] = hashes.SHA1
    for extra in kdf_params[2:]:
        if extra.tag == _INTEGER and key_length is None:
            key_length = _der_int(extra)
        elif extra.tag == _SEQUENCE:
            prf_oid = _der_oid(_der_sequence(extra.raw, min_items=1)[0])
            if prf_oid not in _PBKDF2_PRFS:
                raise InvalidKeyError(f"unsupported PBKDF2 PRF {prf_oid}")
            prf = _PBKDF2_PRFS[prf_oid]
        else:
            raise _DerError("unexpected PBKDF2 parameter")
    cipher_items = _der_sequence(cipher.raw, min_items=1)
    cipher_oid = _der_oid(cipher_items[0])
    if cipher_oid not in _PBES2_CIPHERS:
        raise InvalidKeyError(f"unsupported key cipher {cipher_oid} (only AES-CBC)")
    expected_length = _PBES2_CIPHERS[cipher_oid]
    if key_length is not None and key_length != expected_length:
        raise InvalidKeyError("PBKDF2 key length does not match the cipher")
    iv = _expect(cipher_items[1], _OCTET_STRING) if len(cipher_items) > 1 else b""
    if len(iv) != _AES_IV_BYTES:
        raise InvalidKeyError("malformed key encryption parameters (IV must be 16 bytes)")
    if not 0 < iterations <= _MAX_PBKDF2_ITERATIONS:
        raise InvalidKeyError(f"unsupported PBKDF2 iteration count {iterations}")
    if not ciphertext or len(ciphertext) % 16:
        raise InvalidKeyError("malformed encrypted key (ciphertext is not whole AES blocks)")
    return _Pbes2(salt, iterations, prf, expected_length, iv, ciphertext)


def _decrypt_pkcs8(params: _Pbes2, passphrase: bytes) -> PrivateKey:
    """Decrypt and load; a plaintext that is no PrivateKeyInfo means a wrong passphrase."""
    key = PBKDF2HMAC(
        algorithm=params.prf(),
        length=params.key_length,
        salt=params.salt,
        iterations=params.iterations,
    ).derive(passphrase)
    decryptor = Cipher(algorithms.AES(key), modes.CBC(params.iv)).decryptor()
    plaintext = decryptor.update(params.ciphertext) + decryptor.finalize()
    try:
        # Like notary, padding is not checked: DER parsing ignores what follows.
        return _load_pkcs8(plaintext, allow_trailing=True)
    except _DerError as e:
        raise _BadPassphrase from e


def _evp_bytes_to_key(passphrase: bytes, salt: bytes, length: int) -> bytes:
    """OpenSSL's legacy PEM key derivation (MD5, one round), as Go implements it."""
    derived = b""
    block = b""
    while len(derived) < length:
        block = hashlib.md5(block + passphrase + salt, usedforsecurity=False).digest()
        derived += block
    return derived[:length]


def _dek_cipher(name: str, key: bytes) -> tuple[BlockCipherAlgorithm, int]:
    """The cipher for a ``DEK-Info`` name and its block size."""
    if name.startswith("AES-"):
        return algorithms.AES(key), 16
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES

    # Single DES is triple DES with three equal keys.
    return TripleDES(key * 3 if len(key) == 8 else key), 8


_DEK_KEY_SIZES = {
    "DES-CBC": 8,
    "DES-EDE3-CBC": 24,
    "AES-128-CBC": 16,
    "AES-192-CBC": 24,
    "AES-256-CBC": 32,
}


def _decrypt_dek_info(block: PemBlock, passphrase: bytes) -> bytes:
    """Decrypt a legacy ``Proc-Type: 4,ENCRYPTED`` body like Go's ``DecryptPEMBlock``."""
    dek = block.headers.get("DEK-Info")
    if dek is None:
        raise InvalidKeyError("encrypted PEM block lacks a DEK-Info header")
    name, _, iv_hex = dek.partition(",")
    name = name.strip()
    if name not in _DEK_KEY_SIZES:
        raise InvalidKeyError(f"unsupported PEM encryption {name}")
    try:
        iv = bytes.fromhex(iv_hex.strip())
    except ValueError as e:
        raise InvalidKeyError("malformed DEK-Info header") from e
    key = _evp_bytes_to_key(passphrase, iv[:8], _DEK_KEY_SIZES[name])
    cipher_algorithm, block_size = _dek_cipher(name, key)
    if len(iv) != block_size or not block.der or len(block.der) % block_size:
        raise InvalidKeyError("malformed encrypted PEM block")
    decryptor = Cipher(cipher_algorithm, modes.CBC(iv)).decryptor()
    plaintext = decryptor.update(block.der) + decryptor.finalize()
    unpadder = sym_padding.PKCS7(block_size * 8).unpadder()
    try:
        return unpadder.update(plaintext) + unpadder.finalize()
    except ValueError as e:
        raise _BadPassphrase from e


def _decrypt_legacy(block: PemBlock, passphrase: bytes) -> PrivateKey:
    der = _decrypt_dek_info(block, passphrase)
    try:
        return _load_legacy(block.type, der)
    except _DerError as e:
        # Padding matched by chance (1 in 256); the body shows the passphrase was wrong.
        raise _BadPassphrase from e


def pkcs8_private_bytes(key: PrivateKey) -> bytes:
    """The unencrypted PKCS#8 DER notary writes for *key* (formats doc 2.3).

    ECDSA: version 1, ``{id-ecPublicKey, curve}``, SEC1 with curve and public
    key; RSA: version 0, ``{rsaEncryption}`` without NULL, PKCS#1; Ed25519:
    version 0, ``{1.3.6.1.4.1.11591.15.1}``, public || seed || public.
    """
    raw = key._key
    if isinstance(raw, ec.EllipticCurvePrivateKey):
        curve_oid = _CURVE_OIDS[raw.curve.name]
        size = (raw.curve.key_size + 7) // 8
        point = raw.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        sec1 = _enc_seq(
            _enc_int(1),
            _enc_octets(raw.private_numbers().private_value.to_bytes(size, "big")),
            _enc_explicit(0, _enc_oid(curve_oid)),
            _enc_explicit(1, _tlv(_BIT_STRING, b"\x00" + point)),
        )
        return _enc_seq(
            _enc_int(1),
            _enc_seq(_enc_oid(_OID_EC_PUBLIC_KEY), _enc_oid(curve_oid)),
            _enc_octets(sec1),
        )
    if isinstance(raw, rsa.RSAPrivateKey):
        pkcs1 = raw.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        return _enc_seq(_enc_int(0), _enc_seq(_enc_oid(_OID_RSA)), _enc_octets(pkcs1))
    public = raw.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    seed = raw.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return _enc_seq(
        _enc_int(0),
        _enc_seq(_enc_oid(_OID_ED25519_NOTARY)),
        _enc_octets(public + seed + public),
    )


def _encrypt_pkcs8(plaintext: bytes, passphrase: str) -> bytes:
    salt = os.urandom(_PBKDF2_SALT_BYTES)
    iv = os.urandom(_AES_IV_BYTES)
    key = PBKDF2HMAC(
        algorithm=hashes.SHA1(), length=32, salt=salt, iterations=_PBKDF2_ITERATIONS
    ).derive(passphrase_bytes(passphrase))
    padder = sym_padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    return _enc_seq(
        _enc_seq(
            _enc_oid(_OID_PBES2),
            _enc_seq(
                _enc_seq(
                    _enc_oid(_OID_PBKDF2),
                    _enc_seq(_enc_octets(salt), _enc_int(_PBKDF2_ITERATIONS)),
                ),
                _enc_seq(_enc_oid(_OID_AES256_CBC), _enc_octets(iv)),
            ),
        ),
        _enc_octets(ciphertext),
    )


def encode_private_key(key: PrivateKey, passphrase: str | None, headers: dict[str, str]) -> bytes:
    """Encode *key* as the PEM file notary writes (formats doc 2.3).

    Args:
        key: The key.
        passphrase: None or ``""`` writes an unencrypted ``PRIVATE KEY``;
            anything else an ``ENCRYPTED PRIVATE KEY`` (PBES2, PBKDF2-HMAC-SHA1
            with an 8-byte salt and 2048 rounds, AES-256-CBC).
        headers: PEM headers, e.g. ``{"role": "targets", "gun": "example.com/a"}``.
            Written as given: notary writes ``gun`` only for targets, snapshot
            and timestamp keys, which is the caller's rule to apply.

    Returns:
        The PEM bytes.

    Raises:
        InvalidKeyError: a header cannot be written.
        WrongPassphraseError: *passphrase* holds a code point no bytes stand for.
    """
    der = pkcs8_private_bytes(key)
    if not passphrase:
        return encode_pem(PemBlock("PRIVATE KEY", dict(headers), der))
    return encode_pem(
        PemBlock("ENCRYPTED PRIVATE KEY", dict(headers), _encrypt_pkcs8(der, passphrase))
    )


def load_private_key_pem(data: bytes, passphrase: str | None) -> PrivateKey:
    """Load the first private key block of a PEM file.

    Args:
        data: File contents.
        passphrase: As for :func:`decrypt_private_key`.

    Returns:
        The key.

    Raises:
        InvalidKeyError: no private key block, or an unusable key.
        PassphraseRequiredError: the key is encrypted and *passphrase* is None.
        WrongPassphraseError: the passphrase does not decrypt the key.
    """
    for block in parse_pem(data):
        if block.type in PRIVATE_KEY_BLOCK_TYPES:
            return decrypt_private_key(block, passphrase)
    raise InvalidKeyError("no private key found in the PEM data")
