"""key import, export (and --public), passwd and remove (issue 9, item 1)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from builders import (
    EXAMPLE,
    EXAMPLE_NOW,
    REPOSITORY_PASSPHRASE,
    ROOT_PASSPHRASE,
    RepoBuilder,
    read_tree,
)
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from offtrust import crypto
from offtrust.errors import (
    InvalidKeyError,
    KeyMismatchError,
    NotFoundError,
    PassphraseRequiredError,
    StoreError,
    UsageError,
    WrongPassphraseError,
)
from offtrust.model.verify import verify_repository
from offtrust.ops.context import Context
from offtrust.ops.keys import (
    change_passphrase,
    export_keys,
    export_public,
    import_key,
    last_key_warnings,
    plan_remove,
    remove_keys,
)
from offtrust.passphrase import NEW_PASSPHRASE, Passphrases
from offtrust.store.keystore import read_pem_headers

APP, TOOLS = "example.com/app", "example.com/tools"
ROOT_ID = EXAMPLE["guns"][APP]["root_canonical_id"]
ALICE = EXAMPLE["guns"][APP]["signers"]["alice"][0]["key_id"]
BOB = EXAMPLE["guns"][APP]["signers"]["bob"][0]["key_id"]
APP_TARGETS = EXAMPLE["guns"][APP]["targets_key_id"]
TOOLS_RELEASES = EXAMPLE["guns"][TOOLS]["signers"]["releases"][0]["key_id"]
NEW = "a-brand-new-passphrase"
#: DER of the OID hmacWithSHA256: a PBES2 PRF notary cannot read.
HMAC_SHA256_OID = bytes.fromhex("06082a864886f70d0209")


def write_key(path: Path, data: bytes, mode: int = 0o600) -> Path:
    path.write_bytes(data)
    os.chmod(path, mode)
    return path


def pkcs8(key: object, password: bytes | None = None) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(  # type: ignore[attr-defined,no-any-return]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def with_headers(data: bytes, headers: dict[str, str]) -> bytes:
    block = crypto.parse_pem(data)[0]
    return crypto.encode_pem(crypto.PemBlock(block.type, headers, block.der))


def key_file(ctx: Context, keyid: str) -> Path:
    return ctx.trust.private / f"{keyid}.key"


def stored(ctx: Context, keyid: str) -> tuple[str, dict[str, str], int]:
    path = key_file(ctx, keyid)
    pem_type, headers = read_pem_headers(path.read_bytes())
    return pem_type, headers, path.stat().st_mode & 0o777


def opens_with(path: Path, passphrase: str) -> bool:
    try:
        crypto.load_private_key_pem(path.read_bytes(), passphrase)
    except (WrongPassphraseError, PassphraseRequiredError):
        return False
    return True


@pytest.fixture
def p256() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


# -- import ---------------------------------------------------------------------


def test_import_an_unencrypted_root_key_stores_it_as_notary_does(
    ctx: Context, passphrases: Passphrases, tmp_path: Path, p256: ec.EllipticCurvePrivateKey
) -> None:
    path = write_key(tmp_path / "root.pem", pkcs8(p256))
    result = import_key(ctx, path, "root", None, passphrases)
    assert stored(ctx, result["keyid"]) == ("ENCRYPTED PRIVATE KEY", {"role": "root"}, 0o600)
    assert result["gun"] is None
    assert opens_with(key_file(ctx, result["keyid"]), ROOT_PASSPHRASE)
    assert [k for k in ctx.keys.list() if k.keyid == result["keyid"]][0].role == "root"


def test_import_a_targets_key_needs_its_gun(
    ctx: Context, passphrases: Passphrases, tmp_path: Path, p256: ec.EllipticCurvePrivateKey
) -> None:
    path = write_key(tmp_path / "t.pem", pkcs8(p256))
    before = read_tree(ctx.trust.private)
    with pytest.raises(UsageError, match="--gun"):
        import_key(ctx, path, "targets", None, passphrases)
    assert read_tree(ctx.trust.private) == before
    result = import_key(ctx, path, "targets", "example.com/new", passphrases)
    _, headers, _ = stored(ctx, result["keyid"])
    assert headers == {"gun": "example.com/new", "role": "targets"}
    assert opens_with(key_file(ctx, result["keyid"]), REPOSITORY_PASSPHRASE)


def test_import_takes_the_gun_from_the_header(
    ctx: Context, passphrases: Passphrases, tmp_path: Path, p256: ec.EllipticCurvePrivateKey
) -> None:
    data = with_headers(pkcs8(p256), {"gun": "example.com/hdr", "role": "snapshot"})
    path = write_key(tmp_path / "s.pem", data)
    result = import_key(ctx, path, "snapshot", None, passphrases)
    assert stored(ctx, result["keyid"])[1] == {"gun": "example.com/hdr", "role": "snapshot"}


@pytest.mark.parametrize(
    ("headers", "role", "gun", "match"),
    [
        ({"role": "targets"}, "root", None, "says role 'targets', not 'root'"),
        ({"role": "root"}, "targets/releases", None, "says role 'root'"),
        ({"role": "alice"}, "targets/alice", None, "says role 'alice'"),
        ({"role": "targets", "gun": "example.com/a"}, "targets", "example.com/b", "GUN"),
    ],
    ids=["targets-as-root", "root-as-delegation", "signer-name-vs-role", "other-gun"],
)
def test_import_refuses_a_header_that_contradicts_the_command(
    ctx: Context,
    passphrases: Passphrases,
    tmp_path: Path,
    p256: ec.EllipticCurvePrivateKey,
    headers: dict[str, str],
    role: str,
    gun: str | None,
    match: str,
) -> None:
    path = write_key(tmp_path / "k.pem", with_headers(pkcs8(p256), headers))
    before = read_tree(ctx.trust.private)
    with pytest.raises(InvalidKeyError, match=match) as caught:
        import_key(ctx, path, role, gun, passphrases)
    assert caught.value.exit_code == 2
    assert read_tree(ctx.trust.private) == before


@pytest.mark.parametrize(
    ("role", "gun", "error"),
    [
        ("root", "example.com/app", UsageError),
        ("targets/releases", "example.com/app", UsageError),
        ("Not A Role", None, UsageError),
        ("targets/../x", None, UsageError),
        ("targets", "bad gun", UsageError),
    ],
    ids=["root-with-gun", "delegation-with-gun", "bad-role", "unclean-delegation", "bad-gun"],
)
def test_import_refuses_bad_usage(
    ctx: Context,
    passphrases: Passphrases,
    tmp_path: Path,
    p256: ec.EllipticCurvePrivateKey,
    role: str,
    gun: str | None,
    error: type[Exception],
) -> None:
    path = write_key(tmp_path / "k.pem", pkcs8(p256))
    with pytest.raises(error):
        import_key(ctx, path, role, gun, passphrases)


def test_import_a_delegation_key_carries_no_gun(
    ctx: Context, passphrases: Passphrases, tmp_path: Path, p256: ec.EllipticCurvePrivateKey
) -> None:
    # notary drops a gun header of a delegation key.
    data = with_headers(pkcs8(p256), {"gun": "example.com/app"})
    path = write_key(tmp_path / "d.pem", data)
    result = import_key(ctx, path, "targets/qa", None, passphrases)
    assert stored(ctx, result["keyid"])[1] == {"role": "targets/qa"}


def test_import_an_encrypted_key_rewrites_it_in_notarys_format_with_its_passphrase(
    ctx: Context, passphrases: Passphrases, tmp_path: Path, p256: ec.EllipticCurvePrivateKey
) -> None:
    # cryptography's BestAvailableEncryption uses a PRF notary cannot read (formats 2.5).
    data = pkcs8(p256, ROOT_PASSPHRASE.encode())
    assert HMAC_SHA256_OID in crypto.parse_pem(data)[0].der
    path = write_key(tmp_path / "enc.pem", data)
    result = import_key(ctx, path, "root", None, passphrases)
    block = crypto.parse_pem(key_file(ctx, result["keyid"]).read_bytes())[0]
    assert block.type == "ENCRYPTED PRIVATE KEY"
    assert HMAC_SHA256_OID not in block.der
    assert opens_with(key_file(ctx, result["keyid"]), ROOT_PASSPHRASE)


def test_import_an_encrypted_key_with_a_wrong_passphrase_stores_nothing(
    ctx: Context, passphrases: Passphrases, tmp_path: Path, p256: ec.EllipticCurvePrivateKey
) -> None:
    path = write_key(tmp_path / "enc.pem", pkcs8(p256, b"not the root passphrase"))
    before = read_tree(ctx.trust.private)
    with pytest.raises(WrongPassphraseError):
        import_key(ctx, path, "root", None, passphrases)
    assert read_tree(ctx.trust.private) == before


def test_import_refuses_weak_or_unusable_keys(
    ctx: Context, passphrases: Passphrases, tmp_path: Path
) -> None:
    weak = write_key(tmp_path / "rsa.pem", pkcs8(rsa.generate_private_key(65537, 1024)))
    with pytest.raises(InvalidKeyError, match="2048"):
        import_key(ctx, weak, "targets/qa", None, passphrases)
    edkey = crypto.encode_private_key(crypto.ed25519_private_key_from_seed(b"\x01" * 32), None, {})
    ed = write_key(tmp_path / "ed.pem", edkey)
    with pytest.raises(InvalidKeyError, match="root"):
        import_key(ctx, ed, "root", None, passphrases)
    # The same notary-form ed25519 key is fine as a targets key.
    assert import_key(ctx, ed, "targets", "example.com/ed", passphrases)["algorithm"] == "ed25519"


def test_import_refuses_a_key_already_stored(
    ctx: Context, passphrases: Passphrases, tmp_path: Path
) -> None:
    data, _ = export_keys(ctx, [ALICE], passphrases)
    path = write_key(tmp_path / "alice.pem", data)
    with pytest.raises(UsageError, match="already"):
        import_key(ctx, path, "alice", None, passphrases)


def test_export_then_import_gives_back_the_same_key(
    ctx: Context, passphrases: Passphrases, tmp_path: Path
) -> None:
    original = key_file(ctx, APP_TARGETS).read_bytes()
    data, _ = export_keys(ctx, [APP_TARGETS], passphrases)
    path = write_key(tmp_path / "targets.pem", data)
    remove_keys(ctx, plan_remove(ctx, [APP_TARGETS]))
    result = import_key(ctx, path, "targets", None, passphrases)
    assert result["keyid"] == APP_TARGETS
    assert stored(ctx, APP_TARGETS)[1] == {"gun": APP, "role": "targets"}
    assert ctx.keys.load(APP_TARGETS, passphrases).keyid == APP_TARGETS
    assert key_file(ctx, APP_TARGETS).read_bytes() != original  # re-encrypted, fresh salt


def test_import_refuses_a_path_header_naming_another_key(
    ctx: Context, passphrases: Passphrases, tmp_path: Path, p256: ec.EllipticCurvePrivateKey
) -> None:
    data = with_headers(pkcs8(p256), {"path": ALICE, "role": "alice"})
    path = write_key(tmp_path / "k.pem", data)
    with pytest.raises(InvalidKeyError, match="path header"):
        import_key(ctx, path, "alice", None, passphrases)


def test_import_refuses_a_file_of_several_keys(
    ctx: Context, passphrases: Passphrases, tmp_path: Path
) -> None:
    data, _ = export_keys(ctx, [ALICE, BOB], passphrases)
    path = write_key(tmp_path / "two.pem", data)
    with pytest.raises(InvalidKeyError, match="2 private keys"):
        import_key(ctx, path, "alice", None, passphrases)


# -- export ---------------------------------------------------------------------


def test_export_copies_encrypted_blocks_with_their_headers_and_a_path(
    ctx: Context, passphrases: Passphrases
) -> None:
    data, rows = export_keys(ctx, [ROOT_ID, APP_TARGETS[:10]], passphrases)
    blocks = crypto.parse_pem(data)
    assert [b.headers for b in blocks] == [
        {"path": ROOT_ID, "role": "root"},
        {"gun": APP, "path": APP_TARGETS, "role": "targets"},
    ]
    for block, keyid in zip(blocks, (ROOT_ID, APP_TARGETS), strict=True):
        original = crypto.parse_pem(key_file(ctx, keyid).read_bytes())[0]
        assert (block.type, block.der) == ("ENCRYPTED PRIVATE KEY", original.der)
    assert [r["encrypted_now"] for r in rows] == [False, False]


def test_export_encrypts_a_key_stored_without_a_passphrase(
    ctx: Context, passphrases: Passphrases, p256: ec.EllipticCurvePrivateKey
) -> None:
    key = crypto.load_private_key_pem(pkcs8(p256), None)
    ctx.keys.save(key, role="targets/plain", passphrase=None)
    assert stored(ctx, key.keyid)[0] == "PRIVATE KEY"
    data, rows = export_keys(ctx, [key.keyid], passphrases)
    block = crypto.parse_pem(data)[0]
    assert block.type == "ENCRYPTED PRIVATE KEY"
    assert block.headers == {"path": key.keyid, "role": "targets/plain"}
    assert crypto.decrypt_private_key(block, REPOSITORY_PASSPHRASE).keyid == key.keyid
    assert rows[0]["encrypted_now"] is True


def test_export_of_an_unknown_key_exports_nothing(ctx: Context, passphrases: Passphrases) -> None:
    with pytest.raises(NotFoundError):
        export_keys(ctx, [ALICE, "ab" * 32], passphrases)


def test_export_refuses_a_key_file_holding_another_key(
    ctx: Context, passphrases: Passphrases
) -> None:
    key_file(ctx, BOB).write_bytes(key_file(ctx, ALICE).read_bytes())
    with pytest.raises(KeyMismatchError):
        export_keys(ctx, [BOB], passphrases)


def test_export_public_root_certificate_is_a_root_key_for_the_gun(
    ctx: Context, passphrases: Passphrases
) -> None:
    gun = "example.com/ceremony"
    data, row = export_public(ctx, ROOT_ID, passphrases, gun=gun)
    cert = crypto.load_public_key_pem(data)
    assert cert.keytype == "ecdsa-x509"
    assert row["public_keyid"] == cert.keyid
    # It wraps exactly that key ...
    assert crypto.canonical_keyid(cert) == ROOT_ID
    facts = crypto.certificate_info(cert)
    assert facts.common_name == gun
    assert not facts.is_ca
    assert facts.leaf_count == 1
    # ... with notary's validity, from now ...
    assert abs(facts.not_before - EXAMPLE_NOW) <= timedelta(seconds=1)
    assert facts.not_after - facts.not_before == timedelta(days=3650)
    # ... and the trust rules accept it as the root key of GUN.
    key = ctx.keys.load(ROOT_ID, passphrases)
    repo = RepoBuilder(gun=gun, now=EXAMPLE_NOW)
    repo.set_root_certificate(cert, key)
    report = verify_repository(repo.build(), EXAMPLE_NOW, crypto=ctx.crypto)
    assert report.errors == [], report.errors
    # A certificate for another GUN is not a root key of this one.
    other = RepoBuilder(gun="example.com/other", now=EXAMPLE_NOW)
    other.set_root_certificate(cert, key)
    assert verify_repository(other.build(), EXAMPLE_NOW, crypto=ctx.crypto).errors


def test_export_public_of_a_root_key_needs_a_gun(ctx: Context, passphrases: Passphrases) -> None:
    with pytest.raises(UsageError, match="--gun"):
        export_public(ctx, ROOT_ID, passphrases)


def test_export_public_key_of_a_signer(ctx: Context, passphrases: Passphrases) -> None:
    data, row = export_public(ctx, ALICE, passphrases)
    assert data.decode() == EXAMPLE["guns"][APP]["signers"]["alice"][0]["public_key_pem"]
    assert row["public_keyid"] == ALICE


# -- passwd ---------------------------------------------------------------------


def test_passwd_changes_the_passphrase_and_keeps_headers_and_mode(
    ctx: Context, monkeypatch: pytest.MonkeyPatch, passphrases: Passphrases
) -> None:
    path = key_file(ctx, APP_TARGETS)
    path.chmod(0o640)
    headers = stored(ctx, APP_TARGETS)[1]
    monkeypatch.setenv(NEW_PASSPHRASE, NEW)
    result = change_passphrase(ctx, APP_TARGETS[:8], passphrases)
    assert result["keyid"] == APP_TARGETS
    pem_type, after, mode = stored(ctx, APP_TARGETS)
    assert (pem_type, after) == ("ENCRYPTED PRIVATE KEY", headers)
    assert mode == 0o600  # the owner's bits kept, group's dropped
    assert not opens_with(path, REPOSITORY_PASSPHRASE)
    assert opens_with(path, NEW)
    monkeypatch.setenv("DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE", NEW)
    assert Context(ctx.trust).keys.load(APP_TARGETS, Passphrases(interactive=False)).keyid


def test_passwd_checks_the_old_passphrase_first(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE", "wrong-old-passphrase")
    monkeypatch.setenv(NEW_PASSPHRASE, NEW)
    asked: list[str] = []

    class Watch(Passphrases):
        def replacement(self, role: str, keyid: str) -> str:
            asked.append(keyid)
            return super().replacement(role, keyid)

    before = read_tree(ctx.trust.private)
    with pytest.raises(WrongPassphraseError):
        change_passphrase(ctx, ALICE, Watch(interactive=False))
    assert asked == []
    assert read_tree(ctx.trust.private) == before


def test_passwd_without_a_new_passphrase_changes_nothing(
    ctx: Context, passphrases: Passphrases
) -> None:
    before = read_tree(ctx.trust.private)
    with pytest.raises(PassphraseRequiredError, match=NEW_PASSPHRASE):
        change_passphrase(ctx, ALICE, passphrases)
    assert read_tree(ctx.trust.private) == before


@pytest.mark.parametrize(
    ("new", "match"), [(REPOSITORY_PASSPHRASE, "is the old one"), ("short", "too short")]
)
def test_passwd_refuses_a_useless_new_passphrase(
    ctx: Context, passphrases: Passphrases, monkeypatch: pytest.MonkeyPatch, new: str, match: str
) -> None:
    monkeypatch.setenv(NEW_PASSPHRASE, new)
    with pytest.raises(UsageError, match=match):
        change_passphrase(ctx, ALICE, passphrases)


def test_passwd_asks_the_new_passphrase_twice_at_a_prompt(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE", REPOSITORY_PASSPHRASE)
    prompts: list[str] = []
    answers = iter(["tiny", NEW, "a typo of it", NEW, NEW])

    def prompt(text: str) -> str:
        prompts.append(text)
        return next(answers)

    source = Passphrases(prompt=prompt, interactive=True)
    source.say = lambda line: None
    change_passphrase(ctx, ALICE, source)
    assert prompts == [
        f"Enter passphrase for new alice key with ID {ALICE[:7]}: ",
        f"Enter passphrase for new alice key with ID {ALICE[:7]}: ",
        f"Repeat passphrase for new alice key with ID {ALICE[:7]}: ",
        f"Enter passphrase for new alice key with ID {ALICE[:7]}: ",
        f"Repeat passphrase for new alice key with ID {ALICE[:7]}: ",
    ]
    assert opens_with(key_file(ctx, ALICE), NEW)


def test_passwd_never_changes_a_legacy_layout_key(
    ctx: Context, passphrases: Passphrases, monkeypatch: pytest.MonkeyPatch
) -> None:
    legacy = ctx.trust.private / "root_keys"
    legacy.mkdir(mode=0o700)
    key_file(ctx, ROOT_ID).rename(legacy / f"{ROOT_ID}_root.key")
    monkeypatch.setenv(NEW_PASSPHRASE, NEW)
    before = read_tree(ctx.trust.private)
    with pytest.raises(StoreError, match="legacy") as caught:
        change_passphrase(ctx, ROOT_ID, passphrases)
    assert "notary" in (caught.value.hint or "")
    with pytest.raises(StoreError, match="legacy"):
        plan_remove(ctx, [ROOT_ID])
    assert read_tree(ctx.trust.private) == before


# -- remove ---------------------------------------------------------------------


def test_remove_removes_only_the_named_key_files(ctx: Context) -> None:
    tuf = read_tree(ctx.trust.root / "tuf")
    keys = read_tree(ctx.trust.private)
    rows = remove_keys(ctx, plan_remove(ctx, [ALICE, BOB[:6], ALICE]))
    assert [r["keyid"] for r in rows] == [ALICE, BOB]
    assert read_tree(ctx.trust.root / "tuf") == tuf
    assert set(keys) - set(read_tree(ctx.trust.private)) == {f"{ALICE}.key", f"{BOB}.key"}


def test_remove_checks_every_id_before_removing_any(ctx: Context) -> None:
    before = read_tree(ctx.trust.private)
    with pytest.raises(NotFoundError):
        plan_remove(ctx, [ALICE, "cd" * 32])
    with pytest.raises(UsageError):
        plan_remove(ctx, [])
    assert read_tree(ctx.trust.private) == before


def test_remove_puts_back_what_it_removed_when_one_removal_fails(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    from offtrust.store import _fs

    before = read_tree(ctx.trust.private)
    real = _fs.Dir.remove_file
    calls: list[str] = []

    def flaky(self: _fs.Dir, name: str) -> bool:
        calls.append(name)
        if len(calls) == 2:
            raise StoreError(f"cannot remove {name}: injected")
        return real(self, name)

    monkeypatch.setattr(_fs.Dir, "remove_file", flaky)
    with pytest.raises(StoreError, match="injected"):
        remove_keys(ctx, plan_remove(ctx, [ALICE, BOB]))
    assert read_tree(ctx.trust.private) == before
    assert stored(ctx, ALICE)[2] == 0o600


def test_remove_warns_for_each_role_left_without_a_local_key(ctx: Context) -> None:
    # alice alone: targets/alice has no other key; targets/releases still has bob.
    assert last_key_warnings(ctx, plan_remove(ctx, [ALICE])) == [
        f"key {ALICE[:12]} is the last local key able to sign targets/alice of {APP}"
    ]
    both = last_key_warnings(ctx, plan_remove(ctx, [ALICE, BOB]))
    assert f"keys {ALICE[:12]}, {BOB[:12]} are the last local keys able to sign " in both[1]
    assert len(both) == 3
    root = last_key_warnings(ctx, plan_remove(ctx, [ROOT_ID]))
    assert root == [
        f"key {ROOT_ID[:12]} is the last local key able to sign root of {APP}",
        f"key {ROOT_ID[:12]} is the last local key able to sign root of {TOOLS}",
    ]
    assert last_key_warnings(ctx, plan_remove(ctx, [TOOLS_RELEASES])) == [
        f"key {TOOLS_RELEASES[:12]} is the last local key able to sign targets/releases of {TOOLS}"
    ]


def test_remove_warns_about_staged_roles_too(
    ctx: Context, passphrases: Passphrases, tmp_path: Path, p256: ec.EllipticCurvePrivateKey
) -> None:
    from offtrust.ops.delegations import delegation_add

    key = crypto.load_private_key_pem(pkcs8(p256), None)
    ctx.keys.save(key, role="targets/qa", passphrase=REPOSITORY_PASSPHRASE)
    assert last_key_warnings(ctx, plan_remove(ctx, [key.keyid])) == []
    delegation_add(ctx, TOOLS, "targets/qa", [key.public_key()], passphrases, all_paths=True)
    assert last_key_warnings(ctx, plan_remove(ctx, [key.keyid])) == [
        f"key {key.keyid[:12]} is the last local key able to sign targets/qa of {TOOLS}"
    ]
