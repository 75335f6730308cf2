"""The legacy key layouts of notary 0.1 and 0.3, read as notary 0.7 reads them.

notary 0.7 migrates ``private/root_keys/`` and ``private/tuf_keys/`` into
``private/<id>.key`` (``storage/filestore.go`` ``migrateTo0Dot4``): the role of
a ``<id>_<role>.key`` name and the GUN of the directory replace the headers,
and a later file replaces an earlier one. offtrust reads the same keys and
never changes those directories.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from notary_fixtures import FIXTURES, compatibility_dir, copy_fixture, tree_bytes

from offtrust import crypto
from offtrust.errors import NotFoundError, StoreError, WrongPassphraseError
from offtrust.store.keystore import KeyStore
from offtrust.store.layout import TrustDir

PASSPHRASE = "legacy-test-passphrase"  # TEST ONLY


class Fixed:
    """A passphrase source offering one passphrase, then giving up."""

    def __init__(self, passphrase: str) -> None:
        self.passphrase = passphrase

    def __call__(self, role: str, keyid: str, attempt: int) -> str:
        if attempt:
            raise WrongPassphraseError("no further passphrase")
        return self.passphrase

    def new(self, role: str, keyid: str) -> str:
        return self.passphrase


def legacy_pem(n: int, headers: dict[str, str] | None = None, *, kind: str = "ec") -> bytes:
    """A ``Proc-Type``/``DEK-Info`` encrypted SEC1 or PKCS#1 PEM, as notary < 0.4 wrote."""
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    key = (
        ec.derive_private_key(1000 + n, ec.SECP256R1())
        if kind == "ec"
        else rsa.generate_private_key(65537, 2048)
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.BestAvailableEncryption(PASSPHRASE.encode()),
    )
    lines = pem.split(b"\n")
    assert lines[1].startswith(b"Proc-Type: 4,ENCRYPTED")
    assert lines[2].startswith(b"DEK-Info:")
    extra = [f"{k}: {v}".encode() for k, v in sorted((headers or {}).items())]
    return b"\n".join([*lines[:3], *extra, *lines[3:]])


def keyid_of(pem: bytes) -> str:
    keyid: str = crypto.load_private_key_pem(pem, PASSPHRASE).keyid
    return keyid


def put(trust: Path, rel: str, data: bytes) -> Path:
    path = trust / "private" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def rows(store: KeyStore) -> list[tuple[str, str, str, str]]:
    return [(k.role, k.gun, k.keyid, k.location) for k in store.list()]


# -- hand-made trees ---------------------------------------------------------------------


def test_notary01_names_give_role_and_gun(tmp_path: Path) -> None:
    root, targets = legacy_pem(1), legacy_pem(2)
    rid, tid = keyid_of(root), keyid_of(targets)
    put(tmp_path, f"root_keys/{rid}_root.key", root)
    put(tmp_path, f"tuf_keys/example.com/app/{tid}_targets.key", targets)
    store = KeyStore(TrustDir(tmp_path))
    assert rows(store) == [
        ("root", "", rid, f"private/root_keys/{rid}_root.key"),
        ("targets", "example.com/app", tid, f"private/tuf_keys/example.com/app/{tid}_targets.key"),
    ]
    assert all(k.legacy and k.encrypted and k.pem_type == "EC PRIVATE KEY" for k in store.list())


def test_notary03_names_take_role_and_gun_from_headers(tmp_path: Path) -> None:
    root = legacy_pem(3, {"role": "root"})
    snap = legacy_pem(4, {"role": "snapshot", "gun": "example.com/app"})
    deleg = legacy_pem(5, {"role": "targets/releases"})
    rid, sid, did = keyid_of(root), keyid_of(snap), keyid_of(deleg)
    put(tmp_path, f"root_keys/{rid}.key", root)
    put(tmp_path, f"tuf_keys/{sid}.key", snap)  # no GUN directory: the header's GUN
    put(tmp_path, f"tuf_keys/{did}.key", deleg)
    assert [(r, g, i) for r, g, i, _ in rows(KeyStore(TrustDir(tmp_path)))] == [
        ("root", "", rid),
        ("snapshot", "example.com/app", sid),
        ("targets/releases", "", did),
    ]


