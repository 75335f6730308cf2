"""The offline trust findings of issue 6, reproduced as tests.

Nothing may be signed, staged, bundled or published unless it was verified
against the trusted root first, by one set of rules. Each finding was first a
failing test stating the behaviour expected once fixed; the others are
controls (the same set-up without the attack) or regression tests of what
must keep working.

Every forgery is properly signed wherever it can be, so that only the attack is
wrong: the example's own keys (decrypted with the passphrases of
``fixtures/README.md``) re-sign its documents, and :class:`RepoBuilder` signs
whole repositories with its deterministic keys.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from builders import (
    EXAMPLE,
    EXAMPLE_NOW,
    REPOSITORY_PASSPHRASE,
    ROOT_PASSPHRASE,
    RepoBuilder,
    copy_example,
    delegation_key,
    sign_metadata,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from typer.testing import CliRunner, Result

from offtrust import crypto
from offtrust.bundle import BundleFile, BundleGUN, write_bundle
from offtrust.cli import app
from offtrust.errors import KeyAccessError
from offtrust.model.keys import PublicKey
from offtrust.model.metadata import ROOT, SNAPSHOT, TARGETS, TIMESTAMP, Metadata, RoleKeys
from offtrust.model.repository import RepoState
from offtrust.ops import staging
from offtrust.ops.context import Context
from offtrust.ops.delegations import signer_add, signer_remove, witness
from offtrust.ops.edit import Editor
from offtrust.ops.targets import target_add
from offtrust.ops.verify import verify_gun
from offtrust.passphrase import Passphrases
from offtrust.store.keystore import KeyStore
from offtrust.store.layout import TrustDir
from offtrust.store.repo import RepoStore, StagedInfo

APP, TOOLS = "example.com/app", "example.com/tools"
RELEASES, ALICE_ROLE = "targets/releases", "targets/alice"
_APP, _TOOLS = EXAMPLE["guns"][APP], EXAMPLE["guns"][TOOLS]
ALICE = _APP["signers"]["alice"][0]["key_id"]
BOB = _APP["signers"]["bob"][0]["key_id"]
APP_TARGETS_KEY = _APP["targets_key_id"]
TOOLS_TARGETS_KEY = _TOOLS["targets_key_id"]
TOOLS_SNAPSHOT_KEY = _TOOLS["snapshot_key_id"]
TOOLS_ROOT_ID = _TOOLS["root_key_id"]  # the certificate's ID, listed in root.json
ROOT_FILE_ID = _TOOLS["root_canonical_id"]  # the private key file's ID
DIGEST = "sha256:" + "cd" * 32
FORGED_TAG = "v6.6.6"
#: An ID no key hashes to, made up to list a key a second time.
MADE_UP_ID = hashlib.sha256(b"offtrust: a made-up key ID").hexdigest()
BUILT = "example.com/built"  # the GUN RepoBuilder repositories are written as


# -- set-up -----------------------------------------------------------------------------


@pytest.fixture
def trust(tmp_path: Path) -> Path:
    """A writable copy of the example trust directory."""
    return copy_example(tmp_path / "trust")


@pytest.fixture
def ctx(trust: Path) -> Context:
    """The ops context on *trust*, its clock at the example's creation."""
    return Context(TrustDir(trust), clock=lambda: EXAMPLE_NOW)


@pytest.fixture
def passphrases(monkeypatch: pytest.MonkeyPatch) -> Passphrases:
    """The example's passphrases, in the environment (so the CLI has them too)."""
    monkeypatch.setenv("DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE", ROOT_PASSPHRASE)
    monkeypatch.setenv("DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE", REPOSITORY_PASSPHRASE)
    return Passphrases(interactive=False)


@pytest.fixture
def dave(tmp_path: Path) -> Path:
    """A new signer's public key file, for ``signer add dave``."""
    path = tmp_path / "dave.pub"
    path.write_bytes(crypto.encode_public_key_pem(crypto.generate_private_key().public_key()))
    return path


def run(trust: Path, *args: str) -> Result:
    return CliRunner().invoke(app, ["-d", str(trust), *args])


def metadata_path(trust: Path, gun: str, role: str) -> Path:
    return TrustDir.role_file(TrustDir(trust).published_dir(gun), role)


