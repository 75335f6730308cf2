"""Issue 8, items 1 and 2: offtrust's edits mean what ``docker trust`` means.

Each scenario is built twice where the real tools can do the same operation:
"ours" is edited offline by offtrust (in a copy of the trust dir) and
published with ``offtrust stage`` + ``publish``; its "twin" (same signers,
same tags and digests, other GUN) is changed by the real ``docker`` /
``notary``. Both are then read by the real clients from their ORIGINAL trust
dirs, and the ``docker trust inspect`` documents must be equal once each key
ID is replaced by the name of its owner.

1. ``target add`` = ``docker trust sign``: into ``targets/releases`` and every
   signer role whose key is local (the twin: ``notary addhash`` into the roles
   docker/cli ``GetSignableRoles`` picks, since without an engine
   ``docker trust sign`` cannot run); ``--role`` narrows it.
2. ``target remove`` = the real ``docker trust revoke``.
3. ``signer remove`` of the signer whose key signed ``targets/releases``:
   a. the remaining releases key is local: releases is re-signed at once;
   b. it is not: staged as docker leaves it (releases without a valid
      signature), published, compared with the twin, then repaired with
      ``offtrust witness`` where the key is;
   c. ``signer remove NAME --all`` + ``stage`` over three GUNs.

Docker 28.2.2's ``docker trust signer remove`` changes nothing when the
signer is not the last key of ``targets/releases`` (it prints "Removing
signer ..." and exits 0; see the formats doc, section 7), so the twin of 3b
falls back to what it is documented to do, done with notary: remove the
signer's keys from ``targets/releases``, delete ``targets/<signer>``, publish.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from offtrust_helpers import notary_targets, run_offtrust, stage_and_publish
from realtools import (
    NotaryServer,
    TrustRepo,
    canonical_id_of_tuf_key,
    canonical_key_id,
    copy_trust_dir,
    refresh_cache,
    unique_gun,
)

pytestmark = pytest.mark.interop

MakeRepo = Callable[..., TrustRepo]

RELEASES = "targets/releases"
ALICE, BOB, CAROL = "targets/alice", "targets/bob", "targets/carol"

# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #


def digest_of(tag: str) -> str:
    """A fixed hex sha256 per tag name, the same in both twins."""
    return hashlib.sha256(f"offtrust docker semantics {tag}".encode()).hexdigest()


def size_of(tag: str) -> int:
    return 500 + sum(tag.encode())


def notary_sign(repo: TrustRepo, tags: Mapping[str, Sequence[str]]) -> None:
    """The real notary: ``addhash`` each tag into its roles, then one ``publish``."""
    for tag, roles in tags.items():
        for role in roles:
            repo.notary(
                "addhash", repo.gun, tag, str(size_of(tag)), "--sha256", digest_of(tag), "-r", role
            )
    repo.notary("publish", repo.gun)


def offtrust_add(trust_dir: Path, *ref: str, extra: Sequence[str] = ()) -> str:
    """``offtrust target add REF... --digest --size`` (the tag is the last word of REF)."""
    tag = ref[-1].rsplit(":", 1)[-1] if len(ref) == 1 else ref[-1]
    proc = run_offtrust(
        trust_dir,
        "target",
        "add",
        *ref,
        "--digest",
        f"sha256:{digest_of(tag)}",
        "--size",
        str(size_of(tag)),
        *extra,
    )
    return proc.stderr


def listed(repo: TrustRepo, *args: str) -> dict[str, Any]:
    """``notary list GUN ARGS...`` from the server (original trust dir), parsed."""
    proc = repo.notary("list", repo.gun, *args)
    assert "using cached" not in proc.stderr, proc.stderr
    assert "Error while downloading" not in proc.stderr, proc.stderr
    return notary_targets(proc.stdout)


def list_stderr(repo: TrustRepo) -> str:
    """What ``notary list GUN`` prints on stderr (its warnings)."""
    return repo.notary("list", repo.gun).stderr


def served(server: NotaryServer, gun: str, role: str) -> dict[str, Any]:
    data = json.loads(server.metadata(gun, role))
    assert isinstance(data, dict)
    return data


def releases_signers(repo: TrustRepo) -> set[str]:
    """Canonical IDs of the keys whose signatures the served targets/releases carries."""
    keys = served(repo.server, repo.gun, "targets")["signed"]["delegations"]["keys"]
    return {
        canonical_id_of_tuf_key(keys[s["keyid"]])
        for s in served(repo.server, repo.gun, RELEASES)["signatures"]
        if s["keyid"] in keys
    }


def key_names(repo: TrustRepo, extra: Mapping[str, str] = {}) -> dict[str, str]:  # noqa: B006
    """Key ID -> owner, for every ID ``docker trust inspect`` can print for ``repo``."""
    names = {repo.root_key_id: "root", repo.targets_key_id: "repository"}
    for signer, keys in repo.signers.items():
        for i, key in enumerate(keys):
            names[key.canonical_id] = f"{signer}#{i}"
    names.update(extra)
    return names


def normalized(repo: TrustRepo, extra: Mapping[str, str] = {}) -> dict[str, Any]:  # noqa: B006
    """``docker trust inspect GUN`` with the GUN dropped and key IDs replaced by owners."""
    names = key_names(repo, extra)
    doc = repo.inspect()
    assert doc["Name"] == repo.gun

    def keys(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {"Name": e["Name"], "Keys": [names.get(k["ID"], k["ID"]) for k in e["Keys"]]}
            for e in entries
        ]

    return {
        "SignedTags": doc["SignedTags"],
        "Signers": keys(doc["Signers"]),
        "AdministrativeKeys": keys(doc["AdministrativeKeys"]),
    }


def signed_tags(repo: TrustRepo) -> dict[str, list[str]]:
    """``docker trust inspect`` -> {tag: signer names}."""
    return {t["SignedTag"]: t["Signers"] for t in repo.inspect()["SignedTags"]}


def warnings_of(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("offtrust: warning:")]


def witness_hint(gun: str) -> re.Pattern[str]:
    """``offtrust [-d DIR] witness GUN targets/releases``."""
    return re.compile(rf"offtrust (-d \S+ )?witness {re.escape(gun)} {RELEASES}\b")


def add_docker_signer(repo: TrustRepo, name: str) -> str:
    """``docker trust key generate`` + ``signer add`` (releases is not re-signed); its ID."""
    repo.docker("trust", "key", "generate", name, "--dir", str(repo.keys_dir))
    pub = repo.keys_dir / f"{name}.pub"
    repo.docker("trust", "signer", "add", name, repo.gun, "--key", str(pub))
    return canonical_key_id(pub.read_bytes())


def publish_args(server: NotaryServer) -> list[str]:
    return ["--server", server.url, "--tls-ca", str(server.ca_file)]


def describe(proc: subprocess.CompletedProcess[str]) -> str:
    return f"{proc.args!r} -> {proc.returncode}\n--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}"


# --------------------------------------------------------------------------- #
# 1 and 2: target add / target remove against docker's sign / revoke
# --------------------------------------------------------------------------- #

#: Tags both twins start with: v1 was signed by alice and carol, v2 by an admin
#: (releases only), v3 by alice and bob.
BASE_TAGS: dict[str, tuple[str, ...]] = {
    "v1": (RELEASES, ALICE, CAROL),
    "v2": (RELEASES,),
    "v3": (RELEASES, ALICE, BOB),
}


def make_signers_repo(make_docker_repo: MakeRepo, name: str) -> TrustRepo:
    """Signers alice, bob (ECDSA) and carol (RSA certificate); BASE_TAGS signed with
    every key; then carol's private key removed: it lives on another machine."""
    repo = make_docker_repo(
        name, signers=(("alice", "ecdsa"), ("bob", "ecdsa"), ("carol", "rsa-x509")), tags=()
    )
    notary_sign(repo, BASE_TAGS)
    refresh_cache(repo)
    carol = repo.signers["carol"][0]
    assert carol.private_key is not None
    carol.private_key.unlink()
    return repo


