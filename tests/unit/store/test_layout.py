"""Path rules of the trust directory: GUN discovery and GUN validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import EXAMPLE, EXAMPLE_TRUST
from pyfakefs.fake_filesystem import FakeFilesystem

from offtrust.errors import UsageError
from offtrust.store import _fs
from offtrust.store.layout import TrustDir, check_gun, check_role_path

TRUST = Path("/trust")


@pytest.fixture
def trust(fs: FakeFilesystem) -> TrustDir:
    fs.add_real_directory(EXAMPLE_TRUST, read_only=False, target_path=TRUST)
    return TrustDir(TRUST)


def test_all_guns_of_the_example(trust: TrustDir) -> None:
    assert trust.all_guns() == sorted(EXAMPLE["guns"])
    assert trust.all_guns() == ["example.com/app", "example.com/tools"]


def test_all_guns_ignores_changelist_and_metadata_subdirs(
    fs: FakeFilesystem, trust: TrustDir
) -> None:
    app = TRUST / "tuf" / "example.com" / "app"
    # notary's changelist, and anything below metadata/, never holds a GUN, even
    # when it happens to contain a directory called "metadata".
    fs.create_dir(app / "changelist" / "x" / "metadata")
    fs.create_dir(app / "metadata" / "targets" / "metadata")
    fs.create_dir(app / "metadata" / "sub" / "metadata")
    assert trust.all_guns() == ["example.com/app", "example.com/tools"]


def test_all_guns_ignores_directories_without_metadata(fs: FakeFilesystem, trust: TrustDir) -> None:
    fs.create_dir(TRUST / "tuf" / "example.com" / "empty")
    fs.create_file(TRUST / "tuf" / "example.com" / "metadata.txt")
    assert trust.all_guns() == ["example.com/app", "example.com/tools"]


def test_nested_gun_paths(fs: FakeFilesystem, trust: TrustDir) -> None:
    fs.create_dir(TRUST / "tuf" / "registry.example.com:5000" / "org" / "team" / "app" / "metadata")
    # A GUN may live inside another GUN's directory (example.com/app/sub).
    fs.create_dir(TRUST / "tuf" / "example.com" / "app" / "sub" / "metadata")
    assert trust.published_guns() == [
        "example.com/app",
        "example.com/app/sub",
        "example.com/tools",
        "registry.example.com:5000/org/team/app",
    ]


def test_all_guns_includes_staged_only_guns(fs: FakeFilesystem, trust: TrustDir) -> None:
    fs.create_dir(TRUST / "offtrust" / "staged" / "example.com" / "new" / "metadata")
    fs.create_dir(TRUST / "offtrust" / "staged" / "example.com" / "app" / "metadata")
    assert trust.staged_guns() == ["example.com/app", "example.com/new"]
    assert trust.all_guns() == ["example.com/app", "example.com/new", "example.com/tools"]


def test_staged_guns_and_marked_ones_in_one_walk(
    fs: FakeFilesystem, trust: TrustDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    staged = TRUST / "offtrust" / "staged"
    fs.create_dir(staged / "example.com" / "app" / "metadata")
    fs.create_file(staged / "example.com" / "gone" / "deletion.json")
    fs.create_file(staged / "example.com" / "nested" / "deeper" / "deletion.json")
    # Not a regular file: a directory, and a link, named like the marker.
    fs.create_dir(staged / "example.com" / "odd" / "deletion.json")
    fs.create_symlink(staged / "example.com" / "linked" / "deletion.json", "/elsewhere")
    # Below a generation, or a leftover, nothing counts.
    fs.create_file(staged / "example.com" / "app" / "metadata" / "x" / "deletion.json")
    opened: list[str] = []
    real = _fs.Dir.entries

    def entries(self: _fs.Dir) -> list[tuple[str, str]]:
        opened.append(self.label)
        return real(self)

    monkeypatch.setattr(_fs.Dir, "entries", entries)
    guns, marked = trust.staged_guns_marked("deletion.json")
    assert sorted(set(opened)) == sorted(opened), "a directory was listed twice"
    assert guns == trust.staged_guns() == ["example.com/app"]
    assert marked == ["example.com/gone", "example.com/nested/deeper"]


def test_no_tuf_directory_means_no_guns(fs: FakeFilesystem) -> None:
    fs.create_dir("/empty")
    assert TrustDir(Path("/empty")).all_guns() == []
    assert TrustDir(Path("/missing")).all_guns() == []


def test_paths_of_a_gun() -> None:
    trust = TrustDir(TRUST)
    assert trust.published_dir("example.com/app") == TRUST / "tuf/example.com/app/metadata"
    assert trust.staged_dir("example.com/app") == (
        TRUST / "offtrust/staged/example.com/app/metadata"
    )
    assert TrustDir.role_file(Path("/m"), "targets/releases") == Path("/m/targets/releases.json")


@pytest.mark.parametrize(
    "gun",
    ["../x", "/abs", "a//b", "a/./b", "a/../b", "a/", ".", "..", "", "a\\b", "a*", "a\x00b"],
    ids=[
        "dotdot-first",
        "absolute",
        "empty-part",
        "dot-part",
        "dotdot-middle",
        "trailing-slash",
        "dot",
        "dotdot",
        "empty",
        "backslash",
        "star",
        "nul",
    ],
)
def test_check_gun_rejects(gun: str) -> None:
    with pytest.raises(UsageError, match="invalid GUN"):
        check_gun(gun)
    # Every path built from a GUN goes through the same check.
    with pytest.raises(UsageError):
        TrustDir(TRUST).published_dir(gun)


@pytest.mark.parametrize(
    "gun",
    ["example.com/app", "docker.io/library/alpine", "registry:5000/a/b-c_d.e", "localhost"],
)
def test_check_gun_accepts(gun: str) -> None:
    assert check_gun(gun) == gun


@pytest.mark.parametrize("role", ["../root", "/etc/passwd", "targets//a", "targets/./a", ""])
def test_check_role_path_rejects(role: str) -> None:
    with pytest.raises(UsageError, match="invalid role name"):
        check_role_path(role)
