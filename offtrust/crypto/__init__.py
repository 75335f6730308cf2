"""Keys and signatures exactly as Notary 0.7 reads and writes them.

This package is the only part of offtrust that imports ``cryptography``, and
it uses only its public API. Its modules:

* :mod:`~offtrust.crypto.pem`: PEM framing as Go's ``encoding/pem`` decodes
  and encodes it (headers such as ``role:`` and ``gun:`` included, which
  OpenSSL-based readers choke on);
* :mod:`~offtrust.crypto.private`: private key files
  (``docs/notary-formats.md`` section 2): notary's own PKCS#8 dialect (ECDSA
  version 1, RSA without the NULL parameter, Ed25519 under OID
  1.3.6.1.4.1.11591.15.1 as 96 bytes), PBES2 encryption with PBKDF2-HMAC-SHA1,
  and the legacy ``Proc-Type``/``DEK-Info`` formats;
* :mod:`~offtrust.crypto.public`: public keys, key IDs (section 3) and
  verifying signatures with notary's methods (section 4);
* :mod:`~offtrust.crypto.certificates`: root certificates (section 3);
* :mod:`~offtrust.crypto.signers`: signing with notary's methods (section 4);
  :class:`PrivateKey` is the signer offtrust uses;
* ``_der``: a tiny DER codec. Recent ``cryptography`` releases refuse
  notary's ECDSA and Ed25519 PKCS#8 and cannot write its PBES2 variant, so the
  ASN.1 around the keys is read and written there; ``cryptography`` only ever
  sees standard encodings.

Every exception from ``cryptography`` is turned into an :mod:`offtrust.errors`
class where it enters. Import names from this package (``from offtrust import
crypto``); the module layout behind it may change.
"""

from __future__ import annotations

from offtrust.crypto.certificates import CertificateInfo, certificate_info, make_root_certificate
from offtrust.crypto.pem import PemBlock, encode_pem, parse_pem
from offtrust.crypto.private import (
    MIN_RSA_BITS,
    PRIVATE_KEY_BLOCK_TYPES,
    PrivateKey,
    decrypt_private_key,
    ed25519_private_key_from_seed,
    encode_private_key,
    generate_private_key,
    is_encrypted_block,
    load_private_key_pem,
    pkcs8_private_bytes,
)
from offtrust.crypto.public import (
    canonical_keyid,
    canonical_public_key,
    encode_public_key_pem,
    load_public_key_pem,
    verify_signature,
)

__all__ = [
    "MIN_RSA_BITS",
    "PRIVATE_KEY_BLOCK_TYPES",
    "CertificateInfo",
    "PemBlock",
    "PrivateKey",
    "canonical_keyid",
    "canonical_public_key",
    "certificate_info",
    "decrypt_private_key",
    "ed25519_private_key_from_seed",
    "encode_pem",
    "encode_private_key",
    "encode_public_key_pem",
    "generate_private_key",
    "is_encrypted_block",
    "load_private_key_pem",
    "load_public_key_pem",
    "make_root_certificate",
    "parse_pem",
    "pkcs8_private_bytes",
    "verify_signature",
]
