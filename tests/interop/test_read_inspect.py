"""offtrust ``inspect`` and ``delegation list`` against the real Docker / notary output.

Trust data is made by the real tools (``docker_repo``, ``notary_repo`` and a
notary repo with a richer delegation tree); offtrust reads it offline and must
print what ``docker trust inspect [--pretty]`` and ``notary delegation list``
print for the same data.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from offtrust_helpers import notary_delegations as parse_notary_delegations
from offtrust_helpers import run_offtrust
from realtools import TrustRepo, copy_trust_dir, make_ecdsa_keypair

# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #


def offtrust_ok(trust_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``offtrust -d TRUST_DIR ARGS...`` with no passphrases; fails unless it exits 0."""
    return run_offtrust(trust_dir, *args, passphrases=None)


def docker_inspect(
    run: Callable[..., subprocess.CompletedProcess[str]], *args: str
) -> subprocess.CompletedProcess[str]:
    proc = run("trust", "inspect", *args)
    # Docker silently falls back to its cache when the server is unreachable.
    assert "using cached" not in proc.stderr, proc.stderr
    return proc


# --------------------------------------------------------------------------- #
# Repos
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def tree_repo(make_notary_repo: Callable[..., TrustRepo]) -> TrustRepo:
    """A notary repo whose delegations have several paths, several keys and a child role.

    targets/releases (1 key, all paths) holds v1; targets/team has two keys
    and paths ``lib/`` and ``app/``; targets/releases/qa (child of releases)
    has path ``qa/``.
    """
    repo = make_notary_repo("tree")
    team = [make_ecdsa_keypair(repo.keys_dir, f"team{i}")[0] for i in (1, 2)]
    repo.notary(
        "delegation",
        "add",
        repo.gun,
        "targets/team",
        *map(str, team),
        "--paths",
        "lib/",
        "--paths",
        "app/",
    )
    qa, _ = make_ecdsa_keypair(repo.keys_dir, "qa")
    repo.notary("delegation", "add", repo.gun, "targets/releases/qa", str(qa), "--paths", "qa/")
    repo.notary("publish", repo.gun)
    repo.notary("list", repo.gun)  # refresh the cache
    return repo


@pytest.fixture(scope="module")
def untagged_repo(make_docker_repo: Callable[..., TrustRepo]) -> TrustRepo:
    """A Docker repo with one signer and no signed tag ("No signatures for ...")."""
    return make_docker_repo("untagged", signers=(("alice", "ecdsa"),), tags=())


@pytest.fixture(scope="module")
def plain_repo(make_notary_repo: Callable[..., TrustRepo]) -> TrustRepo:
    """A notary repo with no delegation, tags signed straight into targets."""
    return make_notary_repo(
        "plain", delegation="", tags=(("v10", ("targets",)), ("v2", ("targets",)))
    )


# --------------------------------------------------------------------------- #
# inspect
# --------------------------------------------------------------------------- #


@pytest.mark.interop
def test_inspect_docker_repo_matches_docker(docker_repo: TrustRepo) -> None:
    docker = docker_inspect(docker_repo.docker, docker_repo.gun)
    ours = offtrust_ok(docker_repo.trust_dir, "inspect", docker_repo.gun)
    expected = json.loads(docker.stdout)
    # Exact, including the order of every list.
    assert json.loads(ours.stdout) == expected
    # The harness repo has what the comparison is meant to cover.
    (doc,) = expected
    assert [t["SignedTag"] for t in doc["SignedTags"]] == ["v1", "v2"]
    assert [s["Name"] for s in doc["Signers"]] == ["carol", "bob", "alice"]
    # Same bytes too: 4-space indent, Go's HTML escaping, final newline.
    assert ours.stdout == docker.stdout
    assert ours.stderr == ""


@pytest.mark.interop
def test_inspect_notary_repo_matches_docker(
    notary_repo: TrustRepo, docker_cli: Callable[..., Any], tmp_path: Path
) -> None:
    # A fresh DOCKER_CONFIG: Docker downloads the repo from the server.
    docker = docker_inspect(lambda *a: docker_cli(tmp_path / "cfg", *a), notary_repo.gun)
    ours = offtrust_ok(notary_repo.trust_dir, "inspect", notary_repo.gun)
    expected = json.loads(docker.stdout)
    assert json.loads(ours.stdout) == expected
    (doc,) = expected
    assert doc["Signers"] == []  # targets/releases is not a signer
    assert [t["Signers"] for t in doc["SignedTags"]] == [["Repo Admin"]]
    assert ours.stdout == docker.stdout


@pytest.mark.interop
def test_inspect_several_guns_matches_docker(
    docker_repo: TrustRepo,
    notary_repo: TrustRepo,
    tree_repo: TrustRepo,
    docker_cli: Callable[..., Any],
    tmp_path: Path,
) -> None:
    # One trust dir holding the three GUNs, as after `offtrust fetch` of all three.
    trust = copy_trust_dir(docker_repo.trust_dir, tmp_path / "trust")
    for repo in (notary_repo, tree_repo):
        copy_trust_dir(repo.trust_dir / "tuf" / repo.gun, trust / "tuf" / repo.gun)
    guns = [tree_repo.gun, docker_repo.gun, notary_repo.gun]
    docker = docker_inspect(lambda *a: docker_cli(tmp_path / "cfg", *a), *guns)
    ours = offtrust_ok(trust, "inspect", *guns)
    assert json.loads(ours.stdout) == json.loads(docker.stdout)
    assert [d["Name"] for d in json.loads(ours.stdout)] == guns


