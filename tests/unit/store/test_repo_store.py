"""Per-GUN metadata on disk: reading, the staged layer, all-or-nothing writes."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from builders import EXAMPLE, EXAMPLE_TRUST, SCHEMAS, read_tree
from pyfakefs.fake_filesystem import FakeFilesystem
from pyfakefs.fake_filesystem_unittest import Patcher

from offtrust.errors import (
    InvalidMetadataError,
    NotFoundError,
    SchemaError,
    StoreError,
    UsageError,
)
from offtrust.store import _fs
from offtrust.store.layout import TrustDir
from offtrust.store.repo import RepoStore, StagedInfo, read_metadata_file

TRUST = Path("/trust")
APP = "example.com/app"
APP_METADATA = TRUST / "tuf" / "example.com" / "app" / "metadata"
STAGED = TRUST / "offtrust" / "staged"


@pytest.fixture(scope="module", autouse=True)
def _schemas_loaded() -> None:
    """Load (and cache) every schema from the real filesystem before any fake one starts."""
    from offtrust.schema import preload

    preload()  # jsonschema too: valid documents no longer import it, refusals do
    real = EXAMPLE_TRUST / "tuf" / "example.com" / "app" / "metadata"
    for role in ("root", "targets", "snapshot", "timestamp", "targets/releases"):
        read_metadata_file(real / f"{role}.json", role, role)


@pytest.fixture
def repos(fs: FakeFilesystem) -> RepoStore:
    fs.add_real_directory(SCHEMAS)
    fs.add_real_directory(EXAMPLE_TRUST, read_only=False, target_path=TRUST)
    return RepoStore(TrustDir(TRUST))


@pytest.fixture
def nonroot_repos() -> Iterator[RepoStore]:
    """The example in a fake filesystem where permissions apply (CI often runs as root)."""
    tree = read_tree(EXAMPLE_TRUST)
    with Patcher(allow_root_user=False) as patcher:
        for name, data in tree.items():
            patcher.fs.create_file(TRUST / name, contents=data)
        yield RepoStore(TrustDir(TRUST))


def doc(path: Path) -> dict[str, Any]:
    return json.loads(path.read_bytes())


def write_doc(path: Path, document: dict[str, Any]) -> None:
    path.write_bytes(json.dumps(document, separators=(",", ":")).encode())


def temp_files(root: Path) -> list[str]:
    """Temporary files and generations offtrust left (``.tmp+…``, ``.gen+…``, …)."""
    return [p.as_posix() for p in root.rglob("*") if p.name.endswith(".tmp") or "+" in p.name]


# -- reading ----------------------------------------------------------------------------


def test_load_the_example_keeps_the_bytes(repos: RepoStore) -> None:
    state = repos.load(APP)
    assert sorted(state.roles) == sorted(EXAMPLE["guns"][APP]["cached_roles"])
    assert state.staged == set()
    for role, md in state.roles.items():
        assert md.to_bytes() == (APP_METADATA / f"{role}.json").read_bytes()
        assert state.sources[role] == "published"


def test_load_reads_only_delegations_some_parent_lists(
    repos: RepoStore, fs: FakeFilesystem
) -> None:
    # notary's cache keeps files of deleted delegations; they are not part of the repo.
    fs.create_file(APP_METADATA / "targets" / "gone.json", contents=b"{broken")
    assert "targets/gone" not in repos.load(APP).roles


def test_load_of_malformed_json_names_the_file(repos: RepoStore) -> None:
    (APP_METADATA / "targets.json").write_bytes(b'{"signed": {"_type": "Targets",')
    with pytest.raises(InvalidMetadataError) as info:
        repos.load(APP)
    assert "tuf/example.com/app/metadata/targets.json" in info.value.message
    assert "\n" not in str(info.value)


def test_load_of_a_schema_violation_names_file_and_path(repos: RepoStore) -> None:
    path = APP_METADATA / "targets" / "releases.json"
    document = doc(path)
    document["signed"]["version"] = 0
    write_doc(path, document)
    with pytest.raises(SchemaError) as info:
        repos.load(APP)
    assert info.value.message.startswith("tuf/example.com/app/metadata/targets/releases.json: ")
    assert "$.signed.version" in info.value.message


def test_load_of_an_unknown_gun(repos: RepoStore) -> None:
    with pytest.raises(NotFoundError, match="example.com/nope"):
        repos.load("example.com/nope")


def test_load_refuses_a_gun_that_escapes(repos: RepoStore) -> None:
    with pytest.raises(UsageError):
        repos.load("../x")


def test_staged_document_is_read_over_the_published_one(repos: RepoStore) -> None:
    published = (APP_METADATA / "targets" / "releases.json").read_bytes()
    document = json.loads(published)
    document["signed"]["version"] = 7
    data = json.dumps(document, separators=(",", ":")).encode()
    repos.write_staged(APP, {"targets/releases": data}, StagedInfo(base={"x": 1}, edits=["e"]))
    state = repos.load(APP)
    assert state.staged == {"targets/releases"}
    assert state.roles["targets/releases"].to_bytes() == data
    assert state.published["targets/releases"].to_bytes() == published
    assert repos.load(APP, staged=False).roles["targets/releases"].to_bytes() == published


# -- the staged layer -------------------------------------------------------------------


def test_write_staged_writes_documents_and_state(repos: RepoStore) -> None:
    info = StagedInfo(base={"targets": 3, "root": 1}, edits=["first"], new_gun=False)
    repos.write_staged(APP, {"targets": b"T", "targets/releases": b"R"}, info)
    assert (STAGED / APP / "metadata" / "targets.json").read_bytes() == b"T"
    assert (STAGED / APP / "metadata" / "targets" / "releases.json").read_bytes() == b"R"
    assert repos.staged_files(APP) == {
        "targets": STAGED / APP / "metadata" / "targets.json",
        "targets/releases": STAGED / APP / "metadata" / "targets" / "releases.json",
    }
    back = repos.staged_info(APP)
    assert back is not None
    assert back.to_dict() == {
        "base": {"root": 1, "targets": 3},
        "edits": ["first"],
        "new_gun": False,
    }
    assert temp_files(TRUST) == []


def test_remembering_works_out_the_retire_rule_once_until_a_write(
    repos: RepoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Within ``remembering`` the retire rule is read once per GUN; a write forgets it."""
    import offtrust.store.repo as repo_module

    repos.write_staged(APP, {"targets": b"T"}, StagedInfo({}, []))
    calls: list[bool] = []
    real = repo_module._is_published

    def counted(*args: Any) -> bool:
        calls.append(real(*args))
        return calls[-1]

    monkeypatch.setattr(repo_module, "_is_published", counted)
    with repos.remembering():
        assert list(repos.staged_files(APP)) == ["targets"]
        assert repos.staged_info(APP) is not None
        assert repos.staged_published(APP) is False
        assert calls == [False]
        # The edit reaches the server: the published side now holds it.
        repos.write_published(APP, {"targets": b"T"})
        assert repos.staged_files(APP) == {}
        assert repos.staged_published(APP) is True
        assert calls == [False, True]
    assert repos.staged_files(APP) == {}
    assert calls == [False, True, True]  # outside the block, worked out every time


