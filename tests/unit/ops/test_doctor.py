"""``doctor``: each kind of problem in a store built to have it, and nothing else.

The store is the example trust directory (made with the real tools), changed
in one way per test. The same with stores made by notary and docker is in
tests/interop/test_doctor_real.py.
"""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from builders import EXAMPLE, copy_example
from typer.testing import CliRunner

from offtrust.cli import app
from offtrust.ops import staging
from offtrust.ops.context import Context
from offtrust.ops.delete import delete_repo, plan_delete
from offtrust.ops.doctor import doctor
from offtrust.ops.edit import resign
from offtrust.ops.keys import generate_key
from offtrust.passphrase import Passphrases

APP, TOOLS = "example.com/app", "example.com/tools"
ALICE = EXAMPLE["guns"][APP]["signers"]["alice"][0]["canonical_id"]
TARGETS_KEY = EXAMPLE["guns"][APP]["targets_key_id"]


def kinds(ctx: Context) -> list[tuple[str, str]]:
    return [(f.kind, f.object) for f in doctor(ctx).findings]


def test_the_example_store_is_healthy(ctx: Context) -> None:
    assert doctor(ctx).findings == []


def test_a_key_no_metadata_lists(ctx: Context, passphrases: Passphrases, tmp_path: Path) -> None:
    made = generate_key(ctx, "carol", tmp_path, passphrases)
    [finding] = doctor(ctx).findings
    assert finding.kind == "unused-key"
    assert made["keyid"] in finding.object
    assert finding.fix == f"offtrust key remove {made['keyid']}"


def test_an_unencrypted_private_key(ctx: Context, passphrases: Passphrases) -> None:
    key = ctx.keyring(passphrases).private_key(ALICE)
    ctx.keys.save(key, role="alice", passphrase=None, overwrite=True)
    [finding] = doctor(ctx).findings
    assert (finding.kind, finding.fix) == ("unencrypted-key", f"offtrust key passwd {ALICE}")


def test_an_rsa_key_under_2048_bits(ctx: Context, tmp_path: Path) -> None:
    pem = subprocess.run(
        ["openssl", "genrsa", "-traditional", "1024"], check=True, capture_output=True
    ).stdout
    keyid = "ab" * 32
    path = ctx.trust.private / f"{keyid}.key"
    path.write_bytes(pem.replace(b"-----\n", b"-----\nrole: weak\n\n", 1))
    path.chmod(0o600)
    found = {f.kind: f for f in doctor(ctx).findings}
    # Written by hand, so no metadata lists it, and openssl leaves it unencrypted.
    assert sorted(found) == ["unencrypted-key", "unused-key", "weak-rsa-key"]
    assert "RSA key of 1024 bits" in found["weak-rsa-key"].problem
    assert all(keyid in f.object for f in found.values())


def test_key_files_and_directories_others_can_read(ctx: Context) -> None:
    key_file = ctx.trust.private / f"{ALICE}.key"
    key_file.chmod(0o644)
    ctx.trust.private.chmod(0o755)
    found = doctor(ctx).findings
    assert [(f.kind, f.fix) for f in found] == [
        ("permissions", f"chmod 700 {ctx.trust.private}"),
        ("permissions", f"chmod 600 {key_file}"),
    ]


def test_a_role_with_no_local_key(ctx: Context) -> None:
    (ctx.trust.private / f"{TARGETS_KEY}.key").unlink()
    [finding] = doctor(ctx).findings
    assert (finding.kind, finding.object) == ("no-local-key", f"{APP} targets")
    assert "--role targets --gun example.com/app" in finding.fix


def test_expiring_metadata_then_staged_then_bundled(ctx: Context, passphrases: Passphrases) -> None:
    resign(ctx, APP, ["targets"], passphrases, expires_in=timedelta(days=10))
    assert kinds(ctx) == [("expiring", f"{APP} targets"), ("staged-not-bundled", APP)]
    [expiring, staged] = doctor(ctx).findings
    assert expiring.fix == f"offtrust resign {APP} targets"
    assert staged.fix == f"offtrust stage {APP} --output BUNDLE"
    data, packed = staging.build_bundle(ctx)
    # Packing alone records nothing: only a bundle that was written is.
    assert kinds(ctx)[-1] == ("staged-not-bundled", APP)
    staging.record_bundled(ctx, packed, data)
    import hashlib

    digest = hashlib.sha256(data).hexdigest()
    [_, bundled] = doctor(ctx).findings
    assert (bundled.kind, bundled.object) == ("bundled-not-published", APP)
    assert digest in bundled.problem
    assert digest in bundled.fix
    # A new edit after staging: the bundle no longer holds the staged state.
    resign(ctx, APP, ["targets"], passphrases, expires_in=timedelta(days=10))
    assert kinds(ctx)[-1] == ("staged-not-bundled", APP)


def test_bundled_records_of_separate_stages_are_kept_together(
    ctx: Context, passphrases: Passphrases
) -> None:
    """One index holds every GUN's record: staging one GUN keeps what another went into."""
    import hashlib

    resign(ctx, APP, ["targets"], passphrases)
    resign(ctx, TOOLS, ["targets"], passphrases)
    first, packed = staging.build_bundle(ctx, [APP])
    staging.record_bundled(ctx, packed, first)
    second, packed = staging.build_bundle(ctx, [TOOLS])
    staging.record_bundled(ctx, packed, second)
    fresh = Context(ctx.trust)  # reads the records back from the trust directory
    assert fresh.repos.bundled(APP) == hashlib.sha256(first).hexdigest()
    assert fresh.repos.bundled(TOOLS) == hashlib.sha256(second).hexdigest()
    # A GUN no longer staged loses its record at the next stage.
    staging.reset(ctx, APP)
    third, packed = staging.build_bundle(ctx, [TOOLS])
    staging.record_bundled(ctx, packed, third)
    index = json.loads((ctx.trust.root / "offtrust" / "bundled.json").read_bytes())
    assert sorted(index["guns"]) == [TOOLS]
    assert index["guns"][TOOLS]["bundle_sha256"] == hashlib.sha256(third).hexdigest()