@pytest.fixture
def twins(make_docker_repo: MakeRepo) -> tuple[TrustRepo, TrustRepo]:
    """(ours, theirs): two Docker repos with the same signers and tags."""
    ours = make_signers_repo(make_docker_repo, "sem-ours")
    theirs = make_signers_repo(make_docker_repo, "sem-theirs")
    assert normalized(ours) == normalized(theirs)
    return ours, theirs


def test_target_add_signs_like_docker_trust_sign(
    twins: tuple[TrustRepo, TrustRepo], tmp_path: Path
) -> None:
    ours, theirs = twins
    offline = copy_trust_dir(ours.trust_dir, tmp_path / "offline")
    offtrust_add(offline, f"{ours.gun}:v5")  # docker's GUN:TAG
    offtrust_add(offline, ours.gun, "v7")
    offtrust_add(offline, ours.gun, "v6", extra=("--role", RELEASES))
    stage_and_publish(offline, ours.server, tmp_path)
    # What `docker trust sign` does with alice's and bob's keys local, carol's not.
    notary_sign(theirs, {"v5": (RELEASES, ALICE, BOB), "v7": (RELEASES, ALICE, BOB)})
    notary_sign(theirs, {"v6": (RELEASES,)})

    tags = signed_tags(ours)  # the original trust dir
    assert tags["v5"] == tags["v7"] == ["alice", "bob"]  # the signers, not "Repo Admin"
    assert tags["v6"] == ["Repo Admin"]  # --role targets/releases: an admin's tag
    assert normalized(ours) == normalized(theirs)

    for repo in (ours, theirs):
        assert listed(repo)["v5"]["digest"] == digest_of("v5"), repo.gun
        assert set(listed(repo, "-r", RELEASES)) == {"v1", "v2", "v3", "v5", "v6", "v7"}
        assert set(listed(repo, "-r", ALICE)) == {"v1", "v3", "v5", "v7"}
        assert set(listed(repo, "-r", BOB)) == {"v3", "v5", "v7"}
        assert set(listed(repo, "-r", CAROL)) == {"v1"}  # carol's key is not local
    assert listed(ours) == listed(theirs)