@pytest.mark.interop
@pytest.mark.parametrize("tag", ["v1", "v2", "no-such-tag"])
def test_inspect_one_tag_matches_docker(docker_repo: TrustRepo, tag: str) -> None:
    reference = f"{docker_repo.gun}:{tag}"
    docker = docker_inspect(docker_repo.docker, reference)
    ours = offtrust_ok(docker_repo.trust_dir, "inspect", reference)
    assert json.loads(ours.stdout) == json.loads(docker.stdout)
    (doc,) = json.loads(ours.stdout)
    assert doc["Name"] == reference
    expected_tags = [] if tag == "no-such-tag" else [tag]
    assert [t["SignedTag"] for t in doc["SignedTags"]] == expected_tags
    assert ours.stdout == docker.stdout


@pytest.mark.interop
def test_inspect_pretty_docker_repo_matches_docker(docker_repo: TrustRepo) -> None:
    docker = docker_inspect(docker_repo.docker, "--pretty", docker_repo.gun)
    ours = offtrust_ok(docker_repo.trust_dir, "inspect", "--pretty", docker_repo.gun)
    # Docker lists the administrative keys by TUF role name, descending:
    # "Repository Key" (targets) before "Root Key" (root).
    assert docker.stdout.index("Repository Key:") < docker.stdout.index("Root Key:")
    assert ours.stdout == docker.stdout


@pytest.mark.interop
@pytest.mark.parametrize("which", ["notary_repo", "tree_repo", "untagged_repo", "plain_repo"])
def test_inspect_other_repos_match_docker(
    which: str,
    request: pytest.FixtureRequest,
    docker_cli: Callable[..., Any],
    tmp_path: Path,
) -> None:
    repo: TrustRepo = request.getfixturevalue(which)
    docker = docker_inspect(lambda *a: docker_cli(tmp_path / "cfg", *a), "--pretty", repo.gun)
    ours = offtrust_ok(repo.trust_dir, "inspect", "--pretty", repo.gun)
    assert ours.stdout == docker.stdout
    json_docker = docker_inspect(lambda *a: docker_cli(tmp_path / "cfg", *a), repo.gun)
    doc = json.loads(offtrust_ok(repo.trust_dir, "inspect", repo.gun).stdout)
    assert doc == json.loads(json_docker.stdout)
    if which == "untagged_repo":
        assert doc[0]["SignedTags"] == []
        assert "\nNo signatures for " in ours.stdout
    if which == "plain_repo":
        # Natural tag order (v2 before v10), "Repo Admin" for targets-only tags.
        assert [t["SignedTag"] for t in doc[0]["SignedTags"]] == ["v2", "v10"]
        assert doc[0]["Signers"] == []
        assert "List of signers" not in ours.stdout


# --------------------------------------------------------------------------- #
# delegation list
# --------------------------------------------------------------------------- #


def offtrust_delegations(repo: TrustRepo) -> dict[str, dict[str, Any]]:
    data = json.loads(offtrust_ok(repo.trust_dir, "delegation", "list", repo.gun, "--json").stdout)
    assert data["gun"] == repo.gun
    return {
        d["role"]: {
            "paths": sorted(d["paths"]),
            "keyids": d["canonical_keyids"],
            "threshold": d["threshold"],
        }
        for d in data["delegations"]
    }


def notary_delegations(repo: TrustRepo) -> dict[str, dict[str, Any]]:
    stdout = repo.notary("delegation", "list", repo.gun).stdout
    listed = parse_notary_delegations(stdout)
    assert listed, stdout  # no table at all is a failure, not "no delegations"
    for row in listed.values():
        row["paths"] = sorted(row["paths"])
    return listed


@pytest.mark.interop
def test_delegation_list_docker_repo_matches_notary(docker_repo: TrustRepo) -> None:
    ours = offtrust_delegations(docker_repo)
    assert ours == notary_delegations(docker_repo)
    assert set(ours) == {"targets/releases", "targets/alice", "targets/bob", "targets/carol"}
    # Canonical IDs, not carol's certificate ID as listed in targets.json.
    (carol,) = docker_repo.signers["carol"]
    assert ours["targets/carol"]["keyids"] == [carol.canonical_id]
    assert carol.key_id not in ours["targets/releases"]["keyids"]
    assert len(ours["targets/releases"]["keyids"]) == 4


@pytest.mark.interop
@pytest.mark.parametrize("which", ["notary_repo", "tree_repo"])
def test_delegation_list_notary_repos_match_notary(
    which: str, request: pytest.FixtureRequest
) -> None:
    repo: TrustRepo = request.getfixturevalue(which)
    ours = offtrust_delegations(repo)
    assert ours == notary_delegations(repo)
    if which == "tree_repo":
        assert set(ours) == {"targets/releases", "targets/team", "targets/releases/qa"}
        assert ours["targets/team"]["paths"] == ["app/", "lib/"]
        assert len(ours["targets/team"]["keyids"]) == 2
        assert ours["targets/releases/qa"]["paths"] == ["qa/"]
