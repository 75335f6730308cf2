"""Smoke tests for the interop harness: the server, the CLIs and the built repos."""

from __future__ import annotations

import base64
import json
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import realtools
from realtools import NotaryServer, TrustRepo, copy_trust_dir

HEX64 = re.compile(r"\b[0-9a-f]{64}\b")


def parse_delegation_list(stdout: str) -> dict[str, list[str]]:
    """``notary delegation list`` table -> {role: [canonical key IDs]}."""
    roles: dict[str, list[str]] = {}
    current = None
    for line in stdout.splitlines():
        first = line.split(maxsplit=1)[0] if line.strip() else ""
        if first.startswith("targets/"):
            current = first
            roles[current] = []
        if current is not None:
            roles[current].extend(HEX64.findall(line))
    return roles


def parse_target_list(stdout: str) -> dict[str, tuple[str, int, str]]:
    """``notary list`` table -> {name: (hex digest, size, role)}."""
    rows = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and HEX64.fullmatch(parts[1]):
            rows[parts[0]] = (parts[1], int(parts[2]), parts[3])
    return rows


def cached_roles(repo: TrustRepo) -> set[str]:
    return {
        p.relative_to(repo.metadata_dir).with_suffix("").as_posix()
        for p in repo.metadata_dir.rglob("*.json")
    }


# --------------------------------------------------------------------------- #
# Server and CLIs
# --------------------------------------------------------------------------- #


@pytest.mark.interop
def test_server_answers_health_and_ping(notary_server: NotaryServer) -> None:
    assert notary_server.url == f"https://127.0.0.1:{notary_server.port}"
    assert notary_server.host_port == f"127.0.0.1:{notary_server.port}"
    assert notary_server.ca_file.is_file()
    assert notary_server.get("/_notary_server/health") == (200, b"{}")
    status, body = notary_server.get("/v2/")
    assert (status, json.loads(body)) == (200, {})


@pytest.mark.interop
def test_unknown_gun_is_404(notary_server: NotaryServer) -> None:
    status, _ = notary_server.get("/v2/example.com/never-made/_trust/tuf/root.json")
    assert status == 404
    with pytest.raises(LookupError):
        notary_server.metadata("example.com/never-made", "root")


@pytest.mark.interop
def test_cli_helpers_run_real_tools(
    notary_cli: Callable[..., Any], docker_cli: Callable[..., Any], tmp_path: Path
) -> None:
    # Debian's build leaves the version string empty; only the Go version shows.
    assert "Go version" in notary_cli(tmp_path / "n", "version").stdout
    failed = notary_cli(tmp_path / "n", "list", "example.com/never-made", check=False)
    assert failed.returncode != 0
    with pytest.raises(realtools.ToolError, match="never-made"):
        notary_cli(tmp_path / "n", "list", "example.com/never-made")
    out = docker_cli(tmp_path / "d", "trust", "key", "generate", "dave", "--dir", str(tmp_path))
    assert "dave.pub" in out.stdout
    assert (tmp_path / "d" / "trust" / "private").is_dir()


# --------------------------------------------------------------------------- #
# Docker-made repo
# --------------------------------------------------------------------------- #


@pytest.mark.interop
def test_docker_inspect_lists_signers(docker_repo: TrustRepo) -> None:
    info = docker_repo.inspect()
    assert info["Name"] == docker_repo.gun
    signers = {s["Name"]: [k["ID"] for k in s["Keys"]] for s in info["Signers"]}
    assert set(signers) == {"alice", "bob", "carol"}
    assert len(signers["bob"]) == 2
    for name, keys in docker_repo.signers.items():
        # inspect shows canonical IDs, also for carol's certificate.
        assert sorted(signers[name]) == sorted(k.canonical_id for k in keys)
    admin = {a["Name"]: [k["ID"] for k in a["Keys"]] for a in info["AdministrativeKeys"]}
    assert admin == {"Root": [docker_repo.root_key_id], "Repository": [docker_repo.targets_key_id]}
    tags = {t["SignedTag"]: t for t in info["SignedTags"]}
    assert tags["v1"]["Signers"] == ["alice"]
    assert tags["v2"]["Signers"] == ["Repo Admin"]
    for name, tag in docker_repo.tags.items():
        assert tags[name]["Digest"] == tag.digest