def test_target_remove_revokes_like_docker_trust_revoke(
    twins: tuple[TrustRepo, TrustRepo], tmp_path: Path
) -> None:
    ours, theirs = twins
    offline = copy_trust_dir(ours.trust_dir, tmp_path / "offline")
    run_offtrust(offline, "target", "remove", f"{ours.gun}:v3")  # docker's GUN:TAG
    run_offtrust(offline, "target", "remove", ours.gun, "v1")
    stage_and_publish(offline, ours.server, tmp_path)
    for tag in ("v3", "v1"):
        proc = theirs.docker("trust", "revoke", f"{theirs.gun}:{tag}")
        assert "Successfully deleted signature" in proc.stdout, describe(proc)

    for repo in (ours, theirs):
        # v3 is gone from every role (it used to survive in targets/alice and targets/bob).
        assert "v3" not in listed(repo), repo.gun
        assert set(listed(repo, "-r", RELEASES)) == {"v2"}
        assert listed(repo, "-r", ALICE) == {}
        assert listed(repo, "-r", BOB) == {}
        # Only roles whose key is local are touched: carol's v1 stays, as docker leaves it.
        assert set(listed(repo, "-r", CAROL)) == {"v1"}
        assert signed_tags(repo) == {"v2": ["Repo Admin"]}
    assert listed(ours) == listed(theirs)
    assert normalized(ours) == normalized(theirs)


# --------------------------------------------------------------------------- #
# 3. signer remove of the signer whose key signed targets/releases
# --------------------------------------------------------------------------- #


def make_left_repo(make_docker_repo: MakeRepo, name: str) -> tuple[TrustRepo, str]:
    """alice signs v1 (releases + alice) and v2 (releases); then bob joins with
    docker, which does not re-sign releases: releases.json carries alice's
    signature alone. Returns the repo and bob's key ID."""
    repo = make_docker_repo(name, signers=(("alice", "ecdsa"),), tags=())
    notary_sign(repo, {"v1": (RELEASES, ALICE), "v2": (RELEASES,)})
    bob_id = add_docker_signer(repo, "bob")
    refresh_cache(repo)
    assert releases_signers(repo) == {repo.signers["alice"][0].canonical_id}
    return repo, bob_id