def staged_files(trust: Path, gun: str) -> list[str]:
    """Every file under ``<trust>/offtrust/staged/<gun>``."""
    root = TrustDir(trust).staged_root(gun)
    if not root.exists():
        return []
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def names_role(text: str, role: str) -> bool:
    """Whether *text* names *role* itself (``targets`` is not named by ``targets/releases``)."""
    r = re.escape(role)
    return re.search(rf"(?<![\w/.-]){r}(?![\w/-])|/{r}\.json", text) is not None


def assert_clean_exit(result: Result) -> None:
    """A handled outcome: no traceback, no exception other than the exit."""
    assert "Traceback" not in result.stdout + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )


def assert_refused(result: Result, trust: Path, gun: str, role: str) -> None:
    """Exit 1, the failing role named on stderr, and nothing staged for *gun*."""
    assert_clean_exit(result)
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    assert names_role(result.stderr, role), result.stderr
    assert staged_files(trust, gun) == []


def load_key(trust: Path, keyid: str) -> crypto.PrivateKey:
    """A private key of the example (the passphrase variables must be set)."""
    return KeyStore(TrustDir(trust)).load(keyid, Passphrases(interactive=False))


def forge(
    trust: Path,
    gun: str,
    role: str,
    change: Callable[[dict[str, Any]], None],
    signers: list[tuple[str, str]] | None = None,
) -> None:
    """Change a published document.

    Args:
        change: edits the parsed document in place.
        signers: ``(listed key ID, private key file ID)`` pairs to re-sign it
            with the real keys; None keeps the old signatures.
    """
    path = metadata_path(trust, gun, role)
    document = json.loads(path.read_bytes())
    change(document)
    if signers is None:
        path.write_bytes(json.dumps(document, separators=(",", ":")).encode())
        return
    md = Metadata.from_dict(document, role)
    keys = [(listed, load_key(trust, file_id)) for listed, file_id in signers]
    path.write_bytes(sign_metadata(md.signed, keys).serialize())


def bump_version(document: dict[str, Any]) -> None:
    document["signed"]["version"] += 1


def add_forged_tag(document: dict[str, Any]) -> None:
    digest = base64.b64encode(hashlib.sha256(b"the attacker's image").digest()).decode()
    document["signed"]["targets"][FORGED_TAG] = {"hashes": {"sha256": digest}, "length": 666}


def add_key_to_releases(document: dict[str, Any]) -> None:
    key = crypto.generate_private_key().public_key()
    delegations = document["signed"]["delegations"]
    delegations["keys"][key.keyid] = key.to_dict()
    for entry in delegations["roles"]:
        if entry["name"] == RELEASES:
            entry["keyids"].append(key.keyid)


def forge_releases(trust: Path, how: str) -> None:
    """A forged tag in example.com/app's ``targets/releases.json``.

    ``signature``: the old signatures are kept (they no longer verify).
    ``hash``: re-signed with the real keys of the role (alice and bob), so only
    the snapshot's record of the file tells the forgery.
    """
    signers = None if how == "signature" else [(ALICE, ALICE), (BOB, BOB)]
    forge(trust, APP, RELEASES, add_forged_tag, signers)


def verify_json(trust: Path, gun: str) -> tuple[Result, dict[str, Any]]:
    result = run(trust, "verify", gun, "--json")
    assert_clean_exit(result)
    reports = json.loads(result.stdout)["guns"]
    assert [r["gun"] for r in reports] == [gun]
    return result, reports[0]


# -- the fixtures are good --------------------------------------------------------------


def test_the_untouched_example_verifies(trust: Path, ctx: Context) -> None:
    result = run(trust, "verify", "--all")
    assert_clean_exit(result)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert f"{APP}: OK" in result.stdout.splitlines()
    assert f"{TOOLS}: OK" in result.stdout.splitlines()
    for gun in (APP, TOOLS):
        report = verify_gun(ctx, gun)
        assert report.problems == [], [str(p) for p in report.problems]


# -- finding 1: laundering a tampered document by re-signing it -------------------------

