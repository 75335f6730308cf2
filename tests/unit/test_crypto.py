"""Tests for offtrust.crypto: notary's key files, key IDs, signatures, certificates.

Structure checks parse DER with the small independent reader below, so they
do not trust the module's own codec. Interop tests run the real ``notary``
binary (``-m interop``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import random
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature as decode_dss
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.x509.oid import (
    ExtendedKeyUsageOID,
    ExtensionOID,
    NameOID,
    SignatureAlgorithmOID,
)

from offtrust import crypto
from offtrust.errors import (
    InvalidKeyError,
    KeyAccessError,
    PassphraseRequiredError,
    WrongPassphraseError,
)
from offtrust.model.keys import PublicKey

ALGORITHMS = ["ecdsa", "rsa", "ed25519"]
NOW = datetime(2024, 5, 1, 12, 30, 45, 123456, tzinfo=timezone.utc)

# Encoded OID contents (the bytes after tag and length).
OID_PBES2 = bytes.fromhex("2a864886f70d01050d")
OID_PBKDF2 = bytes.fromhex("2a864886f70d01050c")
OID_AES256_CBC = bytes.fromhex("60864801650304012a")
OID_RSA = bytes.fromhex("2a864886f70d010101")
OID_EC = bytes.fromhex("2a8648ce3d0201")
OID_P256 = bytes.fromhex("2a8648ce3d030107")
OID_ED25519_NOTARY = bytes.fromhex("2b06010401da470f01")  # 1.3.6.1.4.1.11591.15.1

# A snapshot key file written by notary 0.7 (docs/notary-formats.md 2.1).
NOTARY_SNAPSHOT_KEY = b"""-----BEGIN ENCRYPTED PRIVATE KEY-----
gun: example.com/nf1
role: snapshot

MIHuMEkGCSqGSIb3DQEFDTA8MBsGCSqGSIb3DQEFDDAOBAjnS6k838w+HwICCAAw
HQYJYIZIAWUDBAEqBBAMsXynUkMwbnfSlj9DDMtrBIGgfyC6oZVo/47iogd7UNft
ax7gEzMUiS0T8YhGpccFRv2wI2SYpX9Y6gosh/lqSig6RlzY7Ws7i7DxWqmIlL5f
Mx6cPhsrFAxmW3bAEWDzVyNzaqgDQ5bg6Wf97Z8ks8d1AkXXxcJoqiG8j8OdB4/P
6/DhxXnB+dDO7G94TCma487z4+UtN5j8BbLz1ICjtE9uo99aHB5kSCR4JliI4ErA
Ew==
-----END ENCRYPTED PRIVATE KEY-----
"""

# A public key written by `notary key generate ecdsa --role targets/y -o out`.
NOTARY_PUBLIC_B64 = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEerRTeUDYXztXQAxDn3BmRaGpBPlM"
    "tjf1b7mxLIrHUU7pK5Xo8l01E6gzJS7JVo0hvgsS4yLvV6ovuvVJAYxRKg=="
)
NOTARY_PUBLIC_PEM = f"""-----BEGIN PUBLIC KEY-----
role: targets/y

{NOTARY_PUBLIC_B64[:64]}
{NOTARY_PUBLIC_B64[64:]}
-----END PUBLIC KEY-----
""".encode()


# --------------------------------------------------------------------------- helpers


def tlv(data: bytes, pos: int = 0) -> tuple[int, bytes, int]:
    """One DER element: (tag, content, end). Independent of offtrust's codec."""
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    return tag, data[pos : pos + length], pos + length


def children(content: bytes) -> list[tuple[int, bytes]]:
    out = []
    pos = 0
    while pos < len(content):
        tag, value, pos = tlv(content, pos)
        out.append((tag, value))
    return out


def seq(data: bytes) -> list[tuple[int, bytes]]:
    tag, value, end = tlv(data)
    assert tag == 0x30
    assert end == len(data)
    return children(value)


@dataclass
class Pbes2:
    salt: bytes
    iterations_der: bytes
    kdf_param_count: int
    cipher_oid: bytes
    iv: bytes
    ciphertext: bytes


def parse_pbes2(der: bytes) -> Pbes2:
    """Take apart an EncryptedPrivateKeyInfo, asserting notary's exact shape."""
    (alg_tag, alg), (data_tag, ciphertext) = seq(der)
    assert (alg_tag, data_tag) == (0x30, 0x04)
    (oid_tag, oid), (_, params) = children(alg)
    assert (oid_tag, oid) == (0x06, OID_PBES2)
    (_, kdf), (_, enc) = children(params)
    (_, kdf_oid), (_, kdf_params) = children(kdf)
    assert kdf_oid == OID_PBKDF2
    kdf_items = children(kdf_params)
    (salt_tag, salt), (iter_tag, iterations) = kdf_items[:2]
    assert (salt_tag, iter_tag) == (0x04, 0x02)
    (_, cipher_oid), (iv_tag, iv) = children(enc)
    assert iv_tag == 0x04
    return Pbes2(salt, iterations, len(kdf_items), cipher_oid, iv, ciphertext)


def decrypt_notary_pkcs8(der: bytes, passphrase: str) -> bytes:
    """Decrypt like notary: PBKDF2-HMAC-SHA1, AES-256-CBC; strip PKCS#7 padding."""
    p = parse_pbes2(der)
    key = PBKDF2HMAC(hashes.SHA1(), 32, p.salt, int.from_bytes(p.iterations_der, "big")).derive(
        passphrase.encode()
    )
    dec = Cipher(algorithms.AES(key), modes.CBC(p.iv)).decryptor()
    padded = dec.update(p.ciphertext) + dec.finalize()
    unpadder = sym_padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def encrypt_notary_pkcs8(plaintext: bytes, passphrase: str) -> bytes:
    """Encrypt as notary's pkcs8.go does (fixed salt and IV: only a test helper)."""
    salt, iv = b"saltsalt", bytes(range(16))
    key = PBKDF2HMAC(hashes.SHA1(), 32, salt, 2048).derive(passphrase.encode())
    padder = sym_padding.PKCS7(128).padder()
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ciphertext = enc.update(padder.update(plaintext) + padder.finalize()) + enc.finalize()

    def wrap(tag: int, content: bytes) -> bytes:
        n = len(content)
        size = (n.bit_length() + 7) // 8
        length = bytes([n]) if n < 128 else bytes([0x80 | size]) + n.to_bytes(size, "big")
        return bytes([tag]) + length + content

    kdf = wrap(0x30, wrap(0x06, OID_PBKDF2) + wrap(0x30, wrap(0x04, salt) + b"\x02\x02\x08\x00"))
    enc_scheme = wrap(0x30, wrap(0x06, OID_AES256_CBC) + wrap(0x04, iv))
    algorithm = wrap(0x30, wrap(0x06, OID_PBES2) + wrap(0x30, kdf + enc_scheme))
    return wrap(0x30, algorithm + wrap(0x04, ciphertext))