def test_signer_remove_resigns_releases_with_remaining_local_key(
    make_docker_repo: MakeRepo, tmp_path: Path
) -> None:
    repo, bob_id = make_left_repo(make_docker_repo, "left-local")
    offline = copy_trust_dir(repo.trust_dir, tmp_path / "offline")
    assert (offline / "private" / f"{bob_id}.key").is_file()

    proc = run_offtrust(offline, "signer", "remove", "alice", repo.gun, "--yes")
    assert f"{RELEASES}: re-signed with the remaining local keys" in proc.stderr, describe(proc)
    stage_and_publish(offline, repo.server, tmp_path)

    assert releases_signers(repo) == {bob_id}
    tags = listed(repo)  # the original trust dir, which still trusts alice's releases v1
    assert {name: t["role"] for name, t in tags.items()} == {"v1": RELEASES, "v2": RELEASES}
    assert tags["v1"]["digest"] == digest_of("v1")
    assert "threshold" not in list_stderr(repo)
    assert signed_tags(repo) == {"v1": ["Repo Admin"], "v2": ["Repo Admin"]}
    assert normalized(repo, {bob_id: "bob"})["Signers"] == [{"Name": "bob", "Keys": ["bob"]}]


@dataclass
class BobAway:
    """3b: alice removed offline where bob's private key is not; staged."""

    ours: TrustRepo
    ours_bob: str
    theirs: TrustRepo
    theirs_bob: str
    offline: Path
    bundle: Path
    edit: subprocess.CompletedProcess[str]
    stage: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def bob_away(make_docker_repo: MakeRepo, tmp_path_factory: pytest.TempPathFactory) -> BobAway:
    ours, ours_bob = make_left_repo(make_docker_repo, "left-away")
    theirs, theirs_bob = make_left_repo(make_docker_repo, "left-away-twin")
    work = tmp_path_factory.mktemp("bob-away")
    offline = copy_trust_dir(ours.trust_dir, work / "offline")
    (offline / "private" / f"{ours_bob}.key").unlink()
    edit = run_offtrust(offline, "signer", "remove", "alice", ours.gun, "--yes")
    bundle = work / "away.bundle"
    stage = run_offtrust(offline, "stage", "--output", str(bundle), check=False)
    return BobAway(ours, ours_bob, theirs, theirs_bob, offline, bundle, edit, stage)


def test_signer_remove_without_remaining_local_key_publishes_what_docker_leaves(
    bob_away: BobAway, tmp_path: Path
) -> None:
    ours, theirs, offline = bob_away.ours, bob_away.theirs, bob_away.offline
    gun = ours.gun
    # The edit succeeds and says who must do what: bob, with witness.
    (warning,) = [w for w in warnings_of(bob_away.edit.stderr) if RELEASES in w]
    assert "bob" in warning, warning
    assert witness_hint(gun).search(warning), warning
    assert "re-signed with the remaining local keys" not in bob_away.edit.stderr
    # stage, bundle verify and publish accept it: a delegation below its threshold.
    assert bob_away.stage.returncode == 0, describe(bob_away.stage)
    assert bob_away.bundle.is_file()
    proc = run_offtrust(offline, "bundle", "verify", str(bob_away.bundle))
    assert any(RELEASES in w and "bob" in w for w in warnings_of(proc.stderr)), describe(proc)
    proc = run_offtrust(offline, "publish", str(bob_away.bundle), *publish_args(ours.server))
    assert f"{gun}: published" in proc.stdout, describe(proc)
    assert any(RELEASES in w and "witness" in w for w in warnings_of(proc.stderr)), describe(proc)

    # The twin: the real docker first (28.2.2 changes nothing here) ...
    before = served(theirs.server, theirs.gun, "targets")
    theirs.docker("trust", "signer", "remove", "alice", theirs.gun, "-f")
    if served(theirs.server, theirs.gun, "targets") == before:
        # ... then what it is documented to do, with notary: alice's keys out of
        # targets/releases, targets/alice deleted, releases.json left as it is.
        alice = theirs.signers["alice"][0].canonical_id
        theirs.notary("delegation", "remove", theirs.gun, RELEASES, alice)
        theirs.notary("delegation", "remove", theirs.gun, ALICE, "-y")
        theirs.notary("publish", theirs.gun)

    ours_names, theirs_names = {bob_away.ours_bob: "bob"}, {bob_away.theirs_bob: "bob"}
    for repo in (ours, theirs):
        assert listed(repo) == {}, repo.gun  # releases is skipped: no valid signature
        assert "valid signatures did not meet threshold for targets/releases" in list_stderr(repo)
        assert signed_tags(repo) == {}  # "No signatures for GUN", the Docker docs' case
    assert normalized(ours, ours_names) == normalized(theirs, theirs_names)
    assert normalized(ours, ours_names)["Signers"] == [{"Name": "bob", "Keys": ["bob"]}]

    # Repair where bob's key is: offtrust witness (the twin: notary witness).
    bob_side = copy_trust_dir(ours.trust_dir, tmp_path / "bob")
    assert (bob_side / "private" / f"{bob_away.ours_bob}.key").is_file()
    run_offtrust(bob_side, "fetch", gun, *publish_args(ours.server))
    run_offtrust(bob_side, "witness", gun, RELEASES)
    stage_and_publish(bob_side, ours.server, tmp_path)
    theirs.notary("witness", theirs.gun, RELEASES, "-p")

    assert releases_signers(ours) == {bob_away.ours_bob}
    for repo in (ours, theirs):
        tags = listed(repo)
        assert {name: t["role"] for name, t in tags.items()} == {"v1": RELEASES, "v2": RELEASES}
        assert "threshold" not in list_stderr(repo)
        assert signed_tags(repo) == {"v1": ["Repo Admin"], "v2": ["Repo Admin"]}
    assert listed(ours) == listed(theirs)
    assert normalized(ours, ours_names) == normalized(theirs, theirs_names)


