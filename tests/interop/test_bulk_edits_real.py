"""Bulk edits over several Docker-made GUNs of one trust directory, published to notary-server.

Three GUNs share one Docker config (as an organisation's signing machine has
them). One of them is tampered with (its targets/releases re-written without
a valid signature): the bulk forms edit the two others, report the third at
the end with exit 1 and leave its staged state untouched; what they staged
publishes and the real ``notary list`` shows it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from offtrust_helpers import SMALL_REPO, notary_targets, run_offtrust, stage_and_publish
from realtools import TrustRepo, run_notary, tag_content

pytestmark = pytest.mark.interop

DIGEST_TAG = "v9"


def _tamper(repo: TrustRepo) -> None:
    """Add a tag to the published targets/releases without re-signing it."""
    path = repo.metadata_dir / "targets" / "releases.json"
    doc = json.loads(path.read_bytes())
    doc["signed"]["targets"]["evil"] = {"hashes": {"sha256": "AAAA"}, "length": 1}
    path.write_text(json.dumps(doc))


def test_target_add_and_resign_over_several_guns_one_tampered(
    make_docker_repo: Callable[..., TrustRepo], tmp_path: Path
) -> None:
    first = make_docker_repo("bulk-a", **SMALL_REPO)
    config = first.config_dir
    second = make_docker_repo("bulk-b", config_dir=config, **SMALL_REPO)
    third = make_docker_repo("bulk-c", config_dir=config, **SMALL_REPO)
    trust, server = first.trust_dir, first.server
    _tamper(third)
    content = tag_content(first.gun, DIGEST_TAG)
    digest = "sha256:" + hashlib.sha256(content).hexdigest()
    refs = [f"{r.gun}:{DIGEST_TAG}" for r in (first, second, third)]
    added = run_offtrust(
        trust, "target", "add", *refs, "--digest", digest, "--size", str(len(content)), check=False
    )
    assert added.returncode == 1, added.stdout + added.stderr
    assert third.gun in added.stderr
    assert "done: 2 changed, 0 skipped, 1 failed" in added.stderr
    status = json.loads(run_offtrust(trust, "status", "--json").stdout)
    assert sorted(g["gun"] for g in status["guns"]) == sorted([first.gun, second.gun])

    resigned = run_offtrust(
        trust, "resign", "--gun", first.gun, "--gun", second.gun, "targets", "--expires", "2y"
    )
    assert "done: 2 changed" in resigned.stderr, resigned.stderr

    stage_and_publish(trust, server, tmp_path / "bundles", first.gun, second.gun)
    for repo in (first, second):
        listed = run_notary(repo.trust_dir, "list", repo.gun, server=server)
        assert DIGEST_TAG in notary_targets(listed.stdout)
        expires = json.loads(server.metadata(repo.gun, "targets"))["signed"]["expires"]
        lifetime = datetime.fromisoformat(expires.replace("Z", "+00:00")) - datetime.now(
            timezone.utc
        )
        assert timedelta(days=725) < lifetime < timedelta(days=735), expires