def test_the_name_and_the_directory_win_over_headers(tmp_path: Path) -> None:
    # notary 0.7 writes role: <from the name> and gun: <from the path> over the headers.
    a = legacy_pem(6, {"role": "targets/releases", "gun": "example.com/other"})
    b = legacy_pem(7, {"role": "root", "gun": "example.com/other"})
    c = legacy_pem(8, {"role": "root"})
    aid, bid, cid = keyid_of(a), keyid_of(b), keyid_of(c)
    put(tmp_path, f"tuf_keys/example.com/app/{aid}_targets.key", a)
    put(tmp_path, f"tuf_keys/example.com/app/{bid}.key", b)  # role header kept, GUN from path
    put(tmp_path, f"root_keys/sub/{cid}.key", c)  # a directory below root_keys is a GUN too
    got = {i: (r, g) for r, g, i, _ in rows(KeyStore(TrustDir(tmp_path)))}
    assert got == {
        aid: ("targets", "example.com/app"),
        bid: ("root", "example.com/app"),
        cid: ("root", "sub"),
    }


def test_migration_order_decides_between_copies(tmp_path: Path) -> None:
    pem = legacy_pem(9)
    keyid = keyid_of(pem)
    put(tmp_path, f"{keyid}.key", legacy_pem(9, {"role": "flat"}))
    put(tmp_path, f"root_keys/{keyid}_root.key", pem)
    put(tmp_path, f"tuf_keys/a/{keyid}_snapshot.key", pem)
    put(tmp_path, f"tuf_keys/b/{keyid}_targets.key", pem)
    put(tmp_path, f"tuf_keys/c/{keyid}_timestamp.key", b"not a PEM file\n")  # not migrated
    store = KeyStore(TrustDir(tmp_path))
    # Last legacy file with a PEM block (tuf_keys/b) wins, over the flat file too.
    assert rows(store) == [("targets", "b", keyid, f"private/tuf_keys/b/{keyid}_targets.key")]
    assert store.find(keyid) == store.list()[0]
    assert store.find(keyid[:8]) == store.list()[0]
    info, block = store.read_private(keyid)
    assert info.location.endswith(f"tuf_keys/b/{keyid}_targets.key")
    assert block.type == "EC PRIVATE KEY"


def test_only_key_files_count(tmp_path: Path) -> None:
    pem = legacy_pem(10)
    keyid = keyid_of(pem)
    put(tmp_path, f"tuf_keys/g/{keyid}_targets_x.key", pem)  # notary's ID keeps "_targets_x"
    put(tmp_path, f"tuf_keys/g/{keyid.upper()}_targets.key", pem)
    put(tmp_path, "tuf_keys/g/README.key", pem)
    put(tmp_path, f"tuf_keys/g/{keyid}_targets.pem", pem)
    public = crypto.encode_public_key_pem(
        crypto.load_private_key_pem(pem, PASSPHRASE).public_key(), {}
    )
    put(tmp_path, f"root_keys/{'a' * 64}_root.key", public)  # notary does not list it either
    (tmp_path / "private" / "tuf_keys" / f"{'b' * 64}_targets.key").symlink_to(
        tmp_path / "private" / "tuf_keys" / "g" / "README.key"
    )
    assert KeyStore(TrustDir(tmp_path)).list() == []


def test_find_by_id_and_prefix(tmp_path: Path) -> None:
    keys = [legacy_pem(n, {"role": "targets"}) for n in (11, 12, 13)]
    ids = [keyid_of(k) for k in keys]
    put(tmp_path, f"root_keys/{ids[0]}_root.key", keys[0])
    put(tmp_path, f"tuf_keys/example.com/app/{ids[1]}.key", keys[1])
    put(tmp_path, f"tuf_keys/{ids[2]}.key", keys[2])
    store = KeyStore(TrustDir(tmp_path))
    for keyid in ids:
        assert store.find(keyid).keyid == keyid
        assert store.find(keyid[:10]).keyid == keyid
        assert store.has(keyid)
    assert (store.find(ids[0]).role, store.find(ids[0]).gun) == ("root", "")
    assert (store.find(ids[1]).role, store.find(ids[1]).gun) == ("targets", "example.com/app")
    with pytest.raises(NotFoundError):
        store.find("0" * 64)


