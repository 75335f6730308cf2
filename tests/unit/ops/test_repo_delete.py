"""``repo delete``: local data goes at once, a pinned deletion is staged, publish carries it out.

Against the in-memory notary-server of tests/fakes (the real one is in
tests/interop/test_repo_delete_real.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from builders import EXAMPLE, EXAMPLE_NOW, RepoBuilder, copy_example, read_tree, root_key
from fakes.fake_notary import FakeNotary
from test_online_fake import HOSTED, host, rotate_root
from typer.testing import CliRunner

from offtrust.bundle import BundleError, read_bundle, write_bundle
from offtrust.cli import app
from offtrust.errors import ConflictError, NotFoundError, VerificationError
from offtrust.model.metadata import ROOT, TIMESTAMP
from offtrust.ops import staging
from offtrust.ops.context import Context
from offtrust.ops.delete import delete_repo, plan_delete
from offtrust.ops.online import fetch_gun, publish_gun, verify_bundle_gun
from offtrust.store.layout import TrustDir

APP, TOOLS = "example.com/app", "example.com/tools"


@pytest.fixture
def fake() -> FakeNotary:
    return FakeNotary(now=EXAMPLE_NOW)


@pytest.fixture
def ctx(tmp_path: Path, fake: FakeNotary) -> Context:
    return Context(TrustDir(copy_example(tmp_path / "trust")), clock=lambda: fake.now)


def hosted_and_fetched(ctx: Context, fake: FakeNotary) -> RepoBuilder:
    repo = host(fake)
    assert fetch_gun(ctx, HOSTED, fake).status == "fetched"
    return repo


def delete(ctx: Context, gun: str, *, keys: bool = False) -> None:
    delete_repo(ctx, plan_delete(ctx, gun, keys=keys))


def stage_entry(ctx: Context, gun: str) -> object:
    data, packed = staging.build_bundle(ctx, [gun])
    assert packed == [gun]
    return read_bundle(data).guns[gun]


def test_local_data_goes_at_once_and_a_pinned_deletion_is_staged(
    ctx: Context, fake: FakeNotary
) -> None:
    hosted_and_fetched(ctx, fake)
    served_root = fake.current(HOSTED, ROOT)
    delete(ctx, HOSTED)
    assert not (ctx.trust.path / "tuf" / HOSTED).exists()
    assert HOSTED not in ctx.trust.all_guns()
    with pytest.raises(NotFoundError):
        ctx.repos.load(HOSTED)
    deletion = ctx.repos.deletion(HOSTED)
    assert deletion is not None
    assert deletion.trusted_root == served_root
    [row] = staging.status(ctx)
    assert row["gun"] == HOSTED
    assert row["delete"] is True
    assert "delete the repository on the server" in row["edits"][0]
    # The other GUNs are untouched and still verify.
    assert set(ctx.trust.all_guns()) == {APP, TOOLS}


def test_publish_deletes_on_the_server_and_checks_404_then_is_safe_twice(
    ctx: Context, fake: FakeNotary
) -> None:
    hosted_and_fetched(ctx, fake)
    delete(ctx, HOSTED)
    entry = stage_entry(ctx, HOSTED)
    assert entry.delete
    assert entry.files == {}
    assert entry.trusted_root is not None
    assert verify_bundle_gun(ctx, entry) == []  # type: ignore[arg-type]

    planned = publish_gun(ctx, entry, fake, dry_run=True)  # type: ignore[arg-type]
    assert planned.status == "would-delete"
    assert fake.delete_calls == []
    assert fake.current(HOSTED, ROOT) is not None

    done = publish_gun(ctx, entry, fake, dry_run=False)  # type: ignore[arg-type]
    assert done.status == "deleted", done
    assert fake.delete_calls == [HOSTED]
    assert fake.get_metadata(HOSTED, ROOT) is None
    assert fake.get_metadata(HOSTED, TIMESTAMP) is None

    again = publish_gun(ctx, entry, fake, dry_run=False)  # type: ignore[arg-type]
    assert again.status == "already-deleted"
    assert fake.delete_calls == [HOSTED]

    # fetch then sees it gone on the server: the staged deletion is done.
    assert fetch_gun(ctx, HOSTED, fake).status == "deleted"
    assert ctx.repos.deletion(HOSTED) is None
    assert staging.status(ctx) == []


def test_publish_refuses_to_delete_when_the_server_root_moved_on(
    ctx: Context, fake: FakeNotary
) -> None:
    repo = hosted_and_fetched(ctx, fake)
    delete(ctx, HOSTED)
    entry = stage_entry(ctx, HOSTED)
    rotate_root(fake, repo, root_key(7))
    with pytest.raises(ConflictError, match="root moved"):
        publish_gun(ctx, entry, fake, dry_run=False)  # type: ignore[arg-type]
    assert fake.delete_calls == []
    assert fake.current(HOSTED, ROOT) is not None


def test_publish_refuses_to_delete_another_repository_under_the_same_name(
    ctx: Context, fake: FakeNotary, tmp_path: Path
) -> None:
    hosted_and_fetched(ctx, fake)
    delete(ctx, HOSTED)
    entry = stage_entry(ctx, HOSTED)
    other = FakeNotary(now=EXAMPLE_NOW)
    host(other)  # a fresh RepoBuilder: other root keys, same GUN
    assert other.current(HOSTED, ROOT) != fake.current(HOSTED, ROOT)
    with pytest.raises(VerificationError, match="different root"):
        publish_gun(ctx, entry, other, dry_run=False)  # type: ignore[arg-type]
    assert other.delete_calls == []


def test_a_server_that_still_serves_the_gun_after_delete_fails_the_publish(
    ctx: Context, fake: FakeNotary
) -> None:
    hosted_and_fetched(ctx, fake)
    delete(ctx, HOSTED)
    entry = stage_entry(ctx, HOSTED)
    served = fake.current(HOSTED, ROOT)
    assert served is not None
    fake.delete_trust_data = lambda gun: fake.requests.append(f"DELETE {gun}")  # type: ignore[method-assign]
    with pytest.raises(VerificationError, match="still serves its root"):
        publish_gun(ctx, entry, fake, dry_run=False)  # type: ignore[arg-type]


def test_unknown_gun_is_refused_and_nothing_changes(ctx: Context) -> None:
    before = read_tree(ctx.trust.path)
    with pytest.raises(NotFoundError, match="no trust data"):
        plan_delete(ctx, "example.com/nothing")
    assert read_tree(ctx.trust.path) == before


def test_keys_go_with_keys_except_those_another_gun_uses(ctx: Context) -> None:
    app_gun = EXAMPLE["guns"][APP]
    root_id = app_gun["root_canonical_id"]
    own = {
        app_gun["targets_key_id"],
        *(k["canonical_id"] for s in app_gun["signers"].values() for k in s),
    }
    before = {k.keyid for k in ctx.keys.list()}
    assert own <= before
    assert root_id in before
    plan = plan_delete(ctx, APP, keys=True)
    assert {k.keyid for k in plan.keys} == own
    assert TOOLS in plan.kept_keys[root_id]  # notary reused the Docker root key for tools
    delete_repo(ctx, plan)
    after = {k.keyid for k in ctx.keys.list()}
    assert after == before - own
    # tools is intact: it still loads and verifies with its keys.
    from offtrust.ops.verify import load_and_verify

    assert load_and_verify(ctx, TOOLS).ok


def test_without_keys_every_key_stays(ctx: Context) -> None:
    before = {k.keyid for k in ctx.keys.list()}
    delete(ctx, APP)
    assert {k.keyid for k in ctx.keys.list()} == before


def test_staged_edits_go_too_and_reset_drops_the_deletion(
    ctx: Context, fake: FakeNotary, passphrases: object
) -> None:
    from offtrust.ops.edit import resign

    resign(ctx, APP, ["targets"], passphrases)  # type: ignore[arg-type]
    assert staging.staged_guns(ctx) == [APP]
    delete(ctx, APP)
    assert staging.staged_guns(ctx) == []
    assert ctx.repos.deletion(APP) is not None
    assert staging.reset(ctx, APP)
    assert ctx.repos.deletion(APP) is None
    assert not (ctx.trust.path / "offtrust" / "staged" / APP).exists()
    with pytest.raises(NotFoundError, match="nothing is staged"):
        staging.build_bundle(ctx)


def test_nested_guns_are_kept(ctx: Context) -> None:
    nested = ctx.trust.path / "tuf" / APP / "sub" / "metadata"
    shutil.copytree(ctx.trust.path / "tuf" / TOOLS / "metadata", nested)
    assert f"{APP}/sub" in ctx.trust.published_guns()
    (ctx.trust.path / "tuf" / APP / "changelist").mkdir()
    (ctx.trust.path / "tuf" / APP / "changelist" / "0_x.change").write_text("{}")
    delete(ctx, APP)
    assert ctx.trust.published_guns() == [f"{APP}/sub", TOOLS]
    assert not (ctx.trust.path / "tuf" / APP / "metadata").exists()
    assert not (ctx.trust.path / "tuf" / APP / "changelist").exists()


def test_a_gun_never_published_only_loses_its_local_data(
    ctx: Context, fake: FakeNotary, passphrases: object
) -> None:
    from test_online_fake import ALICE, NEW

    from offtrust.ops.delegations import signer_add

    assert fetch_gun(ctx, NEW, fake).status == "new"
    signer_add(ctx, "alice", NEW, [ALICE], passphrases)  # type: ignore[arg-type]
    plan = plan_delete(ctx, NEW)
    assert not plan.stages_deletion
    delete_repo(ctx, plan)
    assert NEW not in ctx.trust.all_guns()
    assert ctx.repos.deletion(NEW) is None
    assert not (ctx.trust.path / "offtrust" / "server" / NEW).exists()


def test_old_format_2_bundles_cannot_carry_a_deletion(ctx: Context, fake: FakeNotary) -> None:
    hosted_and_fetched(ctx, fake)
    delete(ctx, HOSTED)
    data, _ = staging.build_bundle(ctx, [HOSTED])
    assert b'"format_version": 3' in data
    entry = read_bundle(data).guns[HOSTED]
    assert read_bundle(write_bundle([entry])).guns[HOSTED].delete
    forged = data.replace(b'"format_version": 3', b'"format_version": 2')
    with pytest.raises(BundleError):
        read_bundle(forged)


def test_a_bundle_without_deletions_stays_format_2(ctx: Context, passphrases: object) -> None:
    from offtrust.ops.edit import resign

    resign(ctx, APP, ["targets"], passphrases)  # type: ignore[arg-type]
    data, _ = staging.build_bundle(ctx, [APP])
    assert b'"format_version": 2' in data


# -- the command line ------------------------------------------------------------------


def run(trust: Path, *args: str) -> object:
    return CliRunner().invoke(app, ["-d", str(trust), *args])


def test_cli_asks_for_confirmation_and_refuses_without_a_terminal(ctx: Context) -> None:
    before = read_tree(ctx.trust.path)
    result = run(ctx.trust.path, "repo", "delete", APP)
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert "no terminal to confirm on" in result.stderr  # type: ignore[attr-defined]
    assert read_tree(ctx.trust.path) == before


@pytest.mark.parametrize("flag", ["--yes", "-y", "--force", "-f"])
def test_cli_deletes_with_yes_or_force(ctx: Context, flag: str) -> None:
    result = run(ctx.trust.path, "repo", "delete", APP, flag)
    assert result.exit_code == 0, result.stderr  # type: ignore[attr-defined]
    assert "deletion staged" in result.stderr  # type: ignore[attr-defined]
    status = run(ctx.trust.path, "status")
    assert "delete the repository on the server" in status.stdout  # type: ignore[attr-defined]


def test_cli_help_has_an_example() -> None:
    result = CliRunner().invoke(app, ["repo", "delete", "--help"])
    assert result.exit_code == 0
    assert "Example: offtrust repo delete" in result.stdout
