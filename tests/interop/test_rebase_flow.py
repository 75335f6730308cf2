"""After a conflict, ``fetch`` + ``rebase`` + ``stage`` + ``publish``, against the real tools.

Offline, offtrust signs a tag and adds a signer; meanwhile the real notary
signs another tag into the same repository on the real notary-server. The
stale bundle is refused; after ``fetch``, ``rebase`` replays the recorded edits
on the new published state, the new bundle publishes, ``notary list`` shows
both tags, and the next ``fetch`` retires the published edits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from offtrust_helpers import SMALL_REPO, notary_targets, run_offtrust, stage_and_publish
from realtools import TrustRepo, copy_trust_dir, tag_content

pytestmark = pytest.mark.interop

DIGEST_HEX = "ab" * 32


def notary_list(repo: TrustRepo) -> dict[str, dict[str, object]]:
    proc = repo.notary("list", repo.gun)
    assert "using cached" not in proc.stderr, proc.stderr
    return notary_targets(proc.stdout)


def test_conflict_fetch_rebase_stage_publish(
    make_docker_repo: Callable[..., TrustRepo], tmp_path: Path
) -> None:
    repo = make_docker_repo("rebase", **SMALL_REPO)
    server = ["--server", repo.server.url, "--tls-ca", str(repo.server.ca_file)]
    offline = copy_trust_dir(repo.trust_dir, tmp_path / "offline")
    dave = tmp_path / "dave.pub"
    run_offtrust(offline, "key", "generate", "dave", "--dir", str(tmp_path))
    assert dave.is_file()

    # Offline: two edits.
    run_offtrust(
        offline, "target", "add", repo.gun, "ours", "--digest", f"sha256:{DIGEST_HEX}",
        "--size", "77",
    )  # fmt: skip
    run_offtrust(offline, "signer", "add", "dave", repo.gun, "--key", str(dave))
    bundle = tmp_path / "first.bundle"
    run_offtrust(offline, "stage", "--output", str(bundle))

    # Meanwhile the real notary signs a tag into targets/releases on the server.
    content = tag_content(repo.gun, "theirs")
    repo.notary(
        "addhash", repo.gun, "theirs", str(len(content)),
        "--sha256", hashlib.sha256(content).hexdigest(), "-r", "targets/releases",
    )  # fmt: skip
    repo.notary("publish", repo.gun)

    refused = run_offtrust(offline, "publish", str(bundle), *server, check=False)
    assert refused.returncode == 1, refused.stderr
    assert "moved past" in refused.stderr, refused.stderr

    fetched = run_offtrust(offline, "fetch", repo.gun, *server)
    assert f"offtrust -d {offline} rebase {repo.gun}" in fetched.stderr, fetched.stderr
    stale = run_offtrust(offline, "stage", "--output", str(tmp_path / "stale.bundle"), check=False)
    assert stale.returncode == 1, stale.stderr
    assert "rebase" in stale.stderr, stale.stderr

    rebased = run_offtrust(offline, "rebase", repo.gun)
    assert f"{repo.gun}: rebased" in rebased.stdout, rebased.stdout + rebased.stderr

    stage_and_publish(offline, repo.server, tmp_path / "second", repo.gun)

    listed = notary_list(repo)
    assert {"ours", "theirs"} <= set(listed), listed
    assert listed["ours"]["digest"] == DIGEST_HEX
    delegations = repo.notary("delegation", "list", repo.gun).stdout
    assert "targets/dave" in delegations, delegations

    again = run_offtrust(offline, "fetch", repo.gun, *server)
    assert "retired" in again.stdout, again.stdout + again.stderr
    assert run_offtrust(offline, "status").stdout.strip() == "Nothing staged."
