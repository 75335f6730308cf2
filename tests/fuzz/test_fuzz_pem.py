"""The PEM key loaders: ``parse_pem``, ``decrypt_private_key``, ``load_public_key_pem``.

The example's private key files (notary's encrypted PKCS#8, with ``role:``
and ``gun:`` headers) and public keys (docker's ``NAME.pub``, notary's root
certificates), mutated as text and as DER under the PEM armour; and PEM-like
text generated from scratch. Decryption is tried with the right passphrase,
so a mutation of the key material inside the encryption is reached too.
"""

from __future__ import annotations

import base64

from builders import REPOSITORY_PASSPHRASE, ROOT_PASSPHRASE
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from fuzzkit import (
    cases,
    check,
    mutate_bytes,
    mutated_choice,
    private_key_files,
    public_key_pems,
)
from hypothesis import given
from hypothesis import strategies as st

from offtrust import crypto
from offtrust.crypto import PemBlock

PRIVATE = tuple((None, data) for data in private_key_files())
PUBLIC = tuple((None, data) for data in public_key_pems())
PASSPHRASES = (REPOSITORY_PASSPHRASE, ROOT_PASSPHRASE, "", "\udcff" + REPOSITORY_PASSPHRASE)


def _plain_keys() -> tuple[tuple[str, bytes], ...]:
    """Unencrypted DER of each private key form notary reads (block type, DER)."""
    ec_key = ec.derive_private_key(12345, ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ed_key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    der = serialization.Encoding.DER
    none = serialization.NoEncryption()
    out = []
    for key in (ec_key, rsa_key, ed_key):
        out.append(("PRIVATE KEY", key.private_bytes(der, serialization.PrivateFormat.PKCS8, none)))
    out.append(
        (
            "EC PRIVATE KEY",
            ec_key.private_bytes(der, serialization.PrivateFormat.TraditionalOpenSSL, none),
        )
    )
    out.append(
        (
            "RSA PRIVATE KEY",
            rsa_key.private_bytes(der, serialization.PrivateFormat.TraditionalOpenSSL, none),
        )
    )
    notary = crypto.ed25519_private_key_from_seed(bytes(range(32)))
    out.append(("PRIVATE KEY", crypto.pkcs8_private_bytes(notary)))
    return tuple(out)


PLAIN = _plain_keys()


def load_private(data: bytes, passphrase: str) -> None:
    blocks = check(crypto.parse_pem, data)
    for block in blocks or []:
        check(crypto.is_encrypted_block, block)
        key = check(crypto.decrypt_private_key, block, passphrase)
        if key is not None:
            check(key.public_key)
            check(crypto.encode_private_key, key, passphrase, dict(block.headers))


def load_public(data: bytes) -> None:
    key = check(crypto.load_public_key_pem, data)
    if key is not None:
        check(crypto.canonical_keyid, key)
        check(crypto.encode_public_key_pem, key, {"role": "fuzz"})
        if key.is_x509:
            check(crypto.certificate_info, key)
        check(crypto.verify_signature, key, "ecdsa", b"\x01" * 64, b"message")


@st.composite
def mutated_der(draw: st.DrawFn, items: tuple[tuple[str, bytes], ...]) -> bytes:
    """A PEM block whose DER body (not its armour) is mutated, headers kept."""
    block_type, der = items[draw(st.integers(0, len(items) - 1))]
    headers = draw(st.sampled_from(({}, {"role": "alice"}, {"role": "root", "gun": "a/b"})))
    return crypto.encode_pem(PemBlock(block_type, headers, mutate_bytes(draw, der)))


def _private_der() -> tuple[tuple[str, bytes], ...]:
    return tuple(
        (block.type, block.der) for data in private_key_files() for block in crypto.parse_pem(data)
    )


def _public_der() -> tuple[tuple[str, bytes], ...]:
    return tuple(
        (block.type, block.der) for data in public_key_pems() for block in crypto.parse_pem(data)
    )


@cases(700)
@given(mutated_choice(PRIVATE, is_json=False), st.sampled_from(PASSPHRASES))
def test_mutated_private_key_files(case: tuple[None, bytes], passphrase: str) -> None:
    load_private(case[1], passphrase)


@cases(500)
@given(mutated_der(_private_der()), st.sampled_from(PASSPHRASES[:2]))
def test_mutated_encrypted_der(data: bytes, passphrase: str) -> None:
    load_private(data, passphrase)


@cases(400)
@given(mutated_der(PLAIN))
def test_mutated_plain_private_keys(data: bytes) -> None:
    load_private(data, REPOSITORY_PASSPHRASE)


@cases(500)
@given(mutated_choice(PUBLIC, is_json=False))
def test_mutated_public_keys(case: tuple[None, bytes]) -> None:
    load_public(case[1])


@cases(400)
@given(mutated_der(_public_der()))
def test_mutated_public_key_der(data: bytes) -> None:
    load_public(data)


@cases(300)
@given(
    st.sampled_from(
        [
            "PRIVATE KEY",
            "ENCRYPTED PRIVATE KEY",
            "EC PRIVATE KEY",
            "RSA PRIVATE KEY",
            "ED25519 PRIVATE KEY",
            "PUBLIC KEY",
            "CERTIFICATE",
            "X",
        ]
    ),
    st.dictionaries(
        st.sampled_from(["role", "gun", "Proc-Type", "DEK-Info", "x"]),
        st.one_of(
            st.text(max_size=40),
            st.sampled_from(
                [
                    "4,ENCRYPTED",
                    "AES-256-CBC,00112233445566778899AABBCCDDEEFF",
                    "DES-CBC,00",
                    "AES-128-CBC,zz",
                ]
            ),
        ),
        max_size=3,
    ),
    st.binary(max_size=300),
    st.sampled_from(["", "garbage\n", "-----END X-----\n"]),
)
def test_generated_pem(block_type: str, headers: dict[str, str], der: bytes, tail: str) -> None:
    body = base64.b64encode(der).decode()
    head = "".join(f"{k}: {v}\n" for k, v in headers.items() if "\n" not in k + v)
    blank = "\n" if head else ""
    text = f"-----BEGIN {block_type}-----\n{head}{blank}{body}\n-----END {block_type}-----\n{tail}"
    data = text.encode("utf-8", "surrogateescape")
    load_private(data, REPOSITORY_PASSPHRASE)
    load_public(data)
