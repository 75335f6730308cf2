"""``offtrust key rotate`` and ``resign root --expires`` against the real tools.

Each test builds a repository with the real ``docker trust`` / ``notary``,
copies its trust directory (the exported copy offtrust works on offline),
rotates there, stages, publishes to the real notary-server, and then asks the
real clients, from a copy of the ORIGINAL directory (the old root pinned), to
read the result:

- root rotation, twice in a row: ``docker trust inspect`` and ``notary list``
  from a directory pinned at root v1 follow v1 -> v2 -> v3 and show the new
  root key; so does ``offtrust fetch``;
- targets rotation: the new Repository key, the tags still there;
- snapshot rotation to the server (``--server-managed``) with the key
  ``offtrust fetch`` recorded: the server signs the snapshot from then on;
- ``resign GUN root --expires 2y``: the served root carries that expiry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from offtrust_helpers import (
    SMALL_REPO,
    notary_keys,
    pinned_notary_list,
    run_offtrust,
    served_root,
    server_args,
    stage_and_publish,
)
from realtools import (
    Passphrases,
    TrustRepo,
    canonical_id_of_tuf_key,
    copy_trust_dir,
    run_docker,
    run_notary,
    tag_content,
)

pytestmark = pytest.mark.interop


def pinned_docker_inspect(repo: TrustRepo, where: Path) -> dict[str, Any]:
    """``docker trust inspect`` from a copy of the repo's ORIGINAL Docker config (old root)."""
    assert repo.config_dir is not None
    config = copy_trust_dir(repo.config_dir, where)
    proc = run_docker(config, "trust", "inspect", repo.gun, server=repo.server)
    assert "using cached" not in proc.stderr, proc.stderr
    (doc,) = json.loads(proc.stdout)
    assert isinstance(doc, dict)
    return doc


def admin_keys(doc: dict[str, Any]) -> dict[str, list[str]]:
    return {a["Name"]: [k["ID"] for k in a["Keys"]] for a in doc["AdministrativeKeys"]}


def publish_and_fetch(
    offline: Path, repo: TrustRepo, workdir: Path, passphrases: Passphrases | None = None
) -> None:
    """Stage, publish, then fetch: the offline cache now trusts what was published."""
    kw: dict[str, Any] = {} if passphrases is None else {"passphrases": passphrases}
    workdir.mkdir(parents=True, exist_ok=True)
    bundle = workdir / "out.bundle"
    run_offtrust(offline, "stage", repo.gun, "--output", str(bundle), **kw)
    proc = run_offtrust(offline, "publish", str(bundle), *server_args(repo.server), **kw)
    assert f"{repo.gun}: published" in proc.stdout, proc.stdout + proc.stderr
    run_offtrust(offline, "fetch", repo.gun, *server_args(repo.server), **kw)
    # The staged edits are now the published state: retired.
    (row,) = json.loads(run_offtrust(offline, "status", repo.gun, "--json", **kw).stdout)["guns"]
    assert not row["staged"], row


def rotate(offline: Path, gun: str, role: str, *args: str, **kw: Any) -> list[str]:
    """``offtrust key rotate``; returns the new key IDs it prints."""
    proc = run_offtrust(offline, "key", "rotate", gun, role, *args, **kw)
    return proc.stdout.split()


# --------------------------------------------------------------------------- #
# Root, twice in a row
# --------------------------------------------------------------------------- #