def test_write_staged_removes_dropped_roles(repos: RepoStore) -> None:
    repos.write_staged(APP, {"targets": b"T", "targets/alice": b"A"}, StagedInfo({}, []))
    repos.write_staged(APP, {"targets": b"T2"}, StagedInfo({}, []), remove=["targets/alice"])
    assert sorted(repos.staged_files(APP)) == ["targets"]


def test_write_staged_is_all_or_nothing_when_a_rename_fails(
    repos: RepoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    repos.write_staged(APP, {"targets": b"old-T"}, StagedInfo({"targets": 1}, ["one"]))
    before = read_tree(TRUST)

    real_rename = _fs.Dir.rename
    calls: list[str] = []

    def rename(self: _fs.Dir, src: str, dst: str) -> None:
        calls.append(dst)
        # The second rename switches the new generation in: it fails.
        if len(calls) == 2:
            raise StoreError(f"cannot rename {src}: No space left on device")
        real_rename(self, src, dst)

    monkeypatch.setattr(_fs.Dir, "rename", rename)
    with pytest.raises(StoreError, match="No space left"):
        repos.write_staged(
            APP,
            {"targets": b"new-T", "targets/releases": b"new-R"},
            StagedInfo({"targets": 1}, ["one", "two"]),
        )
    assert len(calls) >= 2  # the old generation was moved aside before the failure
    monkeypatch.undo()
    assert read_tree(TRUST) == before
    assert temp_files(TRUST) == []


def test_write_staged_is_all_or_nothing_when_a_directory_is_read_only(
    nonroot_repos: RepoStore,
) -> None:
    repos = nonroot_repos
    repos.write_staged(APP, {"targets": b"old-T"}, StagedInfo({"targets": 1}, ["one"]))
    before = read_tree(TRUST)
    # The GUN's directory cannot be written: no new generation can be made there.
    os.chmod(STAGED / APP, 0o500)
    with pytest.raises(StoreError, match="offtrust/staged/example.com/app"):
        repos.write_staged(
            APP,
            {"targets": b"new-T", "targets/releases": b"new-R"},
            StagedInfo({"targets": 1}, ["one", "two"]),
        )
    os.chmod(STAGED / APP, 0o700)
    assert read_tree(TRUST) == before
    assert temp_files(TRUST) == []


def test_published_files_are_never_touched_by_staging(repos: RepoStore) -> None:
    before = read_tree(TRUST / "tuf")
    repos.write_staged(APP, {"targets": b"T"}, StagedInfo({}, []))
    repos.reset(APP)
    assert read_tree(TRUST / "tuf") == before


def test_reset_removes_the_staged_directory(repos: RepoStore, fs: FakeFilesystem) -> None:
    fs.create_dir(STAGED / "example.com" / "tools" / "metadata")
    repos.write_staged(APP, {"targets": b"T"}, StagedInfo({}, []))
    assert repos.reset(APP) is True
    assert not (STAGED / APP).exists()
    # The sibling GUN, and with it the shared parent, stay.
    assert (STAGED / "example.com" / "tools").is_dir()
    assert repos.staged_info(APP) is None
    assert repos.reset(APP) is False


def test_reset_removes_empty_parents_of_a_nested_gun(repos: RepoStore) -> None:
    repos.write_staged("registry:5000/a/b", {"targets": b"T"}, StagedInfo({}, []))
    assert repos.reset("registry:5000/a/b")
    assert list(STAGED.iterdir()) == []


def test_unreadable_staged_state_names_the_file(repos: RepoStore, fs: FakeFilesystem) -> None:
    fs.create_file(STAGED / APP / "metadata" / "state.json", contents=b"{nope")
    with pytest.raises(
        InvalidMetadataError, match="offtrust/staged/example.com/app/metadata/state.json"
    ):
        repos.staged_info(APP)


def test_the_state_file_of_earlier_versions_is_still_read(
    repos: RepoStore, fs: FakeFilesystem
) -> None:
    # offtrust before 0.2 kept it next to the staged metadata, not in it.
    fs.create_file(STAGED / APP / "metadata" / "targets.json", contents=b"T")
    fs.create_file(
        STAGED / APP / "state.json", contents=b'{"base": {"targets": 3}, "edits": ["e"]}'
    )
    info = repos.staged_info(APP)
    assert info is not None
    assert info.base == {"targets": 3}
    # The next write moves it into the generation.
    repos.write_staged(APP, {"targets": b"T2"}, info)
    assert not (STAGED / APP / "state.json").exists()
    back = repos.staged_info(APP)
    assert back is not None
    assert back.base == {"targets": 3}
    assert (STAGED / APP / "metadata" / "state.json").is_file()