#: (GUN, role, re-signed by (listed key ID, key file ID) or None to keep the signature)
TOP_LEVEL_TAMPERING: dict[str, tuple[str, str, list[tuple[str, str]] | None]] = {
    "targets-signature": (APP, TARGETS, None),
    "targets-hash": (APP, TARGETS, [(APP_TARGETS_KEY, APP_TARGETS_KEY)]),
    "root-signature": (APP, ROOT, None),
    "root-hash": (TOOLS, ROOT, [(TOOLS_ROOT_ID, ROOT_FILE_ID)]),
    "snapshot-signature": (APP, SNAPSHOT, None),
    "snapshot-hash": (TOOLS, SNAPSHOT, [(TOOLS_SNAPSHOT_KEY, TOOLS_SNAPSHOT_KEY)]),
    "timestamp-signature": (APP, TIMESTAMP, None),
}


def tamper_top_level(trust: Path, case: str) -> tuple[str, str]:
    """Tamper with one top-level document; ``-hash`` cases are validly re-signed."""
    gun, role, signers = TOP_LEVEL_TAMPERING[case]
    if role == TARGETS:
        forge(trust, gun, role, add_key_to_releases, signers)
    else:
        forge(trust, gun, role, bump_version, signers)
    return gun, role


@pytest.mark.parametrize("case", list(TOP_LEVEL_TAMPERING))
def test_a_tampered_top_level_role_fails_verify(
    trust: Path, passphrases: Passphrases, case: str
) -> None:
    """The premise of the laundering findings (passes today)."""
    gun, role = tamper_top_level(trust, case)
    result = run(trust, "verify", gun)
    assert_clean_exit(result)
    assert result.exit_code == 1
    assert names_role(result.stderr, role), result.stderr
    assert f"{gun}: FAILED" in result.stdout


def _edit_command(edit: str, gun: str, dave: Path) -> list[str]:
    if edit == "signer add":
        return ["signer", "add", "dave", gun, "--key", str(dave)]
    return ["target", "add", gun, "v2", "--digest", DIGEST, "--size", "42"]


@pytest.mark.parametrize("edit", ["signer add", "target add"])
@pytest.mark.parametrize("case", list(TOP_LEVEL_TAMPERING))
def test_a_failing_top_level_role_blocks_every_edit(
    trust: Path, passphrases: Passphrases, dave: Path, case: str, edit: str
) -> None:
    """``signer add`` would re-sign tampered targets with the real key; ``target add``
    (only targets/releases changes) must be refused just the same. Either way
    ``verify`` must keep failing afterwards."""
    gun, role = tamper_top_level(trust, case)
    result = run(trust, *_edit_command(edit, gun, dave))
    assert_refused(result, trust, gun, role)
    after = run(trust, "verify", gun)
    assert after.exit_code == 1, after.stdout


def test_verify_does_not_suggest_witness_for_a_forged_releases_file(trust: Path) -> None:
    forge_releases(trust, "signature")
    result, report = verify_json(trust, APP)
    assert result.exit_code == 1
    assert not report["ok"]
    problems = [p for p in report["problems"] if p["role"] == RELEASES and p["severity"] == "error"]
    assert problems, report
    fixes = [p["hint"] or "" for p in problems]
    assert not any("offtrust witness" in fix for fix in fixes), fixes
    assert "offtrust witness" not in result.stderr


def test_verify_does_not_suggest_witness_for_a_re_signed_forged_releases_file(
    trust: Path, passphrases: Passphrases
) -> None:
    """The hash-only variant already gets no witness suggestion (regression)."""
    forge_releases(trust, "hash")
    result, report = verify_json(trust, APP)
    assert result.exit_code == 1
    problems = [p for p in report["problems"] if p["role"] == RELEASES and p["severity"] == "error"]
    assert problems, report
    assert not any("offtrust witness" in (p["hint"] or "") for p in problems)


@pytest.mark.parametrize("how", ["signature", "hash"])
def test_witness_of_a_forged_releases_file_is_refused(
    trust: Path, passphrases: Passphrases, how: str
) -> None:
    forge_releases(trust, how)
    result = run(trust, "witness", APP, RELEASES)
    assert_refused(result, trust, APP, RELEASES)
    after = run(trust, "verify", APP)
    assert after.exit_code == 1, after.stdout