def test_stage_warns_about_releases_left_without_valid_signature(bob_away: BobAway) -> None:
    proc = bob_away.stage
    assert proc.returncode == 0, describe(proc)
    found = [w for w in warnings_of(proc.stderr) if RELEASES in w]
    assert found, describe(proc)
    assert any("bob" in w and "witness" in w for w in found), describe(proc)


def test_signer_remove_all_then_stage_over_several_guns(
    make_docker_repo: MakeRepo, tmp_path: Path
) -> None:
    # Three GUNs in one Docker config; alice's one key signed each releases.json.
    first = make_docker_repo("gone", signers=(("alice", "ecdsa"),), tags=())
    alice = first.signers["alice"][0]
    repos = [first]
    for _ in (2, 3):
        repo = dataclasses.replace(first, gun=unique_gun("gone"), signers={}, tags={})
        repo.docker("trust", "signer", "add", "alice", repo.gun, "--key", str(alice.public_file))
        repos.append(repo)
    for repo in repos:
        notary_sign(repo, {"v1": (RELEASES, ALICE), "v2": (RELEASES,)})
    # Then bob joins the first two GUNs, dave the third; dave's key stays on his machine.
    joiners = [add_docker_signer(r, n) for r, n in zip(repos, ("bob", "bob2", "dave"), strict=True)]
    for repo in repos:
        refresh_cache(repo)
        assert releases_signers(repo) == {alice.canonical_id}, repo.gun
    offline = copy_trust_dir(first.trust_dir, tmp_path / "offline")
    (offline / "private" / f"{joiners[2]}.key").unlink()

    proc = run_offtrust(offline, "signer", "remove", "alice", "--all", "--yes")
    warnings = warnings_of(proc.stderr)
    for repo in repos[:2]:
        assert any(
            repo.gun in w and f"{RELEASES}: re-signed with the remaining local keys" in w
            for w in warnings
        ), describe(proc)
    assert any(
        repos[2].gun in w and "dave" in w and witness_hint(repos[2].gun).search(w) for w in warnings
    ), describe(proc)

    bundle = tmp_path / "all.bundle"
    proc = run_offtrust(offline, "stage", "--output", str(bundle))
    assert all(r.gun in proc.stderr for r in repos), describe(proc)
    proc = run_offtrust(offline, "publish", str(bundle), *publish_args(first.server))
    for repo in repos:
        assert f"{repo.gun}: published" in proc.stdout, describe(proc)

    for repo, joiner in zip(repos[:2], joiners, strict=False):
        assert releases_signers(repo) == {joiner}, repo.gun
        assert set(listed(repo)) == {"v1", "v2"}, repo.gun
        assert signed_tags(repo) == {"v1": ["Repo Admin"], "v2": ["Repo Admin"]}
    # The third is left as docker leaves it, until dave witnesses releases.
    assert listed(repos[2]) == {}
    assert signed_tags(repos[2]) == {}
    for repo in repos:
        assert "alice" not in {s["Name"] for s in repo.inspect()["Signers"]}, repo.gun