def test_decrypts_legacy_pem_keys(tmp_path: Path) -> None:
    ec_pem = legacy_pem(14)
    rsa_pem = legacy_pem(15, {"role": "targets/releases"}, kind="rsa")
    eid, rid = keyid_of(ec_pem), keyid_of(rsa_pem)
    put(tmp_path, f"tuf_keys/example.com/app/{eid}_snapshot.key", ec_pem)
    put(tmp_path, f"tuf_keys/{rid}.key", rsa_pem)
    store = KeyStore(TrustDir(tmp_path))
    assert store.load(eid, Fixed(PASSPHRASE)).keyid == eid
    assert store.load(rid, Fixed(PASSPHRASE)).keyid == rid
    with pytest.raises(WrongPassphraseError):
        KeyStore(TrustDir(tmp_path)).load(eid, Fixed("wrong"))


def test_never_changes_the_legacy_directories(tmp_path: Path) -> None:
    pem = legacy_pem(16)
    keyid = keyid_of(pem)
    put(tmp_path, f"tuf_keys/example.com/app/{keyid}_targets.key", pem)
    before = tree_bytes(tmp_path)
    store = KeyStore(TrustDir(tmp_path))
    store.list()
    store.find(keyid)
    store.load(keyid, Fixed(PASSPHRASE))
    with pytest.raises(StoreError, match="legacy"):
        store.remove(keyid)
    assert tree_bytes(tmp_path) == before


# -- notary's own fixtures ---------------------------------------------------------------

#: What ``notary key list`` shows after migrating each fixture (observed with notary 0.7).
EXPECTED = {
    "notary0.1": {
        ("root", "", "d0c623c8e70c70d42a8a8125c44a8598588b3f6e31d5c21a83cbc338dfde8a68"),
        (
            "snapshot",
            "docker.com/notary0.1/samplerepo",
            "a55ccf652b0be4b6c4d356cbb02d9ea432bb84a2571665be3df7c7396af8e8b8",
        ),
        (
            "targets",
            "docker.com/notary0.1/samplerepo",
            "7fc757801b9bab4ec9e35bfe7a6b61668ff6f4c81b5632af19e6c728ab799599",
        ),
    },
    "notary0.3": {
        ("root", "", "f4eaf871a74aa3b3a0ff95cef2455a1e4d461639f5625418e76756fc5c948690"),
        (
            "targets/releases",
            "",
            "fa842f66cac2dc898677a8660789dcff0e3b0b93b73f8952491f6493199936d3",
        ),
        (
            "snapshot",
            "docker.com/notary0.3/tst",
            "85559599cf3cf681ff193f432a7ca6d128182bd1cfa8ede2c70761deac8bc2dc",
        ),
        (
            "targets",
            "docker.com/notary0.3/tst",
            "041b64dab281324ef2b62fd2d04f4758269e120ff063b7bc78709272821a0a02",
        ),
    },
}


@pytest.fixture(params=sorted(FIXTURES))
def fixture_copy(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Path]:
    found = compatibility_dir()
    if not isinstance(found, Path):
        pytest.skip(f"notary's compatibility fixtures: {found}")
    name: str = request.param
    return name, copy_fixture(name, tmp_path / name)


def test_notary_fixtures_list_decrypt_and_stay_unchanged(fixture_copy: tuple[str, Path]) -> None:
    name, trust = fixture_copy
    _, passphrase = FIXTURES[name]
    before = tree_bytes(trust)
    store = KeyStore(TrustDir(trust))
    keys = store.list()
    assert {(k.role, k.gun, k.keyid) for k in keys} == EXPECTED[name]
    assert all(k.legacy and k.encrypted for k in keys)
    for key in keys:
        assert store.find(key.keyid) == key
        assert store.find(key.keyid[:7]) == key
        # Each legacy PEM (Proc-Type/DEK-Info, SEC1 or PKCS#1) decrypts to its key ID.
        assert store.load(key.keyid, Fixed(passphrase)).keyid == key.keyid
    assert tree_bytes(trust) == before