@pytest.mark.parametrize("how", ["signature", "hash"])
def test_target_add_into_a_forged_releases_file_is_refused(
    trust: Path, passphrases: Passphrases, how: str
) -> None:
    forge_releases(trust, how)
    result = run(
        trust, "target", "add", APP, "v2", "--digest", DIGEST, "--size", "42", "--role", RELEASES
    )
    assert_refused(result, trust, APP, RELEASES)


@pytest.mark.parametrize("how", ["signature", "hash"])
def test_a_forged_delegation_does_not_block_edits_of_other_roles(
    trust: Path, passphrases: Passphrases, dave: Path, how: str
) -> None:
    """``signer add`` changes only targets (releases' key list lives there) and
    ``target add --role targets/alice`` only alice: both stay allowed (regression)."""
    forge_releases(trust, how)
    added = run(trust, "signer", "add", "dave", APP, "--key", str(dave))
    assert_clean_exit(added)
    assert added.exit_code == 0, added.stderr
    assert staged_files(trust, APP) == ["metadata/state.json", "metadata/targets.json"]
    tagged = run(
        trust, "target", "add", APP, "v2", "--digest", DIGEST, "--size", "42", "--role", ALICE_ROLE
    )
    assert_clean_exit(tagged)
    assert tagged.exit_code == 0, tagged.stderr
    assert staged_files(trust, APP) == [
        "metadata/state.json",
        "metadata/targets.json",
        "metadata/targets/alice.json",
    ]


@pytest.mark.parametrize(
    "how",
    [
        "signature",
        pytest.param(
            "hash",
        ),
    ],
)
def test_verify_keeps_failing_after_an_edit_of_another_role(
    trust: Path, passphrases: Passphrases, dave: Path, how: str
) -> None:
    forge_releases(trust, how)
    added = run(trust, "signer", "add", "dave", APP, "--key", str(dave))
    assert added.exit_code == 0, added.stderr
    result = run(trust, "verify", APP)
    assert_clean_exit(result)
    assert result.exit_code == 1, result.stdout
    assert names_role(result.stderr, RELEASES), result.stderr


def test_removing_the_signers_of_releases_re_signs_it_with_the_remaining_local_key(
    ctx: Context, passphrases: Passphrases
) -> None:
    """Issue 8 item 2: no dead end when the remaining key of releases is local."""
    dave_key = crypto.generate_private_key()
    ctx.keys.save(dave_key, role="dave", passphrase=REPOSITORY_PASSPHRASE)
    signer_add(ctx, "dave", APP, [dave_key.public_key()], passphrases)
    signer_remove(ctx, "alice", APP, passphrases)
    result = signer_remove(ctx, "bob", APP, passphrases)
    assert RELEASES in result.changed
    assert any("re-signed with the remaining local keys" in w for w in result.warnings)
    state = ctx.repos.load(APP)
    assert [s.keyid for s in state.roles[RELEASES].iter_signatures()] == [dave_key.keyid]
    report = verify_gun(ctx, APP)
    assert report.errors == [], [str(p) for p in report.errors]


def test_witness_repairs_a_genuine_releases_file_whose_signers_left(
    ctx: Context, passphrases: Passphrases
) -> None:
    """releases.json is byte for byte what the snapshot records; only its signers'
    keys left the role, and the remaining key is not here: the edit warns who
    can fix it, stage packs it as Docker leaves it, and witness by the holder
    of the remaining key repairs it."""
    dave_key = crypto.generate_private_key()
    signer_add(ctx, "dave", APP, [dave_key.public_key()], passphrases)
    signer_remove(ctx, "alice", APP, passphrases)
    result = signer_remove(ctx, "bob", APP, passphrases)
    assert RELEASES not in result.changed
    (note,) = [w for w in result.warnings if RELEASES in w]
    assert f"dave ({dave_key.keyid[:12]})" in note
    assert f"offtrust witness {APP} {RELEASES}" in note
    published = metadata_path(ctx.trust.path, APP, RELEASES).read_bytes()
    assert ctx.repos.load(APP).roles[RELEASES].to_bytes() == published

    report = verify_gun(ctx, APP)
    assert [p.role for p in report.errors] == [RELEASES], [str(p) for p in report.errors]
    # dave's key is not here: the fix says whose witness it is.
    fix = report.errors[0].fix
    assert fix is not None
    assert f"dave ({dave_key.keyid[:12]}) runs `offtrust witness {APP} {RELEASES}`" in fix
    warnings: list[str] = []
    staging.build_bundle(ctx, [APP], warnings=warnings)
    (warning,) = [w for w in warnings if RELEASES in w]
    assert "no key of it is here" in warning
    assert f"dave ({dave_key.keyid[:12]})" in warning

    # The holder of dave's key (here: the key arrives) witnesses it.
    ctx.keys.save(dave_key, role="dave", passphrase=REPOSITORY_PASSPHRASE)
    result = witness(ctx, APP, [RELEASES], passphrases)
    assert RELEASES in result.changed
    report = verify_gun(ctx, APP)
    assert report.errors == [], [str(p) for p in report.errors]