def test_root_rotation_twice_is_followed_by_pinned_clients(
    make_docker_repo: Callable[..., TrustRepo], tmp_path: Path
) -> None:
    repo = make_docker_repo("rotate-root", **SMALL_REPO)
    offline = copy_trust_dir(repo.trust_dir, tmp_path / "offline")
    v1 = served_root(repo.server, repo.gun)
    tags_before = pinned_notary_list(repo, tmp_path / "notary-before")

    new_ids = []
    for n in (1, 2):
        (new_id,) = rotate(offline, repo.gun, "root")
        new_ids.append(new_id)
        publish_and_fetch(offline, repo, tmp_path / f"round-{n}")
        root = served_root(repo.server, repo.gun)
        assert root["version"] == v1["version"] + n
        assert root["roles"]["root"]["keyids"] == [new_id]
        # Clients that pinned root v1 follow every version up to this one.
        doc = pinned_docker_inspect(repo, tmp_path / f"docker-{n}")
        assert admin_keys(doc)["Root"] == [new_id]
        assert [t["SignedTag"] for t in doc["SignedTags"]] == ["v1"]
        assert pinned_notary_list(repo, tmp_path / f"notary-{n}") == tags_before
        run_offtrust(offline, "verify", repo.gun)

    # The new root key is a local root key; the old one is kept (as notary keeps it).
    keys = json.loads(run_offtrust(offline, "key", "list", "--json").stdout)["keys"]
    roots = {k["keyid"] for k in keys if k["role"] == "root"}
    assert repo.root_canonical_id in roots
    last = served_root(repo.server, repo.gun)
    assert canonical_id_of_tuf_key(last["keys"][new_ids[-1]]) in roots
    # offtrust fetch from a directory pinned at v1 walks v1 -> v2 -> v3 too.
    pinned = copy_trust_dir(repo.trust_dir, tmp_path / "offtrust-pinned")
    run_offtrust(pinned, "fetch", repo.gun, *server_args(repo.server), passphrases=None)
    cached = json.loads((pinned / "tuf" / repo.gun / "metadata" / "root.json").read_bytes())
    assert cached["signed"]["version"] == v1["version"] + 2


def test_root_certificate_renewed_over_the_same_key(
    make_docker_repo: Callable[..., TrustRepo], tmp_path: Path
) -> None:
    repo = make_docker_repo("rotate-renew", **SMALL_REPO)
    offline = copy_trust_dir(repo.trust_dir, tmp_path / "offline")

    (new_id,) = rotate(offline, repo.gun, "root", "--key", repo.root_canonical_id)

    assert new_id != repo.root_key_id
    publish_and_fetch(offline, repo, tmp_path / "round")
    root = served_root(repo.server, repo.gun)
    assert canonical_id_of_tuf_key(root["keys"][new_id]) == repo.root_canonical_id
    doc = pinned_docker_inspect(repo, tmp_path / "docker")
    assert admin_keys(doc)["Root"] == [new_id]


# --------------------------------------------------------------------------- #
# Targets
# --------------------------------------------------------------------------- #


def test_targets_rotation_is_accepted_by_the_real_clients(
    make_docker_repo: Callable[..., TrustRepo], tmp_path: Path
) -> None:
    repo = make_docker_repo("rotate-targets", **SMALL_REPO)
    offline = copy_trust_dir(repo.trust_dir, tmp_path / "offline")
    tags_before = pinned_notary_list(repo, tmp_path / "notary-before")

    (new_id,) = rotate(offline, repo.gun, "targets")

    assert new_id != repo.targets_key_id
    publish_and_fetch(offline, repo, tmp_path / "round")
    assert served_root(repo.server, repo.gun)["roles"]["targets"]["keyids"] == [new_id]
    doc = pinned_docker_inspect(repo, tmp_path / "docker")
    assert admin_keys(doc)["Repository"] == [new_id]
    assert [t["SignedTag"] for t in doc["SignedTags"]] == ["v1"]
    assert pinned_notary_list(repo, tmp_path / "notary-after") == tags_before
    # The rotated GUN can still be edited and published offline.
    run_offtrust(
        offline, "target", "add", repo.gun, "v2", "--digest", "sha256:" + "ab" * 32, "--size", "9"
    )
    stage_and_publish(offline, repo.server, tmp_path / "more", repo.gun)
    assert "v2" in pinned_notary_list(repo, tmp_path / "notary-more")
    # The key offtrust made is one notary lists and signs with.
    listed = run_notary(offline, "key", "list", server=repo.server, passphrases=repo.passphrases)
    assert notary_keys(listed.stdout)[new_id] == "targets"
    content = tag_content(repo.gun, "v3")
    run_notary(
        offline,
        "addhash",
        repo.gun,
        "v3",
        str(len(content)),
        "--sha256",
        hashlib.sha256(content).hexdigest(),
        server=repo.server,
        passphrases=repo.passphrases,
    )
    run_notary(offline, "publish", repo.gun, server=repo.server, passphrases=repo.passphrases)
    assert "v3" in pinned_notary_list(repo, tmp_path / "notary-signed")