def test_a_broken_bundled_index_is_no_record(ctx: Context, passphrases: Passphrases) -> None:
    resign(ctx, APP, ["targets"], passphrases)
    index = ctx.trust.root / "offtrust" / "bundled.json"
    for broken in (b"{", b"[]", b'{"guns": {"example.com/app": 7}}', b"\xff"):
        index.write_bytes(broken)
        assert kinds(Context(ctx.trust))[-1] == ("staged-not-bundled", APP)
    data, packed = staging.build_bundle(ctx)
    staging.record_bundled(Context(ctx.trust), packed, data)
    assert kinds(Context(ctx.trust))[-1] == ("bundled-not-published", APP)


def test_expired_metadata(ctx: Context) -> None:
    ctx.clock = lambda: ctx_now_plus(ctx, days=365 * 4)
    found = {(f.kind, f.object) for f in doctor(ctx).findings}
    assert ("expired", f"{APP} targets") in found
    assert all(kind in ("expired", "expiring", "verification") for kind, _ in found)


def ctx_now_plus(ctx: Context, *, days: int) -> object:
    from builders import EXAMPLE_NOW

    return EXAMPLE_NOW + timedelta(days=days)


def test_a_staged_deletion_not_bundled_then_bundled(ctx: Context) -> None:
    kept = delete_repo(ctx, plan_delete(ctx, APP))
    # Without --keys the deleted GUN's own keys stay, and nothing lists them now.
    assert {f.kind for f in doctor(ctx).findings} == {"unused-key", "staged-not-bundled"}
    assert {k.keyid for k in kept.keys} == set()
    for f in doctor(ctx).findings:
        if f.kind == "unused-key":
            ctx.keys.remove(f.fix.rsplit(" ", 1)[1])
    [finding] = doctor(ctx).findings
    assert (finding.kind, finding.object) == ("staged-not-bundled", APP)
    assert "a deletion" in finding.problem
    staging.record_bundled(ctx, *reversed(staging.build_bundle(ctx)))
    [finding] = doctor(ctx).findings
    assert finding.kind == "bundled-not-published"


def test_a_gun_that_fails_verification(ctx: Context) -> None:
    path = ctx.trust.path / "tuf" / TOOLS / "metadata" / "targets.json"
    doc = json.loads(path.read_bytes())
    doc["signatures"][0]["sig"] = "AAAA" + doc["signatures"][0]["sig"][4:]
    path.write_text(json.dumps(doc))
    found = doctor(ctx).findings
    assert found
    assert all(f.object.startswith(TOOLS) for f in found)
    assert any(f.kind == "verification" for f in found)


def test_doctor_changes_nothing(ctx: Context, passphrases: Passphrases) -> None:
    from builders import read_tree

    resign(ctx, APP, ["targets"], passphrases, expires_in=timedelta(days=10))
    before = read_tree(ctx.trust.path)
    doctor(ctx)
    assert read_tree(ctx.trust.path) == before


# -- the command line ------------------------------------------------------------------


def test_cli_healthy_store_says_so_and_exits_0(tmp_path: Path) -> None:
    trust = copy_example(tmp_path / "trust")
    result = CliRunner().invoke(app, ["-d", str(trust), "doctor"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "no problems found\n"
    result = CliRunner().invoke(app, ["-d", str(trust), "doctor", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"findings": [], "problems": 0}


def test_cli_problems_exit_1_with_json(tmp_path: Path) -> None:
    trust = copy_example(tmp_path / "trust")
    key_file = trust / "private" / f"{ALICE}.key"
    key_file.chmod(0o640)
    result = CliRunner().invoke(app, ["-d", str(trust), "doctor", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "findings": [
            {
                "kind": "permissions",
                "object": str(key_file),
                "problem": "key file has mode 0640: group or other users can access it",
                "fix": f"chmod 600 {key_file}",
            }
        ],
        "problems": 1,
    }
    assert "offtrust: error: doctor found 1 problem(s)" in result.stderr
    human = CliRunner().invoke(app, ["-d", str(trust), "doctor"])
    assert human.exit_code == 1
    assert f"fix: chmod 600 {key_file}" in human.stdout


def test_cli_fixes_carry_the_trust_dir(tmp_path: Path) -> None:
    trust = copy_example(tmp_path / "trust")
    (trust / "private" / f"{TARGETS_KEY}.key").unlink()
    result = CliRunner().invoke(app, ["-d", str(trust), "doctor", "--json"])
    [finding] = json.loads(result.stdout)["findings"]
    assert finding["fix"].startswith(f"offtrust -d {trust} key import")


@pytest.mark.parametrize("args", [["doctor", "--help"]])
def test_cli_help_has_an_example(args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert "Example: offtrust doctor" in result.stdout


def test_the_named_fix_of_an_unencrypted_key_works(
    ctx: Context, passphrases: Passphrases, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = ctx.keyring(passphrases).private_key(ALICE)
    ctx.keys.save(key, role="alice", passphrase=None, overwrite=True)
    [finding] = doctor(ctx).findings
    monkeypatch.setenv("OFFTRUST_NEW_PASSPHRASE", "a-new-long-passphrase")
    fix = finding.fix.split()
    assert fix[:3] == ["offtrust", "key", "passwd"]
    result = CliRunner().invoke(app, ["-d", str(ctx.trust.path), *fix[1:]])
    assert result.exit_code == 0, result.stderr
    assert doctor(ctx).findings == []