# -- finding 3: a key ID is never checked against its key -------------------------------


def double_listed(attack: str | None, now: datetime) -> RepoBuilder:
    """A repository with targets/releases; with an *attack*, one key is listed
    twice (its own ID and :data:`MADE_UP_ID`), threshold 2, and its one
    (deterministic Ed25519) signature is listed under both IDs."""
    builder = RepoBuilder(gun=BUILT, now=now)
    key = delegation_key(1)
    entry = builder.add_delegation(RELEASES, [key])
    builder.add_target(RELEASES, "v1")
    if attack == TARGETS:
        targets_key = builder.keys[TARGETS]
        public = targets_key.public_key()
        builder.root.keys[MADE_UP_ID] = public
        builder.root.roles[TARGETS] = RoleKeys(keyids=[public.keyid, MADE_UP_ID], threshold=2)
        builder.signers[TARGETS] = [(public.keyid, targets_key), (MADE_UP_ID, targets_key)]
    elif attack == RELEASES:
        public = key.public_key()
        builder.targets().delegations.keys[MADE_UP_ID] = public
        entry.keyids = [public.keyid, MADE_UP_ID]
        entry.threshold = 2
        builder.signers[RELEASES] = [(public.keyid, key), (MADE_UP_ID, key)]
    return builder


def publish_built(trust: Path, state: RepoState) -> None:
    """Write every document of *state* as the published state of its GUN."""
    directory = TrustDir(trust).published_dir(state.gun)
    for role, md in state.roles.items():
        path = TrustDir.role_file(directory, role)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(md.to_bytes())


def offline_roles(state: RepoState) -> dict[str, Metadata[Any]]:
    """What an offline initialisation stages: all but the server's snapshot and timestamp."""
    return {r: md for r, md in state.roles.items() if r not in (SNAPSHOT, TIMESTAMP)}


def stage_built(trust: Path, state: RepoState) -> None:
    """Write *state* as the staged layer of a new GUN."""
    documents = {role: md.to_bytes() for role, md in offline_roles(state).items()}
    info = StagedInfo(base={}, edits=["initialised elsewhere"], new_gun=True)
    RepoStore(TrustDir(trust)).write_staged(state.gun, documents, info)


def bundle_built(path: Path, state: RepoState) -> Path:
    """A bundle initialising *state*'s GUN."""
    files = {
        role: BundleFile(role=role, data=md.to_bytes(), version=md.signed.version, upload=True)
        for role, md in offline_roles(state).items()
    }
    path.write_bytes(write_bundle([BundleGUN(gun=state.gun, base={}, new_gun=True, files=files)]))
    return path


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


DOUBLE_LISTED = [
    pytest.param(None, id="control"),
    pytest.param(TARGETS, id="targets-key-in-root"),
    pytest.param(RELEASES, id="releases-key-in-targets"),
]


#: The roles an error about each attack may name: the document that lists the
#: key twice, or the role whose threshold the one signature pretends to meet.
_LISTED_IN = {TARGETS: (ROOT, TARGETS), RELEASES: (TARGETS, RELEASES)}


def _expect_refused_or_ok(result: Result, attack: str | None) -> None:
    assert_clean_exit(result)
    if attack is None:
        assert result.exit_code == 0, result.stdout + result.stderr
    else:
        assert result.exit_code == 1, result.stdout + result.stderr
        assert any(names_role(result.stderr, r) for r in _LISTED_IN[attack]), result.stderr