@pytest.mark.interop
def test_docker_repo_delegations(docker_repo: TrustRepo) -> None:
    listed = parse_delegation_list(docker_repo.notary("delegation", "list", docker_repo.gun).stdout)
    all_keys = [k for keys in docker_repo.signers.values() for k in keys]
    assert len(all_keys) == 4
    assert sorted(listed["targets/releases"]) == sorted(k.canonical_id for k in all_keys)
    assert listed["targets/bob"] == [k.canonical_id for k in docker_repo.signers["bob"]]
    # targets.json lists carol's certificate ID, which differs from the canonical one.
    (carol,) = docker_repo.signers["carol"]
    assert carol.keytype == "rsa-x509"
    assert carol.key_id != carol.canonical_id
    assert carol.key_id in docker_repo.delegations["targets/releases"]
    assert sorted(docker_repo.delegations["targets/releases"]) == sorted(k.key_id for k in all_keys)


@pytest.mark.interop
def test_docker_repo_tags_in_releases(docker_repo: TrustRepo) -> None:
    releases = parse_target_list(
        docker_repo.notary("list", docker_repo.gun, "-r", "targets/releases").stdout
    )
    assert releases == {
        name: (tag.digest, tag.size, "targets/releases") for name, tag in docker_repo.tags.items()
    }
    alice = parse_target_list(
        docker_repo.notary("list", docker_repo.gun, "-r", "targets/alice").stdout
    )
    assert alice == {
        "v1": (docker_repo.tags["v1"].digest, docker_repo.tags["v1"].size, "targets/alice")
    }
    # Without -r, notary shows each name once, from the first delegation (in
    # targets.json order) that has it: targets/alice was added before releases.
    rows = parse_target_list(docker_repo.notary("list", docker_repo.gun).stdout)
    assert {name: role for name, (_, _, role) in rows.items()} == {
        "v1": "targets/alice",
        "v2": "targets/releases",
    }


@pytest.mark.interop
def test_docker_repo_keys_and_cache(docker_repo: TrustRepo, notary_server: NotaryServer) -> None:
    assert docker_repo.server_managed_snapshot
    assert docker_repo.trust_dir == docker_repo.config_dir / "trust"
    assert cached_roles(docker_repo) == {
        "root",
        "targets",
        "snapshot",
        "timestamp",
        "targets/releases",
        "targets/alice",
    }
    for role in cached_roles(docker_repo):
        cached = (docker_repo.metadata_dir / f"{role}.json").read_bytes()
        assert cached == notary_server.metadata(docker_repo.gun, role), role
    # Private keys: root, targets and one per signer key, named by canonical ID.
    headers = {p.stem: realtools.read_key_headers(p) for p in docker_repo.private_dir.glob("*.key")}
    assert headers[docker_repo.root_canonical_id] == {"role": "root"}
    assert headers[docker_repo.targets_key_id] == {"gun": docker_repo.gun, "role": "targets"}
    for keys in docker_repo.signers.values():
        for key in keys:
            assert key.private_key is not None
            assert headers[key.canonical_id] == {"role": key.key_name}
    assert len(headers) == 2 + 4
    # Modes as the tools make them.
    for path in [docker_repo.trust_dir, *docker_repo.trust_dir.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), path


@pytest.mark.interop
def test_fresh_docker_config_reads_ca_from_tls_dir(
    docker_repo: TrustRepo,
    docker_cli: Callable[..., Any],
    tmp_path: Path,
    notary_server: NotaryServer,
) -> None:
    # No cache at all, so this only works if Docker trusts the CA it finds in
    # $DOCKER_CONFIG/tls/<host:port>/ca.crt.
    proc = docker_cli(tmp_path / "cfg", "trust", "inspect", docker_repo.gun)
    assert "using cached" not in proc.stderr
    assert (tmp_path / "cfg" / "tls" / notary_server.host_port / "ca.crt").is_file()
    assert json.loads(proc.stdout)[0]["Name"] == docker_repo.gun
    assert (
        tmp_path / "cfg" / "trust" / "tuf" / docker_repo.gun / "metadata" / "timestamp.json"
    ).is_file()


# --------------------------------------------------------------------------- #
# notary-made repo
# --------------------------------------------------------------------------- #


@pytest.mark.interop
def test_notary_repo(notary_repo: TrustRepo) -> None:
    assert notary_repo.kind == "notary"
    assert not notary_repo.server_managed_snapshot
    assert (notary_repo.private_dir / f"{notary_repo.snapshot_key_id}.key").is_file()
    listed = parse_delegation_list(notary_repo.notary("delegation", "list", notary_repo.gun).stdout)
    (key,) = notary_repo.signers["releases"]
    assert listed == {"targets/releases": [key.canonical_id]}
    assert realtools.read_key_headers(key.private_key) == {"role": "targets/releases"}
    rows = parse_target_list(notary_repo.notary("list", notary_repo.gun).stdout)
    tag = notary_repo.tags["v1"]
    assert rows == {"v1": (tag.digest, tag.size, "targets/releases")}
    assert cached_roles(notary_repo) == {
        "root",
        "targets",
        "snapshot",
        "timestamp",
        "targets/releases",
    }


