"""The private key store: both layouts, headers, modes, passphrases."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from builders import EXAMPLE, EXAMPLE_TRUST, REPOSITORY_PASSPHRASE, ROOT_PASSPHRASE, ed25519_key
from pyfakefs.fake_filesystem import FakeFilesystem

from offtrust import crypto
from offtrust.crypto import PrivateKey
from offtrust.errors import (
    InvalidKeyError,
    NotFoundError,
    PassphraseRequiredError,
    UsageError,
    WrongPassphraseError,
)
from offtrust.passphrase import Passphrases
from offtrust.store import _fs
from offtrust.store.keystore import KeyStore, read_pem_headers
from offtrust.store.layout import TrustDir
from offtrust.store.lock import trust_lock

TRUST = Path("/trust")
KEY_PASSPHRASE = "a-test-passphrase"  # TEST ONLY


class FixedPassphrases:
    """A passphrase source that offers the same passphrase every time and counts asks."""

    def __init__(self, passphrase: str) -> None:
        self.passphrase = passphrase
        self.attempts: list[int] = []

    def __call__(self, role: str, keyid: str, attempt: int) -> str:
        self.attempts.append(attempt)
        if attempt >= 5:
            raise AssertionError("the store keeps asking after three wrong passphrases")
        return self.passphrase

    def new(self, role: str, keyid: str) -> str:
        return self.passphrase


def env_passphrases(**values: str) -> Passphrases:
    return Passphrases(environ=values, interactive=False)


@pytest.fixture
def example(fs: FakeFilesystem) -> KeyStore:
    fs.add_real_directory(EXAMPLE_TRUST, read_only=False, target_path=TRUST)
    return KeyStore(TrustDir(TRUST))


def pem(key: PrivateKey, headers: dict[str, str] | None = None) -> bytes:
    return crypto.encode_private_key(key, KEY_PASSPHRASE, headers or {})


# -- listing ----------------------------------------------------------------------------


def test_list_the_example(example: KeyStore) -> None:
    rows = example.list()
    expected = {
        keyid: (headers["role"], headers.get("gun", ""))
        for keyid, headers in EXAMPLE["private_keys"].items()
    }
    assert {r.keyid: (r.role, r.gun) for r in rows} == expected
    assert [(r.role, r.gun, r.keyid) for r in rows] == sorted(
        (role, gun, keyid) for keyid, (role, gun) in expected.items()
    )
    for row in rows:
        assert row.location == f"private/{row.keyid}.key"
        assert row.encrypted
        assert not row.legacy
        assert row.pem_type == "ENCRYPTED PRIVATE KEY"


def test_list_the_legacy_layout(fs: FakeFilesystem) -> None:
    root, targets, snapshot, delegate = (ed25519_key(n) for n in (61, 62, 63, 64))
    private = TRUST / "private"
    fs.create_file(private / "root_keys" / f"{root.keyid}_root.key", contents=pem(root))
    tuf_keys = private / "tuf_keys"
    fs.create_file(
        tuf_keys / "example.com" / "app" / f"{targets.keyid}_targets.key", contents=pem(targets)
    )
    fs.create_file(
        tuf_keys / "registry:5000" / "a" / "b" / f"{snapshot.keyid}_snapshot.key",
        contents=pem(snapshot),
    )
    # The file name and its directory win over the headers, as notary's
    # migration (migrateTo0Dot4) reads them.
    fs.create_file(
        tuf_keys / "example.com" / "app" / f"{delegate.keyid}_targets.key",
        contents=pem(delegate, {"role": "targets/releases", "gun": "example.com/other"}),
    )
    rows = KeyStore(TrustDir(TRUST)).list()
    assert sorted((r.role, r.gun, r.keyid) for r in rows) == sorted(
        [
            ("root", "", root.keyid),
            ("snapshot", "registry:5000/a/b", snapshot.keyid),
            ("targets", "example.com/app", targets.keyid),
            ("targets", "example.com/app", delegate.keyid),
        ]
    )
    assert all(r.legacy for r in rows)
    assert rows[0].location == f"private/root_keys/{root.keyid}_root.key"


def test_the_legacy_copy_wins_over_the_flat_file(example: KeyStore, fs: FakeFilesystem) -> None:
    # notary's migration writes the legacy copy over private/<id>.key, so the
    # legacy file is the one notary would use.
    keyid = EXAMPLE["guns"]["example.com/app"]["targets_key_id"]
    data = (TRUST / "private" / f"{keyid}.key").read_bytes()
    fs.create_file(
        TRUST / "private" / "tuf_keys" / "example.com" / "app" / f"{keyid}_targets.key",
        contents=data,
    )
    rows = [r for r in example.list() if r.keyid == keyid]
    assert len(rows) == 1
    assert rows[0].legacy
    assert rows[0].location == f"private/tuf_keys/example.com/app/{keyid}_targets.key"


def test_a_file_that_is_not_a_key_is_skipped_but_load_names_it(
    example: KeyStore, fs: FakeFilesystem
) -> None:
    bogus = "f" * 64
    fs.create_file(TRUST / "private" / f"{bogus}.key", contents=b"this is not a key\n")
    fs.create_file(TRUST / "private" / "README.key", contents=b"not a key ID either\n")
    assert bogus not in {r.keyid for r in example.list()}
    assert len(example.list()) == len(EXAMPLE["private_keys"])
    with pytest.raises(InvalidKeyError, match=f"private/{bogus}.key"):
        example.load(bogus, FixedPassphrases(KEY_PASSPHRASE))


def test_a_pem_file_without_a_private_key_cannot_be_loaded(
    example: KeyStore, fs: FakeFilesystem
) -> None:
    keyid = "e" * 64
    public = EXAMPLE["guns"]["example.com/app"]["signers"]["alice"][0]["public_key_pem"].encode()
    fs.create_file(TRUST / "private" / f"{keyid}.key", contents=public)
    with pytest.raises(InvalidKeyError, match="no private key"):
        example.load(keyid, FixedPassphrases(KEY_PASSPHRASE))


def test_load_of_an_unknown_key_is_not_found(example: KeyStore) -> None:
    with pytest.raises(NotFoundError):
        example.load("0" * 64, FixedPassphrases(KEY_PASSPHRASE))


def test_find_by_prefix(example: KeyStore) -> None:
    keyid = EXAMPLE["guns"]["example.com/tools"]["targets_key_id"]
    assert example.find(keyid[:8]).keyid == keyid
    with pytest.raises(NotFoundError):
        example.find(keyid[:3])  # too short to be a prefix


# -- loading ----------------------------------------------------------------------------


def test_load_an_example_key_with_the_test_passphrase(example: KeyStore) -> None:
    keyid = EXAMPLE["guns"]["example.com/app"]["targets_key_id"]
    key = example.load(keyid, env_passphrases(NOTARY_TARGETS_PASSPHRASE=REPOSITORY_PASSPHRASE))
    # The example's flat files are named by the key's own ID.
    assert key.keyid == keyid


def test_a_key_file_is_read_once_to_load_it(
    example: KeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found, checked and decrypted from the same bytes: read once, not once
    # to find it and again to decrypt it.
    keyid = EXAMPLE["guns"]["example.com/app"]["targets_key_id"]
    reads: list[str] = []
    real = _fs.Dir.read

    def counting(self: _fs.Dir, name: str, limit: int) -> bytes | None:
        reads.append(name)
        return real(self, name, limit)

    monkeypatch.setattr(_fs.Dir, "read", counting)
    key = example.load(keyid, env_passphrases(NOTARY_TARGETS_PASSPHRASE=REPOSITORY_PASSPHRASE))
    assert key.keyid == keyid
    assert reads == [f"{keyid}.key"]


def test_legacy_directories_are_looked_for_once_per_lock(
    example: KeyStore, fs: FakeFilesystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyid = EXAMPLE["guns"]["example.com/app"]["targets_key_id"]
    looked: list[str] = []
    real = _fs.Dir.kind

    def counting(self: _fs.Dir, name: str) -> str | None:
        looked.append(name)
        return real(self, name)

    monkeypatch.setattr(_fs.Dir, "kind", counting)
    with trust_lock(example.trust):
        for _ in range(3):
            assert example.has(keyid)
            assert example.find(keyid).location == f"private/{keyid}.key"
    assert looked.count("tuf_keys") == 1
    # A new holding of the lock looks again: a legacy copy made in between is
    # found (and wins, as after notary's migration).
    data = (TRUST / "private" / f"{keyid}.key").read_bytes()
    fs.create_file(
        TRUST / "private" / "tuf_keys" / "example.com" / "app" / f"{keyid}_targets.key",
        contents=data,
    )
    with trust_lock(example.trust):
        assert example.find(keyid).legacy
    # Without the lock, every lookup looks.
    looked.clear()
    example.has(keyid)
    once = looked.count("tuf_keys")
    example.has(keyid)
    assert once >= 1
    assert looked.count("tuf_keys") == 2 * once


def test_load_the_root_key(example: KeyStore) -> None:
    keyid = EXAMPLE["guns"]["example.com/app"]["root_canonical_id"]
    source = env_passphrases(DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE=ROOT_PASSPHRASE)
    assert example.load(keyid, source).algorithm == "ecdsa"


def test_load_with_a_wrong_passphrase(example: KeyStore) -> None:
    keyid = EXAMPLE["guns"]["example.com/app"]["targets_key_id"]
    source = env_passphrases(DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE="wrong-passphrase")
    with pytest.raises(WrongPassphraseError) as info:
        example.load(keyid, source)
    assert "wrong-passphrase" not in str(info.value)


def test_load_gives_up_after_three_wrong_passphrases(example: KeyStore) -> None:
    keyid = EXAMPLE["guns"]["example.com/app"]["targets_key_id"]
    source = FixedPassphrases("still-wrong")
    with pytest.raises(WrongPassphraseError, match=keyid[:12]):
        example.load(keyid, source)
    assert source.attempts == [0, 1, 2]


def test_load_without_passphrase_or_terminal(example: KeyStore) -> None:
    keyid = EXAMPLE["guns"]["example.com/app"]["targets_key_id"]
    with pytest.raises(PassphraseRequiredError) as info:
        example.load(keyid, env_passphrases())
    assert info.value.message.endswith("set DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE")


# -- saving -----------------------------------------------------------------------------


def test_save_writes_0600_in_a_0700_private_dir(fs: FakeFilesystem) -> None:
    store = KeyStore(TrustDir(Path("/new/trust")))
    key = ed25519_key(70)
    info = store.save(key, role="targets", gun="example.com/app", passphrase=KEY_PASSPHRASE)
    path = Path("/new/trust/private") / f"{key.keyid}.key"
    assert info.path == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(Path("/new/trust").stat().st_mode) == 0o700
    # Only the key file is left: no temporary file next to it.
    assert [p.name for p in path.parent.iterdir()] == [path.name]


@pytest.mark.parametrize(
    ("role", "gun_header"),
    [
        ("targets", True),
        ("snapshot", True),
        ("timestamp", True),
        ("root", False),
        ("targets/releases", False),
        ("alice", False),
    ],
)
def test_save_writes_the_gun_header_only_for_repository_keys(
    fs: FakeFilesystem, role: str, gun_header: bool
) -> None:
    store = KeyStore(TrustDir(TRUST))
    key = ed25519_key(71)
    info = store.save(key, role=role, gun="example.com/app", passphrase=KEY_PASSPHRASE)
    pem_type, headers = read_pem_headers(info.path.read_bytes())
    assert pem_type == "ENCRYPTED PRIVATE KEY"
    expected = {"role": role, **({"gun": "example.com/app"} if gun_header else {})}
    assert headers == expected
    assert (info.role, info.gun) == (role, "example.com/app" if gun_header else "")


def test_saved_key_decrypts_back(fs: FakeFilesystem) -> None:
    store = KeyStore(TrustDir(TRUST))
    key = ed25519_key(72)
    store.save(key, role="alice", passphrase=KEY_PASSPHRASE)
    data = (TRUST / "private" / f"{key.keyid}.key").read_bytes()
    assert KEY_PASSPHRASE.encode() not in data
    loaded = store.load(key.keyid, FixedPassphrases(KEY_PASSPHRASE))
    assert loaded.keyid == key.keyid
    assert crypto.pkcs8_private_bytes(loaded) == crypto.pkcs8_private_bytes(key)
    with pytest.raises(WrongPassphraseError):
        store.load(key.keyid, FixedPassphrases("not-" + KEY_PASSPHRASE))


def test_save_without_passphrase_writes_a_plain_key(fs: FakeFilesystem) -> None:
    store = KeyStore(TrustDir(TRUST))
    key = ed25519_key(73)
    info = store.save(key, role="alice", passphrase=None)
    assert not info.encrypted
    source = FixedPassphrases("unused")
    assert store.load(key.keyid, source).keyid == key.keyid
    assert source.attempts == []


def test_save_refuses_to_overwrite(fs: FakeFilesystem) -> None:
    store = KeyStore(TrustDir(TRUST))
    key = ed25519_key(74)
    store.save(key, role="alice", passphrase=KEY_PASSPHRASE)
    before = (TRUST / "private" / f"{key.keyid}.key").read_bytes()
    with pytest.raises(UsageError, match="already exists"):
        store.save(key, role="bob", passphrase=KEY_PASSPHRASE)
    assert (TRUST / "private" / f"{key.keyid}.key").read_bytes() == before
    store.save(key, role="bob", passphrase=KEY_PASSPHRASE, overwrite=True)
    assert store.find(key.keyid).role == "bob"