@pytest.mark.parametrize("attack", DOUBLE_LISTED)
def test_verify_of_a_key_listed_twice(trust: Path, attack: str | None) -> None:
    publish_built(trust, double_listed(attack, _now()).build())
    _expect_refused_or_ok(run(trust, "verify", BUILT), attack)


@pytest.mark.parametrize("attack", DOUBLE_LISTED)
def test_stage_of_a_key_listed_twice(trust: Path, tmp_path: Path, attack: str | None) -> None:
    stage_built(trust, double_listed(attack, _now()).build())
    out = tmp_path / "out.bundle"
    result = run(trust, "stage", BUILT, "--output", str(out))
    _expect_refused_or_ok(result, attack)
    assert out.exists() == (attack is None)


@pytest.mark.parametrize("attack", DOUBLE_LISTED)
def test_bundle_verify_of_a_key_listed_twice(
    trust: Path, tmp_path: Path, attack: str | None
) -> None:
    bundle = bundle_built(tmp_path / "in.bundle", double_listed(attack, _now()).build())
    _expect_refused_or_ok(run(trust, "bundle", "verify", str(bundle)), attack)


# -- finding 6: root certificates -------------------------------------------------------


def _certificate_pem(
    key: ec.EllipticCurvePrivateKey, gun: str, not_before: datetime, days: int = 3650
) -> bytes:
    """A leaf certificate as ``notary init`` makes it, built with cryptography directly."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, gun)])
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=True,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + timedelta(days=days))
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def root_with_certificate(case: str, now: datetime) -> RepoState:
    """A repository whose root key is a hand-made certificate.

    ``control``: valid since a minute ago; ``not-yet-valid``: notBefore 30 days
    ahead; ``two-leaves``: the PEM holds the signing key's certificate and a
    second leaf (of another key), both otherwise valid.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    since = now + timedelta(days=30) if case == "not-yet-valid" else now - timedelta(minutes=1)
    pem = _certificate_pem(key, BUILT, since)
    if case == "two-leaves":
        pem += _certificate_pem(ec.generate_private_key(ec.SECP256R1()), BUILT, since)
    builder = RepoBuilder(gun=BUILT, now=now)
    builder.set_root_certificate(PublicKey.from_bytes("ecdsa-x509", pem), crypto.PrivateKey(key))
    builder.add_delegation(RELEASES, [delegation_key(1)])
    builder.add_target(RELEASES, "v1")
    return builder.build()


ROOT_CERTIFICATES = [
    pytest.param("control"),
    pytest.param("not-yet-valid"),
    pytest.param("two-leaves"),
]


def _expect_root_refused_or_ok(result: Result, case: str) -> None:
    assert_clean_exit(result)
    if case == "control":
        assert result.exit_code == 0, result.stdout + result.stderr
    else:
        assert result.exit_code == 1, result.stdout + result.stderr
        assert names_role(result.stderr, ROOT), result.stderr


@pytest.mark.parametrize("case", ROOT_CERTIFICATES)
def test_verify_of_a_root_certificate(trust: Path, case: str) -> None:
    publish_built(trust, root_with_certificate(case, _now()))
    _expect_root_refused_or_ok(run(trust, "verify", BUILT), case)


@pytest.mark.parametrize("case", ROOT_CERTIFICATES)
def test_bundle_verify_of_a_root_certificate(trust: Path, tmp_path: Path, case: str) -> None:
    bundle = bundle_built(tmp_path / "in.bundle", root_with_certificate(case, _now()))
    _expect_root_refused_or_ok(run(trust, "bundle", "verify", str(bundle)), case)


@pytest.mark.parametrize("case", ROOT_CERTIFICATES)
def test_verify_gun_of_a_root_certificate(trust: Path, case: str) -> None:
    """The same through the ops layer, at a fixed clock."""
    publish_built(trust, root_with_certificate(case, EXAMPLE_NOW))
    report = verify_gun(Context(TrustDir(trust), clock=lambda: EXAMPLE_NOW), BUILT)
    if case == "control":
        assert report.errors == [], [str(p) for p in report.errors]
    else:
        assert ROOT in [p.role for p in report.errors], [str(p) for p in report.problems]


# -- finding 7: inspect shows tags of roles that fail verification ----------------------