@pytest.mark.interop
def test_notary_repo_uses_per_role_passphrases(notary_repo: TrustRepo, tmp_path: Path) -> None:
    trust = copy_trust_dir(notary_repo.trust_dir, tmp_path / "trust")
    wrong = {"NOTARY_DELEGATION_PASSPHRASE": notary_repo.passphrases.targets}

    def notary(*args: str, **kw: Any) -> Any:
        return realtools.run_notary(
            trust, *args, server=notary_repo.server, passphrases=notary_repo.passphrases, **kw
        )

    notary("addhash", notary_repo.gun, "x", "1", "--sha256", "00" * 32, "-r", "targets/releases")
    proc = notary("publish", notary_repo.gun, env=wrong, check=False)
    assert proc.returncode != 0, proc.stdout
    # The shared repo on the server is untouched; the right passphrase would work.
    assert "x" not in parse_target_list(notary_repo.notary("list", notary_repo.gun).stdout)


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #


@pytest.mark.interop
def test_copy_trust_dir_preserves_modes(docker_repo: TrustRepo, tmp_path: Path) -> None:
    dst = copy_trust_dir(docker_repo.trust_dir, tmp_path / "airgap" / "trust")
    src_files = sorted(
        p.relative_to(docker_repo.trust_dir) for p in docker_repo.trust_dir.rglob("*")
    )
    assert sorted(p.relative_to(dst) for p in dst.rglob("*")) == src_files
    for rel in [Path("."), *src_files]:
        s, d = (docker_repo.trust_dir / rel).stat(), (dst / rel).stat()
        assert stat.S_IMODE(s.st_mode) == stat.S_IMODE(d.st_mode), rel
        if (dst / rel).is_file():
            assert (dst / rel).read_bytes() == (docker_repo.trust_dir / rel).read_bytes()
    with pytest.raises(FileExistsError):
        copy_trust_dir(docker_repo.trust_dir, dst)


def test_missing_tools_skip_locally_fail_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(realtools.shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="notary-server"):
        realtools.require_real_tools()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        realtools.require_real_tools()


# --------------------------------------------------------------------------- #
# fixtures/example-trust (made by fixtures/make_example.py); needs no tools
# --------------------------------------------------------------------------- #

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def test_example_trust_matches_its_manifest() -> None:
    trust = FIXTURES / "example-trust"
    manifest = json.loads((FIXTURES / "example-trust.json").read_text())
    assert set(manifest["guns"]) == {"example.com/app", "example.com/tools"}
    assert not list((trust / "tuf").rglob("changelist"))
    for kid, headers in manifest["private_keys"].items():
        assert realtools.read_key_headers(trust / "private" / f"{kid}.key") == headers
    assert len(list((trust / "private").iterdir())) == len(manifest["private_keys"])
    for gun, info in manifest["guns"].items():
        meta = trust / "tuf" / gun / "metadata"
        files = sorted(p.relative_to(meta).with_suffix("").as_posix() for p in meta.rglob("*.json"))
        assert files == info["cached_roles"]
        root = json.loads((meta / "root.json").read_bytes())["signed"]
        assert root["roles"]["root"]["keyids"] == [info["root_key_id"]]
        assert root["roles"]["targets"]["keyids"] == [info["targets_key_id"]]
        assert root["roles"]["snapshot"]["keyids"] == [info["snapshot_key_id"]]
        canonical_root = realtools.canonical_id_of_tuf_key(root["keys"][info["root_key_id"]])
        assert canonical_root == info["root_canonical_id"]
        targets = json.loads((meta / "targets.json").read_bytes())["signed"]
        roles = {r["name"]: r["keyids"] for r in targets["delegations"]["roles"]}
        assert roles == info["delegations"]
        for tag, t in info["tags"].items():
            for role in t["roles"]:
                entry = json.loads((meta / f"{role}.json").read_bytes())["signed"]["targets"][tag]
                assert entry["length"] == t["size"]
                assert base64.b64decode(entry["hashes"]["sha256"]).hex() == t["sha256"]