def expected_keyid(keytype: str, public_b64: str) -> str:
    blob = f'{{"keytype":"{keytype}","keyval":{{"private":null,"public":"{public_b64}"}}}}'
    return hashlib.sha256(blob.encode()).hexdigest()


RawPrivate = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
RawPublic = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey


def pem_of(raw: RawPrivate, fmt: serialization.PrivateFormat, password: bytes | None) -> bytes:
    """A PEM private key as cryptography writes it."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return raw.private_bytes(serialization.Encoding.PEM, fmt, encryption)


def public_pem(raw: RawPublic) -> bytes:
    return raw.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture(scope="module")
def keys() -> dict[str, crypto.PrivateKey]:
    return {alg: crypto.generate_private_key(alg) for alg in ALGORITHMS}


@pytest.fixture(scope="module")
def rsa2048() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


# --------------------------------------------------------------------------- PEM


class TestPem:
    def test_go_written_file_reencodes_byte_for_byte(self) -> None:
        (block,) = crypto.parse_pem(NOTARY_SNAPSHOT_KEY)
        assert block.type == "ENCRYPTED PRIVATE KEY"
        assert block.headers == {"gun": "example.com/nf1", "role": "snapshot"}
        assert crypto.encode_pem(block) == NOTARY_SNAPSHOT_KEY

    def test_encode_orders_proc_type_first_then_sorted(self) -> None:
        block = crypto.PemBlock(
            "EC PRIVATE KEY",
            {"role": "r", "DEK-Info": "AES-256-CBC,00", "Proc-Type": "4,ENCRYPTED", "gun": "g"},
            bytes(range(100)),
        )
        lines = crypto.encode_pem(block).decode().split("\n")
        assert lines[:6] == [
            "-----BEGIN EC PRIVATE KEY-----",
            "Proc-Type: 4,ENCRYPTED",
            "DEK-Info: AES-256-CBC,00",
            "gun: g",
            "role: r",
            "",
        ]
        assert [len(line) for line in lines[6:-2]] == [64, 64, 8]
        assert lines[-2:] == ["-----END EC PRIVATE KEY-----", ""]

    def test_encode_without_headers_has_no_blank_line(self) -> None:
        out = crypto.encode_pem(crypto.PemBlock("CERTIFICATE", {}, b"\x01\x02"))
        assert out == b"-----BEGIN CERTIFICATE-----\nAQI=\n-----END CERTIFICATE-----\n"

    @pytest.mark.parametrize(
        "headers",
        [{"a:b": "c"}, {"role": "x\ny"}, {"ro\rle": "x"}],
        ids=["colon-in-key", "newline-in-value", "cr-in-key"],
    )
    def test_encode_refuses_unwritable_headers(self, headers: dict[str, str]) -> None:
        with pytest.raises(InvalidKeyError):
            crypto.encode_pem(crypto.PemBlock("PUBLIC KEY", headers, b"x"))

    def test_parse_many_blocks_with_noise_and_crlf(self) -> None:
        a = crypto.encode_pem(crypto.PemBlock("A", {"role": "root"}, b"first"))
        b = crypto.encode_pem(crypto.PemBlock("B", {}, b"second"))
        data = b"junk before\n" + a.replace(b"\n", b"\r\n") + b"between\n" + b + b"after"
        blocks = crypto.parse_pem(data)
        assert [(x.type, x.headers, x.der) for x in blocks] == [
            ("A", {"role": "root"}, b"first"),
            ("B", {}, b"second"),
        ]

    def test_parse_skips_broken_blocks_like_go(self) -> None:
        broken = b"-----BEGIN X-----\n!!!!\n-----END X-----\n"
        mismatched = b"-----BEGIN Y-----\nAQI=\n-----END Z-----\n"
        good = crypto.encode_pem(crypto.PemBlock("Z", {}, b"ok"))
        blocks = crypto.parse_pem(broken + mismatched + good)
        assert [(x.type, x.der) for x in blocks] == [("Z", b"ok")]

    @pytest.mark.parametrize("data", [b"", b"hello", b"-----BEGIN X-----\nAQI=\n"])
    def test_parse_without_block_raises(self, data: bytes) -> None:
        with pytest.raises(InvalidKeyError, match="not a PEM file"):
            crypto.parse_pem(data)

    def test_is_encrypted_block(self) -> None:
        assert crypto.is_encrypted_block(crypto.PemBlock("ENCRYPTED PRIVATE KEY", {}, b""))
        assert crypto.is_encrypted_block(
            crypto.PemBlock("EC PRIVATE KEY", {"Proc-Type": "4,ENCRYPTED"}, b"")
        )
        assert not crypto.is_encrypted_block(crypto.PemBlock("PRIVATE KEY", {"role": "x"}, b""))


# --------------------------------------------------------------------------- private keys


class TestPrivateKeyFiles:
    @pytest.mark.parametrize("algorithm", ALGORITHMS)
    @pytest.mark.parametrize(
        "passphrase", [None, "", "s3cret ünïcode"], ids=["none", "empty", "set"]
    )
    def test_round_trip(
        self, keys: dict[str, crypto.PrivateKey], algorithm: str, passphrase: str | None
    ) -> None:
        key = keys[algorithm]
        pem = crypto.encode_private_key(key, passphrase, {"role": "targets", "gun": "ex.com/a"})
        (block,) = crypto.parse_pem(pem)
        assert block.type == ("ENCRYPTED PRIVATE KEY" if passphrase else "PRIVATE KEY")
        assert pem.split(b"\n")[1:4] == [b"gun: ex.com/a", b"role: targets", b""]
        loaded = crypto.load_private_key_pem(pem, passphrase)
        assert loaded.algorithm == algorithm
        assert loaded.keyid == key.keyid
        assert loaded.public_key() == key.public_key()

    @pytest.mark.parametrize("algorithm", ALGORITHMS)
    def test_encrypted_structure_is_notarys(
        self, keys: dict[str, crypto.PrivateKey], algorithm: str
    ) -> None:
        pem = crypto.encode_private_key(keys[algorithm], "pw", {"role": "targets/a"})
        (block,) = crypto.parse_pem(pem)
        p = parse_pbes2(block.der)
        assert len(p.salt) == 8
        assert p.iterations_der == b"\x08\x00"  # 2048
        assert p.kdf_param_count == 2  # no keyLength, no PRF: HMAC-SHA1 implied
        assert p.cipher_oid == OID_AES256_CBC
        assert len(p.iv) == 16
        plaintext = decrypt_notary_pkcs8(block.der, "pw")  # also checks PKCS#7 padding
        assert plaintext == crypto.pkcs8_private_bytes(keys[algorithm])

    def test_encryption_is_salted(self, keys: dict[str, crypto.PrivateKey]) -> None:
        one = crypto.encode_private_key(keys["ed25519"], "pw", {})
        two = crypto.encode_private_key(keys["ed25519"], "pw", {})
        assert one != two

    def test_inner_ecdsa_is_version_1_with_curve_and_public_key(
        self, keys: dict[str, crypto.PrivateKey]
    ) -> None:
        (_, version), (_, alg), (_, private) = seq(crypto.pkcs8_private_bytes(keys["ecdsa"]))
        assert version == b"\x01"
        assert children(alg) == [(0x06, OID_EC), (0x06, OID_P256)]
        sec1 = seq(private)
        assert [tag for tag, _ in sec1] == [0x02, 0x04, 0xA0, 0xA1]
        assert sec1[0][1] == b"\x01"
        assert len(sec1[1][1]) == 32
        assert children(sec1[2][1]) == [(0x06, OID_P256)]
        spki_point = keys["ecdsa"].public_key().public_bytes[-65:]
        assert children(sec1[3][1]) == [(0x03, b"\x00" + spki_point)]

    def test_inner_rsa_has_no_null_parameter(self, keys: dict[str, crypto.PrivateKey]) -> None:
        (_, version), (_, alg), (tag, private) = seq(crypto.pkcs8_private_bytes(keys["rsa"]))
        assert version == b"\x00"
        assert children(alg) == [(0x06, OID_RSA)]
        assert tag == 0x04
        assert seq(private)[0] == (0x02, b"\x00")  # PKCS#1 version

    def test_inner_ed25519_is_notarys_96_bytes(self, keys: dict[str, crypto.PrivateKey]) -> None:
        key = keys["ed25519"]
        (_, version), (_, alg), (_, private) = seq(crypto.pkcs8_private_bytes(key))
        assert version == b"\x00"
        assert children(alg) == [(0x06, OID_ED25519_NOTARY)]
        public = key.public_key().public_bytes
        assert len(private) == 96
        assert private[:32] == public == private[64:]
        seed_key = crypto.ed25519_private_key_from_seed(private[32:64])
        assert seed_key.keyid == key.keyid

    def test_wrong_passphrase(self, keys: dict[str, crypto.PrivateKey]) -> None:
        pem = crypto.encode_private_key(keys["ecdsa"], "right", {})
        with pytest.raises(WrongPassphraseError, match="wrong passphrase"):
            crypto.load_private_key_pem(pem, "wrong")
        with pytest.raises(WrongPassphraseError):
            crypto.load_private_key_pem(pem, "")

    def test_missing_passphrase(self, keys: dict[str, crypto.PrivateKey]) -> None:
        pem = crypto.encode_private_key(keys["ecdsa"], "right", {})
        with pytest.raises(PassphraseRequiredError):
            crypto.load_private_key_pem(pem, None)

    def test_unencrypted_key_ignores_passphrase(self, keys: dict[str, crypto.PrivateKey]) -> None:
        pem = crypto.encode_private_key(keys["ecdsa"], None, {})
        assert crypto.load_private_key_pem(pem, "anything").keyid == keys["ecdsa"].keyid

    def test_key_encrypted_with_empty_passphrase_opens_without_one(
        self, keys: dict[str, crypto.PrivateKey]
    ) -> None:
        # Notary tries "" before asking, so such a key never needs a prompt.
        key = keys["ecdsa"]
        der = encrypt_notary_pkcs8(crypto.pkcs8_private_bytes(key), "")
        pem = crypto.encode_pem(crypto.PemBlock("ENCRYPTED PRIVATE KEY", {}, der))
        assert crypto.load_private_key_pem(pem, None).keyid == key.keyid
        assert crypto.load_private_key_pem(pem, "other").keyid == key.keyid

    def test_reads_cryptographys_pbes2_with_sha256_prf(self) -> None:
        raw = ec.generate_private_key(ec.SECP384R1())
        pem = pem_of(raw, serialization.PrivateFormat.PKCS8, b"pw")
        key = crypto.load_private_key_pem(pem, "pw")
        assert key.algorithm == "ecdsa"
        with pytest.raises(WrongPassphraseError):
            crypto.load_private_key_pem(pem, "nope")

    @pytest.mark.parametrize("fmt", ["pkcs8", "traditional"])
    @pytest.mark.parametrize("password", [None, b"pw"], ids=["plain", "encrypted"])
    def test_reads_standard_ec_and_rsa(
        self, rsa2048: rsa.RSAPrivateKey, fmt: str, password: bytes | None
    ) -> None:
        private_format = (
            serialization.PrivateFormat.PKCS8
            if fmt == "pkcs8"
            else serialization.PrivateFormat.TraditionalOpenSSL
        )
        for raw, algorithm in (
            (ec.generate_private_key(ec.SECP256R1()), "ecdsa"),
            (rsa2048, "rsa"),
        ):
            pem = pem_of(raw, private_format, password)
            key = crypto.load_private_key_pem(pem, password.decode() if password else None)
            assert key.algorithm == algorithm
            assert key.public_key().public_bytes == raw.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            if password:
                with pytest.raises(WrongPassphraseError):
                    crypto.load_private_key_pem(pem, "bad")
                with pytest.raises(PassphraseRequiredError):
                    crypto.load_private_key_pem(pem, None)

    def test_reads_rfc8410_ed25519(self) -> None:
        raw = ed25519.Ed25519PrivateKey.generate()
        key = crypto.load_private_key_pem(
            pem_of(raw, serialization.PrivateFormat.PKCS8, None), None
        )
        assert key.algorithm == "ed25519"
        assert key.public_key().public_bytes == raw.public_key().public_bytes_raw()

    def test_reads_legacy_ed25519_block(self, keys: dict[str, crypto.PrivateKey]) -> None:
        (_, _), (_, _), (_, private) = seq(crypto.pkcs8_private_bytes(keys["ed25519"]))
        pem = crypto.encode_pem(crypto.PemBlock("ED25519 PRIVATE KEY", {"role": "x"}, private))
        assert crypto.load_private_key_pem(pem, None).keyid == keys["ed25519"].keyid

    @pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
    @pytest.mark.parametrize("cipher", ["-des3", "-aes128", "-aes256"])
    def test_reads_openssl_dek_info(self, tmp_path: Path, cipher: str) -> None:
        raw = ec.generate_private_key(ec.SECP256R1())
        plain = tmp_path / "plain.pem"
        plain.write_bytes(pem_of(raw, serialization.PrivateFormat.TraditionalOpenSSL, None))
        out = tmp_path / "enc.pem"
        subprocess.run(
            ["openssl", "ec", "-in", plain, cipher, "-passout", "pass:pw", "-out", out],
            check=True,
            capture_output=True,
        )
        data = out.read_bytes()
        assert b"DEK-Info" in data
        expected = crypto.load_private_key_pem(plain.read_bytes(), None).keyid
        assert crypto.load_private_key_pem(data, "pw").keyid == expected
        with pytest.raises(WrongPassphraseError):
            crypto.load_private_key_pem(data, "bad")

    def test_refuses_short_rsa_private_key(self) -> None:
        raw = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        with pytest.raises(InvalidKeyError, match="too short"):
            crypto.load_private_key_pem(pem_of(raw, serialization.PrivateFormat.PKCS8, None), None)

    def test_refuses_unsupported_curve(self) -> None:
        raw = ec.generate_private_key(ec.SECP256K1())
        with pytest.raises(InvalidKeyError, match="curve"):
            crypto.load_private_key_pem(pem_of(raw, serialization.PrivateFormat.PKCS8, None), None)

    def test_refuses_inconsistent_ed25519(self, keys: dict[str, crypto.PrivateKey]) -> None:
        (_, _), (_, _), (_, private) = seq(crypto.pkcs8_private_bytes(keys["ed25519"]))
        broken = bytes(32) + private[32:]
        pem = crypto.encode_pem(crypto.PemBlock("ED25519 PRIVATE KEY", {}, broken))
        with pytest.raises(InvalidKeyError, match="does not match"):
            crypto.load_private_key_pem(pem, None)

    def test_refuses_pkcs8_under_legacy_label(self, keys: dict[str, crypto.PrivateKey]) -> None:
        der = crypto.pkcs8_private_bytes(keys["ecdsa"])
        pem = crypto.encode_pem(crypto.PemBlock("EC PRIVATE KEY", {}, der))
        with pytest.raises(InvalidKeyError):
            crypto.load_private_key_pem(pem, None)

    @pytest.mark.parametrize(
        ("block_type", "der"),
        [
            ("PRIVATE KEY", b"garbage"),
            ("PRIVATE KEY", b"\x30\x03\x02\x01\x00"),
            ("ENCRYPTED PRIVATE KEY", b"\x30\x00"),
            ("EC PRIVATE KEY", b"\x04\x02ab"),
            ("RSA PRIVATE KEY", b"\x30\x06\x02\x01\x00\x02\x01\x05"),
            ("ED25519 PRIVATE KEY", bytes(95)),
            ("CERTIFICATE", b"\x30\x00"),
            ("DSA PRIVATE KEY", b"\x30\x00"),
        ],
        ids=lambda v: v if isinstance(v, str) else None,
    )
    def test_garbage_raises_invalid_key(self, block_type: str, der: bytes) -> None:
        with pytest.raises(InvalidKeyError):
            crypto.decrypt_private_key(crypto.PemBlock(block_type, {}, der), "pw")

    def test_unsupported_encryption_is_named(self, keys: dict[str, crypto.PrivateKey]) -> None:
        pem = crypto.encode_private_key(keys["ecdsa"], "pw", {})
        (block,) = crypto.parse_pem(pem)
        tampered = block.der.replace(OID_AES256_CBC, OID_AES256_CBC[:-1] + b"\x2b")  # aes256-ofb
        with pytest.raises(InvalidKeyError, match="unsupported key cipher"):
            crypto.decrypt_private_key(crypto.PemBlock(block.type, {}, tampered), "pw")

    def test_no_private_key_in_file(self) -> None:
        with pytest.raises(InvalidKeyError, match="no private key"):
            crypto.load_private_key_pem(NOTARY_PUBLIC_PEM, None)

    @pytest.mark.parametrize("algorithm", ALGORITHMS)
    @pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
    def test_corrupted_files_only_raise_key_errors(
        self,
        keys: dict[str, crypto.PrivateKey],
        rsa2048: rsa.RSAPrivateKey,
        algorithm: str,
        encrypted: bool,
    ) -> None:
        key = keys[algorithm]
        rounds = 150
        if algorithm == "rsa":
            # A corrupted RSA body costs a slow consistency check; keep it small.
            key = crypto.load_private_key_pem(
                pem_of(rsa2048, serialization.PrivateFormat.PKCS8, None), None
            )
            rounds = 40
        pem = crypto.encode_private_key(key, "pw" if encrypted else None, {})
        (block,) = crypto.parse_pem(pem)
        rng = random.Random(f"{algorithm}-{encrypted}")
        for _ in range(rounds):
            der = bytearray(block.der)
            for _ in range(rng.randint(1, 3)):
                der[rng.randrange(len(der))] = rng.randrange(256)
            cut = rng.choice([len(der), rng.randrange(len(der))])
            with contextlib.suppress(KeyAccessError):
                crypto.decrypt_private_key(crypto.PemBlock(block.type, {}, bytes(der[:cut])), "pw")

    def test_repr_hides_secrets(self, keys: dict[str, crypto.PrivateKey]) -> None:
        key = keys["ed25519"]
        (_, _), (_, _), (_, private) = seq(crypto.pkcs8_private_bytes(key))
        text = repr(key)
        assert text == f"PrivateKey(ed25519, {key.keyid[:12]})"
        assert private[32:64].hex() not in text
        with pytest.raises(TypeError):
            __import__("pickle").dumps(key)

    def test_generate_unknown_algorithm(self) -> None:
        with pytest.raises(InvalidKeyError, match="unsupported key algorithm"):
            crypto.generate_private_key("dsa")

    def test_generated_sizes(self, keys: dict[str, crypto.PrivateKey]) -> None:
        assert len(keys["ecdsa"].public_key().public_bytes) == 91  # P-256 SPKI
        assert len(keys["ed25519"].public_key().public_bytes) == 32
        rsa_public = serialization.load_der_public_key(keys["rsa"].public_key().public_bytes)
        assert isinstance(rsa_public, rsa.RSAPublicKey)
        assert rsa_public.key_size == 4096


# --------------------------------------------------------------------------- signatures


MESSAGE = b'{"_type":"Targets","expires":"2030-01-01T00:00:00Z","version":1}'


class TestSignatures:
    @pytest.mark.parametrize(
        ("algorithm", "method", "length"),
        [("ecdsa", "ecdsa", 64), ("rsa", "rsapss", 512), ("ed25519", "eddsa", 64)],
    )
    def test_sign_and_verify(
        self, keys: dict[str, crypto.PrivateKey], algorithm: str, method: str, length: int
    ) -> None:
        key = keys[algorithm]
        got_method, signature = key.sign(MESSAGE)
        assert (got_method, len(signature)) == (method, length)
        assert got_method == key.public_key().method
        public = key.public_key()
        assert crypto.verify_signature(public, method, signature, MESSAGE)
        assert crypto.verify_signature(public, method.upper(), signature, MESSAGE)
        assert not crypto.verify_signature(public, method, signature, MESSAGE + b" ")
        flipped = bytes([signature[0] ^ 1]) + signature[1:]
        assert not crypto.verify_signature(public, method, flipped, MESSAGE)

    def test_ecdsa_signature_is_raw_and_checks_independently(
        self, keys: dict[str, crypto.PrivateKey]
    ) -> None:
        key = keys["ecdsa"]
        _, signature = key.sign(MESSAGE)
        public = serialization.load_der_public_key(key.public_key().public_bytes)
        assert isinstance(public, ec.EllipticCurvePublicKey)
        der = encode_dss(signature)
        public.verify(der, MESSAGE, ec.ECDSA(hashes.SHA256()))
        assert not crypto.verify_signature(key.public_key(), "ecdsa", der, MESSAGE)

    def test_ecdsa_pads_short_components(self, keys: dict[str, crypto.PrivateKey]) -> None:
        # About 1 in 128 signatures has a short r or s; sign until one shows up.
        key = keys["ecdsa"]
        for i in range(2000):
            _, signature = key.sign(MESSAGE + str(i).encode())
            assert len(signature) == 64
            if signature[0] == 0 or signature[32] == 0:
                assert crypto.verify_signature(
                    key.public_key(), "ecdsa", signature, MESSAGE + str(i).encode()
                )
                return
        pytest.fail("no short component in 2000 signatures")

    def test_rsapss_uses_salt_32(self, keys: dict[str, crypto.PrivateKey]) -> None:
        key = keys["rsa"]
        _, signature = key.sign(MESSAGE)
        public = serialization.load_der_public_key(key.public_key().public_bytes)
        assert isinstance(public, rsa.RSAPublicKey)
        public.verify(
            signature,
            MESSAGE,
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
            hashes.SHA256(),
        )

    def test_rsapss_other_salt_refused(self, rsa2048: rsa.RSAPrivateKey) -> None:
        public = rsa_public_key(rsa2048)
        signature = rsa2048.sign(
            MESSAGE,
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=64),
            hashes.SHA256(),
        )
        assert not crypto.verify_signature(public, "rsapss", signature, MESSAGE)

    def test_rsapkcs1v15_and_pycrypto(self, rsa2048: rsa.RSAPrivateKey) -> None:
        public = rsa_public_key(rsa2048)
        v15 = rsa2048.sign(MESSAGE, padding.PKCS1v15(), hashes.SHA256())
        assert crypto.verify_signature(public, "rsapkcs1v15", v15, MESSAGE)
        assert not crypto.verify_signature(public, "rsapss", v15, MESSAGE)
        pss = rsa2048.sign(
            MESSAGE, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256()
        )
        pem_key = PublicKey.from_bytes("rsa", public_pem(rsa2048.public_key()))
        assert crypto.verify_signature(pem_key, "PyCrypto-PKCS#1 PSS", pss, MESSAGE)
        assert not crypto.verify_signature(public, "pycrypto-pkcs#1 pss", pss, MESSAGE)
        assert not crypto.verify_signature(pem_key, "rsapss", pss, MESSAGE)

    def test_short_rsa_never_verifies(self) -> None:
        raw = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        public = rsa_public_key(raw)
        pss = raw.sign(
            MESSAGE, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256()
        )
        assert not crypto.verify_signature(public, "rsapss", pss, MESSAGE)

    def test_x509_keys_verify(self, keys: dict[str, crypto.PrivateKey]) -> None:
        for algorithm in ("ecdsa", "rsa"):
            key = keys[algorithm]
            cert = crypto.make_root_certificate(key, "example.com/a", NOW)
            method, signature = key.sign(MESSAGE)
            assert cert.method == method
            assert crypto.verify_signature(cert, method, signature, MESSAGE)
            assert not crypto.verify_signature(cert, method, signature, MESSAGE[:-1])

    @pytest.mark.parametrize(
        ("keytype", "method"),
        [
            ("rsa", "ecdsa"),
            ("ecdsa", "rsapss"),
            ("ed25519", "ecdsa"),
            ("ecdsa", "eddsa"),
            ("ecdsa", "hmac"),
            ("ecdsa-x509", "ecdsa"),
        ],
    )
    def test_mismatches_and_unknowns_are_false(
        self, keys: dict[str, crypto.PrivateKey], keytype: str, method: str
    ) -> None:
        source = {"rsa": "ecdsa", "ecdsa": "ecdsa", "ed25519": "ed25519", "ecdsa-x509": "ecdsa"}
        key = keys[source[keytype]]
        _, signature = key.sign(MESSAGE)
        wrong = PublicKey(keytype, key.public_key().public)
        assert not crypto.verify_signature(wrong, method, signature, MESSAGE)

    @pytest.mark.parametrize(
        ("keytype", "public"),
        [
            ("ecdsa", "not base64!"),
            ("ecdsa", base64.b64encode(b"\x30\x03\x02\x01\x00").decode()),
            ("rsa", ""),
            ("rsa-x509", base64.b64encode(b"no pem").decode()),
            ("ed25519", "AAAA"),
        ],
    )
    @pytest.mark.parametrize(
        "method", ["ecdsa", "rsapss", "rsapkcs1v15", "pycrypto-pkcs#1 pss", "eddsa"]
    )
    def test_unparsable_keys_are_false(self, keytype: str, public: str, method: str) -> None:
        key = PublicKey(keytype, public)
        assert crypto.verify_signature(key, method, bytes(64), MESSAGE) is False
        assert crypto.verify_signature(key, method, bytes(512), MESSAGE) is False

    def test_rsa_spki_without_null_refused_like_go(self, rsa2048: rsa.RSAPrivateKey) -> None:
        spki = rsa_public_key(rsa2048).public_bytes
        stripped = spki.replace(
            b"\x30\x0d\x06\x09" + OID_RSA + b"\x05\x00", b"\x30\x0b\x06\x09" + OID_RSA
        )
        # Outer length shrinks by 2 (0x0122 -> 0x0120).
        stripped = (
            stripped[:2]
            + (int.from_bytes(stripped[2:4], "big") - 2).to_bytes(2, "big")
            + stripped[4:]
        )
        pss = rsa2048.sign(
            MESSAGE, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256()
        )
        assert crypto.verify_signature(rsa_public_key(rsa2048), "rsapss", pss, MESSAGE)
        assert not crypto.verify_signature(
            PublicKey.from_bytes("rsa", stripped), "rsapss", pss, MESSAGE
        )

    def test_a_key_is_parsed_once_and_a_refused_one_is_refused_every_time(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from offtrust.crypto import public

        raw = ec.generate_private_key(ec.SECP256R1())
        spki = raw.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        key = PublicKey.from_bytes("ecdsa", spki)
        der = raw.sign(MESSAGE, ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss(der)
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        loads: list[bytes] = []
        real = serialization.load_der_public_key

        def counting(data: bytes, backend: object = None) -> object:
            loads.append(data)
            return real(data)

        monkeypatch.setattr(public.serialization, "load_der_public_key", counting)
        public._load_spki.cache_clear()
        for _ in range(3):
            assert crypto.verify_signature(key, "ecdsa", signature, MESSAGE)
            assert not crypto.verify_signature(key, "ecdsa", signature, MESSAGE + b"x")
        assert loads == [spki]
        broken = PublicKey.from_bytes("ecdsa", spki[:-1])
        for _ in range(2):
            assert not crypto.verify_signature(broken, "ecdsa", signature, MESSAGE)
        assert loads == [spki, spki[:-1], spki[:-1]]


def encode_dss(raw: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    half = len(raw) // 2
    return encode_dss_signature(
        int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
    )


def rsa_public_key(raw: rsa.RSAPrivateKey) -> PublicKey:
    return PublicKey.from_bytes(
        "rsa",
        raw.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )


# --------------------------------------------------------------------------- public keys


def make_cert(
    private: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    *,
    cn: str = "cn",
    ca: bool = False,
    algorithm: hashes.HashAlgorithm | None = None,
    issuer_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | None = None,
    not_before: datetime = NOW,
    not_after: datetime = NOW + timedelta(days=30),
) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(7)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(issuer_key or private, algorithm or hashes.SHA256())  # type: ignore[arg-type]
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def edit_certificate(pem: bytes, old: bytes, new: bytes) -> bytes:
    """Replace bytes of equal length in a certificate (its signature goes stale)."""
    assert len(old) == len(new)
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    assert old in der
    return crypto.encode_pem(crypto.PemBlock("CERTIFICATE", {}, der.replace(old, new)))


SHA256_WITH_RSA = bytes.fromhex("2a864886f70d01010b")
SHA1_WITH_RSA = bytes.fromhex("2a864886f70d010105")


def sha1_certificate(pem: bytes) -> bytes:
    """Relabel an RSA-SHA256 certificate as SHA-1 signed (cryptography 48 cannot sign SHA-1)."""
    return edit_certificate(pem, SHA256_WITH_RSA, SHA1_WITH_RSA)


class TestPublicKeys:
    def test_known_ecdsa_key_id(self) -> None:
        key = crypto.load_public_key_pem(NOTARY_PUBLIC_PEM)
        assert key.keytype == "ecdsa"
        assert key.public == NOTARY_PUBLIC_B64
        blob = (
            b'{"keytype":"ecdsa","keyval":{"private":null,"public":"'
            + NOTARY_PUBLIC_B64.encode()
            + b'"}}'
        )
        assert key.keyid == hashlib.sha256(blob).hexdigest()
        assert crypto.canonical_keyid(key) == key.keyid

    def test_encode_public_key_pem_matches_notary(self) -> None:
        key = crypto.load_public_key_pem(NOTARY_PUBLIC_PEM)
        assert crypto.encode_public_key_pem(key, {"role": "targets/y"}) == NOTARY_PUBLIC_PEM

    @pytest.mark.parametrize("algorithm", ["ecdsa", "rsa"])
    def test_public_round_trip(self, keys: dict[str, crypto.PrivateKey], algorithm: str) -> None:
        public = keys[algorithm].public_key()
        pem = crypto.encode_public_key_pem(public)
        assert pem.startswith(b"-----BEGIN PUBLIC KEY-----\n")
        assert crypto.load_public_key_pem(pem) == public

    def test_ed25519_public_written_as_rfc8410_but_refused_as_signer_key(
        self, keys: dict[str, crypto.PrivateKey]
    ) -> None:
        pem = crypto.encode_public_key_pem(keys["ed25519"].public_key(), {"role": "ed"})
        block = crypto.parse_pem(pem)[0]
        loaded = serialization.load_der_public_key(block.der)
        assert isinstance(loaded, ed25519.Ed25519PublicKey)
        assert loaded.public_bytes_raw() == keys["ed25519"].public_key().public_bytes
        # Like notary, a PEM ed25519 public key cannot become a delegation key.
        with pytest.raises(InvalidKeyError, match="ed25519"):
            crypto.load_public_key_pem(pem)
        pem = public_pem(ed25519.Ed25519PrivateKey.generate().public_key())
        with pytest.raises(InvalidKeyError, match="ed25519"):
            crypto.load_public_key_pem(pem)

    def test_rsa_1024_refused(self) -> None:
        raw = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        with pytest.raises(InvalidKeyError, match="too short"):
            crypto.load_public_key_pem(public_pem(raw.public_key()))
        with pytest.raises(InvalidKeyError, match="too short"):
            crypto.load_public_key_pem(make_cert(raw))

    def test_rsa_2048_accepted(self, rsa2048: rsa.RSAPrivateKey) -> None:
        key = crypto.load_public_key_pem(public_pem(rsa2048.public_key()))
        assert key == rsa_public_key(rsa2048)

    def test_compressed_point_refused(self) -> None:
        raw = ec.generate_private_key(ec.SECP256R1()).public_key()
        der = raw.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        point = raw.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
        )
        prefix = der[: -65 - 3]  # SEQUENCE{alg} of the SPKI
        body = prefix[2:] + b"\x03" + bytes([len(point) + 1, 0]) + point
        compressed = b"\x30" + bytes([len(body)]) + body
        pem = crypto.encode_pem(crypto.PemBlock("PUBLIC KEY", {}, compressed))
        with pytest.raises(InvalidKeyError):
            crypto.load_public_key_pem(pem)

    def test_certificate_uses_first_block_reencoded(self) -> None:
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        ca_key = ec.generate_private_key(ec.SECP256R1())
        leaf = make_cert(leaf_key, cn="leaf", issuer_key=ca_key)
        ca = make_cert(ca_key, cn="ca", ca=True)
        # Extra text, a header and CRLF line ends must not change the key.
        messy = b"comment\r\n" + leaf.replace(b"\n", b"\r\n") + ca
        key = crypto.load_public_key_pem(messy)
        assert key.keytype == "ecdsa-x509"
        assert key.public_bytes == leaf
        assert key.keyid == expected_keyid("ecdsa-x509", base64.b64encode(leaf).decode())

    def test_sha1_certificate_refused(self, rsa2048: rsa.RSAPrivateKey) -> None:
        pem = sha1_certificate(make_cert(rsa2048))
        assert x509.load_pem_x509_certificate(pem).signature_algorithm_oid == (
            SignatureAlgorithmOID.RSA_WITH_SHA1
        )
        with pytest.raises(InvalidKeyError, match="SHA1"):
            crypto.load_public_key_pem(pem)

    def test_inverted_validity_refused(self) -> None:
        raw = ec.generate_private_key(ec.SECP256R1())
        pem = make_cert(raw, not_before=NOW, not_after=NOW + timedelta(days=1))
        # UTCTime values: swap the two dates to invert the window.
        start, end = b"240501123045Z", b"240502123045Z"
        swapped = edit_certificate(pem, start + b"\x17\x0d" + end, end + b"\x17\x0d" + start)
        with pytest.raises(InvalidKeyError, match="validity"):
            crypto.load_public_key_pem(swapped)

    @pytest.mark.parametrize(
        "data",
        [
            b"garbage",
            NOTARY_SNAPSHOT_KEY,
            b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        ],
        ids=["not-pem", "private-key", "bad-der"],
    )
    def test_invalid_public_inputs(self, data: bytes) -> None:
        with pytest.raises(InvalidKeyError):
            crypto.load_public_key_pem(data)

    def test_canonical_public_key_of_plain_key_is_itself(
        self, keys: dict[str, crypto.PrivateKey]
    ) -> None:
        for key in keys.values():
            assert crypto.canonical_public_key(key.public_key()) is key.public_key()

    def test_canonical_skips_certificates_with_headers(self) -> None:
        raw = ec.generate_private_key(ec.SECP256R1())
        pem = make_cert(raw)
        other = make_cert(ec.generate_private_key(ec.SECP256R1()))
        with_header = other.replace(b"-----\n", b"-----\nnote: x\n\n", 1)
        key = PublicKey.from_bytes("ecdsa-x509", with_header + pem)
        expected = raw.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        assert crypto.canonical_public_key(key) == PublicKey.from_bytes("ecdsa", expected)

    def test_canonical_without_certificate(self) -> None:
        with pytest.raises(InvalidKeyError):
            crypto.canonical_keyid(PublicKey.from_bytes("rsa-x509", b"nothing"))


# --------------------------------------------------------------------------- certificates


class TestRootCertificates:
    @pytest.mark.parametrize("algorithm", ["ecdsa", "rsa"])
    def test_fields_match_notary(self, keys: dict[str, crypto.PrivateKey], algorithm: str) -> None:
        key = keys[algorithm]
        public = crypto.make_root_certificate(key, "example.com/app", NOW)
        assert public.keytype == f"{algorithm}-x509"
        text = public.public_bytes
        lines = text.decode().split("\n")
        assert lines[0] == "-----BEGIN CERTIFICATE-----"
        assert lines[-2:] == ["-----END CERTIFICATE-----", ""]
        assert all(len(line) == 64 for line in lines[1:-3])
        assert public.keyid == expected_keyid(public.keytype, base64.b64encode(text).decode())

        cert = x509.load_pem_x509_certificate(text)
        cn = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "example.com/app")])
        assert cert.subject == cn
        assert cert.issuer == cn
        assert 0 < cert.serial_number < 2**128
        start = NOW.replace(microsecond=0)
        assert cert.not_valid_before_utc == start
        assert cert.not_valid_after_utc == start + timedelta(days=3650)
        assert [e.oid for e in cert.extensions] == [
            ExtensionOID.KEY_USAGE,
            ExtensionOID.EXTENDED_KEY_USAGE,
            ExtensionOID.BASIC_CONSTRAINTS,
        ]
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
        assert usage.critical
        assert usage.value.digital_signature
        assert usage.value.key_encipherment
        assert not usage.value.key_cert_sign
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
        assert list(eku.value) == [ExtendedKeyUsageOID.CODE_SIGNING]
        basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        assert basic.critical
        assert not basic.value.ca
        expected_sig = (
            SignatureAlgorithmOID.ECDSA_WITH_SHA256
            if algorithm == "ecdsa"
            else SignatureAlgorithmOID.RSA_WITH_SHA256
        )
        assert cert.signature_algorithm_oid == expected_sig
        # Go writes the CN as a PrintableString (tag 0x13) when it can.
        assert b"\x13\x0fexample.com/app" in cert.public_bytes(serialization.Encoding.DER)
        # Self-signed with the root key itself.
        cert.verify_directly_issued_by(cert)

        assert crypto.canonical_keyid(public) == key.keyid
        assert crypto.canonical_public_key(public) == key.public_key()
        assert crypto.load_public_key_pem(text) == public

    def test_certificate_info(self, keys: dict[str, crypto.PrivateKey]) -> None:
        public = crypto.make_root_certificate(keys["ecdsa"], "ex.com/a", NOW, days=30)
        info = crypto.certificate_info(public)
        start = NOW.replace(microsecond=0)
        assert info == crypto.CertificateInfo(
            common_name="ex.com/a",
            not_before=start,
            not_after=start + timedelta(days=30),
            is_ca=False,
            uses_sha1=False,
            leaf_count=1,
        )
        assert info.not_before.tzinfo is not None

    def test_certificate_info_chain(self, rsa2048: rsa.RSAPrivateKey) -> None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        leaf = sha1_certificate(make_cert(rsa2048, cn="leaf"))
        chain = make_cert(ca_key, cn="ca", ca=True) + leaf
        info = crypto.certificate_info(PublicKey.from_bytes("rsa-x509", chain))
        assert (info.common_name, info.is_ca, info.uses_sha1, info.leaf_count) == (
            "leaf",
            False,
            True,
            1,
        )
        only_ca = make_cert(ca_key, cn="ca", ca=True)
        info = crypto.certificate_info(PublicKey.from_bytes("ecdsa-x509", only_ca))
        assert (info.is_ca, info.leaf_count) == (True, 0)

    def test_certificate_info_not_yet_valid(self) -> None:
        raw = ec.generate_private_key(ec.SECP256R1())
        start = NOW + timedelta(days=365)
        pem = make_cert(raw, not_before=start, not_after=start + timedelta(days=30))
        info = crypto.certificate_info(PublicKey.from_bytes("ecdsa-x509", pem))
        assert info.not_before == start.replace(microsecond=0)
        assert info.not_before.tzinfo is not None
        assert info.not_before > NOW
        assert info.leaf_count == 1

    def test_certificate_info_counts_every_leaf(self) -> None:
        first = make_cert(ec.generate_private_key(ec.SECP256R1()), cn="first")
        second = make_cert(ec.generate_private_key(ec.SECP256R1()), cn="second")
        ca = make_cert(ec.generate_private_key(ec.SECP256R1()), cn="ca", ca=True)
        info = crypto.certificate_info(PublicKey.from_bytes("ecdsa-x509", ca + first + second))
        # Notary refuses such a root key; the first leaf is the one described.
        assert (info.common_name, info.is_ca, info.leaf_count) == ("first", False, 2)
        info = crypto.certificate_info(PublicKey.from_bytes("ecdsa-x509", first))
        assert (info.common_name, info.leaf_count) == ("first", 1)

    def test_certificate_info_refuses_plain_keys(self, keys: dict[str, crypto.PrivateKey]) -> None:
        with pytest.raises(InvalidKeyError):
            crypto.certificate_info(keys["ecdsa"].public_key())
        with pytest.raises(InvalidKeyError):
            crypto.certificate_info(PublicKey.from_bytes("rsa-x509", NOTARY_PUBLIC_PEM))

    def test_ed25519_root_refused(self, keys: dict[str, crypto.PrivateKey]) -> None:
        with pytest.raises(InvalidKeyError, match="ed25519"):
            crypto.make_root_certificate(keys["ed25519"], "ex.com/a", NOW)

    def test_naive_time_refused(self, keys: dict[str, crypto.PrivateKey]) -> None:
        with pytest.raises(ValueError, match="timezone"):
            crypto.make_root_certificate(keys["ecdsa"], "ex.com/a", datetime(2024, 1, 1))  # noqa: DTZ001

    def test_fresh_certificate_each_time(self, keys: dict[str, crypto.PrivateKey]) -> None:
        one = crypto.make_root_certificate(keys["ecdsa"], "ex.com/a", NOW)
        two = crypto.make_root_certificate(keys["ecdsa"], "ex.com/a", NOW)
        assert one.keyid != two.keyid
        assert crypto.canonical_keyid(one) == crypto.canonical_keyid(two)


# --------------------------------------------------------------------------- notary interop

NOTARY = shutil.which("notary")
PASSPHRASE = "interop-passphrase"


@dataclass
class Notary:
    """The real notary CLI on a private trust directory."""

    home: Path

    @property
    def trust(self) -> Path:
        return self.home / "trust"

    @property
    def private(self) -> Path:
        return self.trust / "private"

    def run(
        self, *args: str, passphrase: str = PASSPHRASE, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        assert NOTARY is not None
        env = {
            **os.environ,
            "HOME": str(self.home),
            **{
                f"NOTARY_{role}_PASSPHRASE": passphrase
                for role in ("ROOT", "TARGETS", "SNAPSHOT", "DELEGATION")
            },
        }
        proc = subprocess.run(
            [NOTARY, "-d", str(self.trust), *args],
            env=env,
            cwd=self.home,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check:
            assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    def key_files(self) -> dict[str, bytes]:
        return {p.stem: p.read_bytes() for p in sorted(self.private.glob("*.key"))}


@pytest.fixture
def notary(tmp_path: Path) -> Notary:
    return Notary(tmp_path)


def assert_notary_file(keyid: str, data: bytes, role: str) -> crypto.PrivateKey:
    """A file notary wrote: its encoding, header, plaintext and key ID are ours too."""
    (block,) = crypto.parse_pem(data)
    assert block.type == "ENCRYPTED PRIVATE KEY"
    assert block.headers == {"role": role}
    key = crypto.decrypt_private_key(block, PASSPHRASE)
    assert key.keyid == keyid
    assert decrypt_notary_pkcs8(block.der, PASSPHRASE) == crypto.pkcs8_private_bytes(key)
    p = parse_pbes2(block.der)
    assert (len(p.salt), p.iterations_der, p.kdf_param_count) == (8, b"\x08\x00", 2)
    with pytest.raises(WrongPassphraseError):
        crypto.decrypt_private_key(block, "not-" + PASSPHRASE)
    return key


@pytest.mark.interop
@pytest.mark.skipif(NOTARY is None, reason="the notary binary is not on PATH")
class TestNotaryInterop:
    @pytest.mark.parametrize("role", ["root", "targets/releases"])
    def test_reads_keys_notary_generates(self, notary: Notary, role: str) -> None:
        notary.run("key", "generate", "ecdsa", "--role", role)
        ((keyid, data),) = notary.key_files().items()
        key = assert_notary_file(keyid, data, role)
        assert keyid in notary.run("key", "list").stdout
        method, signature = key.sign(MESSAGE)
        assert crypto.verify_signature(key.public_key(), method, signature, MESSAGE)

    def test_public_key_notary_exports(self, notary: Notary) -> None:
        notary.run("key", "generate", "ecdsa", "--role", "targets/y", "-o", "out")
        private = crypto.load_private_key_pem(
            (notary.home / "out-key.pem").read_bytes(), PASSPHRASE
        )
        public_text = (notary.home / "out.pem").read_bytes()
        public = crypto.load_public_key_pem(public_text)
        assert public.keyid == private.keyid
        assert crypto.encode_public_key_pem(public, {"role": "targets/y"}) == public_text

    @pytest.mark.parametrize("algorithm", ALGORITHMS)
    def test_notary_decrypts_our_encrypted_keys(
        self, notary: Notary, keys: dict[str, crypto.PrivateKey], algorithm: str
    ) -> None:
        key = keys[algorithm]
        pem = crypto.encode_private_key(
            key, PASSPHRASE, {"role": "targets/releases", "path": key.keyid}
        )
        (notary.home / "in.pem").write_bytes(pem)
        # Notary imports an encrypted block only with a path header, and stores it as is.
        notary.run("key", "import", "in.pem")
        listing = notary.run("key", "list").stdout
        assert key.keyid in listing
        assert "targets/releases" in listing
        stored = notary.key_files()[key.keyid]
        (block,) = crypto.parse_pem(pem)
        assert stored == crypto.encode_pem(
            crypto.PemBlock(block.type, {"role": "targets/releases"}, block.der)
        )
        assert crypto.load_private_key_pem(stored, PASSPHRASE).keyid == key.keyid
        # `key passwd` makes notary decrypt our file (a wrong passphrase must fail) ...
        failed = notary.run("key", "passwd", key.keyid, passphrase="wrong", check=False)
        assert failed.returncode != 0
        notary.run("key", "passwd", key.keyid)
        # ... and re-encrypt it with its own code, which we must read back.
        rewritten = notary.key_files()[key.keyid]
        assert rewritten != stored
        assert_notary_file(key.keyid, rewritten, "targets/releases")

    @pytest.mark.parametrize("algorithm", ALGORITHMS)
    def test_notary_imports_our_unencrypted_keys(
        self, notary: Notary, keys: dict[str, crypto.PrivateKey], algorithm: str
    ) -> None:
        key = keys[algorithm]
        (notary.home / "in.pem").write_bytes(crypto.encode_private_key(key, None, {}))
        notary.run("key", "import", "in.pem", "--role", "targets/releases")
        ((keyid, data),) = notary.key_files().items()
        assert keyid == key.keyid
        assert_notary_file(keyid, data, "targets/releases")

    @pytest.mark.parametrize("algorithm", ["ecdsa", "rsa"])
    def test_reads_keys_notary_reencodes_from_standard_pkcs8(
        self, notary: Notary, rsa2048: rsa.RSAPrivateKey, algorithm: str
    ) -> None:
        raw: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = (
            ec.generate_private_key(ec.SECP256R1()) if algorithm == "ecdsa" else rsa2048
        )
        (notary.home / "in.pem").write_bytes(pem_of(raw, serialization.PrivateFormat.PKCS8, None))
        notary.run("key", "import", "in.pem", "--role", "targets/releases")
        ((keyid, data),) = notary.key_files().items()
        key = assert_notary_file(keyid, data, "targets/releases")
        assert key.public_key().public_bytes == raw.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def test_reads_notary_export(self, notary: Notary) -> None:
        notary.run("key", "generate", "ecdsa")
        notary.run("key", "generate", "ecdsa", "--role", "targets/a")
        notary.run("key", "export", "-o", "export.pem")
        blocks = crypto.parse_pem((notary.home / "export.pem").read_bytes())
        assert len(blocks) == 2
        for block in blocks:
            assert crypto.decrypt_private_key(block, PASSPHRASE).keyid == block.headers["path"]
            assert crypto.encode_pem(block) in (notary.home / "export.pem").read_bytes()
        assert {b.headers["path"] for b in blocks} == set(notary.key_files())