def inspected_tags(result: Result) -> set[str]:
    docs = json.loads(result.stdout)
    return {tag["SignedTag"] for doc in docs for tag in doc["SignedTags"]}


def test_inspect_of_the_untouched_example(trust: Path) -> None:
    result = run(trust, "inspect", APP)
    assert_clean_exit(result)
    assert result.exit_code == 0, result.stderr
    assert inspected_tags(result) == {"v1.0"}


@pytest.mark.parametrize("how", ["signature", "hash"])
def test_inspect_hides_tags_of_a_forged_role(
    trust: Path, passphrases: Passphrases, how: str
) -> None:
    forge_releases(trust, how)
    result = run(trust, "inspect", APP)
    assert_clean_exit(result)
    assert result.exit_code == 1, result.stdout
    assert names_role(result.stderr, RELEASES), result.stderr
    assert FORGED_TAG not in inspected_tags(result)


def test_inspect_still_shows_tags_of_an_expired_but_validly_signed_role(trust: Path) -> None:
    """An expired collection must stay inspectable to be repaired (regression)."""
    now = _now()
    builder = RepoBuilder(gun=BUILT, now=now)
    builder.add_delegation(RELEASES, [delegation_key(1)])
    builder.add_target(RELEASES, "v1")
    builder.expire(RELEASES, now - timedelta(days=1))
    publish_built(trust, builder.build())
    result = run(trust, "inspect", BUILT)
    assert_clean_exit(result)
    assert result.exit_code == 0, result.stderr
    assert inspected_tags(result) == {"v1"}
    warning = [line for line in result.stderr.splitlines() if "expired" in line]
    assert warning, result.stderr
    assert names_role(warning[0], RELEASES), warning


# -- finding 8: a private key file that does not hold the key of its ID -----------------


@pytest.mark.parametrize("case", ["alice-file-holds-bob", "targets-file-holds-tools-targets"])
def test_a_key_file_under_the_wrong_id_is_refused(
    ctx: Context, passphrases: Passphrases, case: str
) -> None:
    if case == "alice-file-holds-bob":
        wrong_id, actual = ALICE, BOB  # target add signs releases with alice and bob

        def edit() -> object:
            return target_add(ctx, APP, "v2", DIGEST, 42, passphrases)

    else:
        wrong_id, actual = APP_TARGETS_KEY, TOOLS_TARGETS_KEY  # signer add signs targets

        def edit() -> object:
            dave = crypto.generate_private_key().public_key()
            return signer_add(ctx, "dave", APP, [dave], passphrases)

    private = ctx.trust.private
    (private / f"{wrong_id}.key").write_bytes((private / f"{actual}.key").read_bytes())
    with pytest.raises(KeyAccessError) as raised:
        edit()
    assert raised.value.exit_code == 1
    assert wrong_id[:12] in raised.value.message
    assert staged_files(ctx.trust.path, APP) == []


def test_a_key_file_under_the_wrong_id_is_refused_by_the_cli(
    trust: Path, passphrases: Passphrases
) -> None:
    private = trust / "private"
    (private / f"{ALICE}.key").write_bytes((private / f"{BOB}.key").read_bytes())
    result = run(trust, "target", "add", APP, "v2", "--digest", DIGEST, "--size", "42")
    assert_clean_exit(result)
    assert result.exit_code == 1, result.stderr
    assert ALICE[:12] in result.stderr
    assert staged_files(trust, APP) == []


# -- finding 9: the working copy is the published state ---------------------------------


def test_editing_leaves_the_published_documents_alone(
    ctx: Context, passphrases: Passphrases
) -> None:
    on_disk = metadata_path(ctx.trust.path, APP, TARGETS).read_bytes()
    published_version = Metadata.from_bytes(on_disk, TARGETS).signed.version
    editor = Editor(ctx, APP, passphrases)
    targets = editor.targets(TARGETS)
    releases = targets.delegations.get(RELEASES)
    assert releases is not None
    releases.threshold = 2
    editor.note("threshold 2 for releases")
    editor.commit()

    published = editor.state.published[TARGETS]
    assert published.signed.version == published_version
    assert published.to_bytes() == on_disk
    assert published.signed.to_dict() == Metadata.from_bytes(on_disk, TARGETS).signed.to_dict()