# --------------------------------------------------------------------------- #
# Snapshot to the server
# --------------------------------------------------------------------------- #


def test_snapshot_rotation_to_the_server(
    make_notary_repo: Callable[..., TrustRepo], tmp_path: Path
) -> None:
    repo = make_notary_repo("rotate-snapshot")
    assert not repo.server_managed_snapshot
    offline = copy_trust_dir(repo.trust_dir, tmp_path / "offline")
    tags_before = pinned_notary_list(repo, tmp_path / "notary-before")

    refused = run_offtrust(
        offline,
        "key",
        "rotate",
        repo.gun,
        "snapshot",
        "--server-managed",
        check=False,
        passphrases=repo.passphrases,
    )
    assert refused.returncode != 0
    assert "not recorded" in refused.stderr, refused.stderr
    assert f"fetch {repo.gun} --server URL" in refused.stderr, refused.stderr

    # fetch records the server's snapshot key for this existing GUN.
    run_offtrust(offline, "fetch", repo.gun, *server_args(repo.server), passphrases=None)
    recorded = json.loads(
        (offline / "offtrust" / "server" / repo.gun / "snapshot.key.json").read_bytes()
    )
    (keyid,) = rotate(
        offline, repo.gun, "snapshot", "--server-managed", passphrases=repo.passphrases
    )

    publish_and_fetch(offline, repo, tmp_path / "round", passphrases=repo.passphrases)
    root = served_root(repo.server, repo.gun)
    assert root["roles"]["snapshot"]["keyids"] == [keyid]
    assert root["keys"][keyid] == recorded
    snapshot = json.loads(repo.server.metadata(repo.gun, "snapshot"))
    assert [s["keyid"] for s in snapshot["signatures"]] == [keyid]
    assert pinned_notary_list(repo, tmp_path / "notary-after") == tags_before


def test_local_snapshot_rotation(
    make_notary_repo: Callable[..., TrustRepo], tmp_path: Path
) -> None:
    repo = make_notary_repo("rotate-snapshot-local")
    offline = copy_trust_dir(repo.trust_dir, tmp_path / "offline")
    tags_before = pinned_notary_list(repo, tmp_path / "notary-before")

    (keyid,) = rotate(offline, repo.gun, "snapshot", passphrases=repo.passphrases)

    publish_and_fetch(offline, repo, tmp_path / "round", passphrases=repo.passphrases)
    snapshot = json.loads(repo.server.metadata(repo.gun, "snapshot"))
    assert [s["keyid"] for s in snapshot["signatures"]] == [keyid]
    assert pinned_notary_list(repo, tmp_path / "notary-after") == tags_before


# --------------------------------------------------------------------------- #
# resign root --expires
# --------------------------------------------------------------------------- #


def test_resign_root_with_a_new_expiry_is_served(
    make_docker_repo: Callable[..., TrustRepo], tmp_path: Path
) -> None:
    repo = make_docker_repo("resign-root", **SMALL_REPO)
    offline = copy_trust_dir(repo.trust_dir, tmp_path / "offline")
    before = served_root(repo.server, repo.gun)

    started = datetime.now(timezone.utc)
    run_offtrust(offline, "resign", repo.gun, "root", "--expires", "2y")
    publish_and_fetch(offline, repo, tmp_path / "round")

    root = served_root(repo.server, repo.gun)
    assert root["version"] == before["version"] + 1
    assert root["roles"] == before["roles"]
    expires = datetime.fromisoformat(root["expires"][:19]).replace(tzinfo=timezone.utc)
    assert started + timedelta(days=730) - timedelta(minutes=5) <= expires
    assert expires <= datetime.now(timezone.utc) + timedelta(days=730)
    doc = pinned_docker_inspect(repo, tmp_path / "docker")
    assert admin_keys(doc)["Root"] == [repo.root_key_id]
