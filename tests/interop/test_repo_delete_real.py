"""``repo delete`` then ``publish`` against a real notary-server, on repositories docker made.

After publishing the deletion the server answers 404 for the GUN (raw HTTP
through the harness), ``docker trust inspect`` no longer finds it, a second
publish is a no-op, and a server whose root for the GUN is not the pinned one
(the GUN deleted and re-created by the real notary meanwhile) is left alone.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from offtrust_helpers import SMALL_REPO, run_offtrust, server_args
from realtools import NotaryServer, TrustRepo, copy_trust_dir

pytestmark = pytest.mark.interop


def status_of(server: NotaryServer, gun: str, role: str) -> int:
    status, _ = server.get(f"/v2/{gun}/_trust/tuf/{role}.json")
    return status


def test_repo_delete_then_publish_leaves_the_server_answering_404(
    make_docker_repo: Callable[..., TrustRepo],
    notary_server: NotaryServer,
    notary_cli: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
) -> None:
    repo = make_docker_repo("delete", **SMALL_REPO)
    gun = repo.gun
    offline = copy_trust_dir(repo.trust_dir, tmp_path / "offline")
    keys_before = {p.name for p in (offline / "private").iterdir()}

    proc = run_offtrust(offline, "repo", "delete", gun, "--force")
    assert "deletion staged" in proc.stderr
    assert not (offline / "tuf" / gun).exists()
    assert {p.name for p in (offline / "private").iterdir()} == keys_before  # no --keys
    status = json.loads(run_offtrust(offline, "status", "--json").stdout)["guns"]
    assert [(r["gun"], r["delete"]) for r in status] == [(gun, True)]

    bundle = tmp_path / "delete.bundle"
    run_offtrust(offline, "stage", "--output", str(bundle))
    shown = json.loads(run_offtrust(offline, "bundle", "show", str(bundle), "--json").stdout)
    assert shown["manifest"]["guns"][gun]["delete"] is True
    run_offtrust(offline, "bundle", "verify", str(bundle))

    dry = run_offtrust(offline, "publish", str(bundle), "--dry-run", *server_args(notary_server))
    assert f"{gun}: would-delete" in dry.stdout
    assert status_of(notary_server, gun, "root") == 200

    proc = run_offtrust(offline, "publish", str(bundle), *server_args(notary_server))
    assert f"{gun}: deleted" in proc.stdout, proc.stdout + proc.stderr
    for role in ("root", "timestamp", "snapshot", "targets", "targets/releases"):
        assert status_of(notary_server, gun, role) == 404, role

    # A real client that never saw the GUN finds no trust data for it.
    listed = notary_cli(tmp_path / "fresh", "list", gun, check=False)
    assert listed.returncode != 0
    assert "does not have trust data" in listed.stderr + listed.stdout, listed

    again = run_offtrust(offline, "publish", str(bundle), *server_args(notary_server))
    assert f"{gun}: already-deleted" in again.stdout

    # fetch sees the deletion done and drops the staged record.
    fetched = run_offtrust(offline, "fetch", gun, *server_args(notary_server))
    assert f"{gun}: deleted" in fetched.stdout
    assert run_offtrust(offline, "status").stdout == "Nothing staged.\n"


def test_publish_leaves_a_gun_re_created_with_another_root_alone(
    make_docker_repo: Callable[..., TrustRepo],
    notary_server: NotaryServer,
    notary_cli: Callable[..., object],
    tmp_path: Path,
) -> None:
    repo = make_docker_repo("delete-pin", **SMALL_REPO)
    gun = repo.gun
    offline = copy_trust_dir(repo.trust_dir, tmp_path / "offline")
    run_offtrust(offline, "repo", "delete", gun, "--keys", "--yes")
    bundle = tmp_path / "delete.bundle"
    run_offtrust(offline, "stage", "--output", str(bundle))

    # Meanwhile: deleted with the real notary and re-created by someone else.
    repo.notary("delete", gun, "--remote")
    assert status_of(notary_server, gun, "root") == 404
    other = tmp_path / "other"
    notary_cli(other, "init", gun, "-p")
    _, new_root = notary_server.get(f"/v2/{gun}/_trust/tuf/root.json")

    proc = run_offtrust(offline, "publish", str(bundle), *server_args(notary_server), check=False)
    assert proc.returncode == 1
    assert "different root" in proc.stderr, proc.stderr
    assert notary_server.get(f"/v2/{gun}/_trust/tuf/root.json") == (200, new_root)
