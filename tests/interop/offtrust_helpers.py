"""Run the offtrust CLI from interop tests, and read the real tools' tables.

- :func:`run_offtrust` runs ``python -m offtrust -d TRUST_DIR ARGS...`` in a
  hermetic environment with the TEST-ONLY passphrases set;
- :func:`stage_and_publish` packs a trust dir's staged edits into a bundle and
  publishes it to the test notary-server;
- :func:`parse_table`, :func:`notary_delegations`, :func:`notary_targets` and
  :func:`notary_keys` parse what ``notary delegation list``, ``notary list`` and
  ``notary key list`` print.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from realtools import (
    DOCKER_PASSPHRASES,
    NotaryServer,
    Passphrases,
    TrustRepo,
    copy_trust_dir,
    run_notary,
    tool_env,
)

#: Seconds one offtrust call may take.
OFFTRUST_TIMEOUT = 120.0
#: Every role file of a Docker repository with one signer and one tag.
ROLES = ("root", "targets", "snapshot", "timestamp", "targets/releases")
#: One signer (alice, who also signs targets/releases) and one tag: the
#: smallest repository that has a targets/releases to edit.
SMALL_REPO: dict[str, Any] = {
    "signers": (("alice", "ecdsa"),),
    "tags": (("v1", ("targets/releases",)),),
}


def offtrust_env(
    passphrases: Passphrases | None = DOCKER_PASSPHRASES,
    env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of an offtrust run.

    No inherited ``OFFTRUST_*`` / ``DOCKER_*`` / ``NOTARY_*`` / proxy variables.
    ``passphrases`` become the ``DOCKER_CONTENT_TRUST_*`` variables when every
    non-root role shares one passphrase (a Docker trust dir), else the
    ``NOTARY_*_PASSPHRASE`` variables (offtrust prefers the Docker ones, so they
    must not both be set with different values). ``None``: no passphrase at all.
    ``env`` adds or overrides variables last.
    """
    extra: dict[str, str] = {}
    if passphrases is not None:
        if passphrases.targets == passphrases.snapshot == passphrases.delegation:
            extra.update(passphrases.docker_env())
        else:
            extra.update(passphrases.notary_env())
    extra.update(env or {})
    base = {k: v for k, v in tool_env().items() if not k.startswith("OFFTRUST_")}
    return {**base, **extra}


def run_offtrust(
    trust_dir: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    passphrases: Passphrases | None = DOCKER_PASSPHRASES,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``offtrust -d TRUST_DIR ARGS...`` with the TEST-ONLY passphrases.

    With ``check`` (default) a non-zero exit raises AssertionError carrying the
    output. Whatever the exit status, a Python traceback on stderr is an error.
    """
    proc = subprocess.run(
        [sys.executable, "-m", "offtrust", "-d", str(trust_dir), *args],
        capture_output=True,
        text=True,
        env=offtrust_env(passphrases, env),
        cwd=cwd,
        timeout=OFFTRUST_TIMEOUT,
        input="",
        check=False,
    )
    out = f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, f"offtrust {list(args)} crashed\n{out}"
    if check and proc.returncode != 0:
        raise AssertionError(f"offtrust {list(args)} exited with {proc.returncode}\n{out}")
    return proc


def server_args(server: NotaryServer) -> list[str]:
    """The flags that point ``fetch`` and ``publish`` at the test notary-server."""
    return ["--server", server.url, "--tls-ca", str(server.ca_file)]


def served_root(server: NotaryServer, gun: str) -> dict[str, Any]:
    """The ``signed`` part of the root the server serves for *gun*."""
    signed = json.loads(server.metadata(gun, "root"))["signed"]
    assert isinstance(signed, dict)
    return signed


def pinned_notary_list(repo: TrustRepo, where: Path) -> dict[str, dict[str, Any]]:
    """``notary list`` from a copy of the repo's ORIGINAL trust directory (old root pinned)."""
    trust = copy_trust_dir(repo.trust_dir, where)
    proc = run_notary(trust, "list", repo.gun, server=repo.server, passphrases=repo.passphrases)
    assert "using cached" not in proc.stderr, proc.stderr
    return notary_targets(proc.stdout)


_bundle_counter = itertools.count(1)


def stage_and_publish(trust_dir: Path, server: NotaryServer, workdir: Path, *guns: str) -> Path:
    """``offtrust stage [GUN...] --output B`` then ``offtrust publish B`` to ``server``.

    The bundle is written into ``workdir`` (created if needed) under a new name.
    Fails unless publish reports every GUN as published.

    Returns:
        the bundle's path.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    bundle = workdir / f"offtrust-{next(_bundle_counter)}.bundle"
    run_offtrust(trust_dir, "stage", *guns, "--output", str(bundle))
    proc = run_offtrust(
        trust_dir, "publish", str(bundle), "--server", server.url, "--tls-ca", str(server.ca_file)
    )
    assert "published" in proc.stdout, proc.stdout + proc.stderr
    return bundle


# --------------------------------------------------------------------------- #
# Tables printed by the real notary
# --------------------------------------------------------------------------- #


def parse_table(stdout: str, columns: Sequence[str]) -> list[list[str]]:
    """Cells of a Go tabwriter table whose header row names ``columns``.

    Cells are cut at the header's column offsets. The ``----`` row under the
    header is skipped; the table ends at a blank line. No header: no rows.
    """
    lines = stdout.splitlines()
    start = next(
        (i for i, line in enumerate(lines) if line.startswith(columns[0]) and columns[-1] in line),
        None,
    )
    if start is None:
        return []
    header = lines[start]
    offsets = [header.index(c) for c in columns]
    body = lines[start + 1 :]
    if body and set(body[0].replace(" ", "")) == {"-"}:
        body = body[1:]
    rows = []
    for line in body:
        if not line.strip():
            break
        ends = [*offsets[1:], len(line) + 1]
        rows.append([line[a:b].strip() for a, b in zip(offsets, ends, strict=True)])
    return rows


def notary_delegations(stdout: str) -> dict[str, dict[str, Any]]:
    """``notary delegation list`` -> {role: {"paths", "keyids", "threshold"}}."""
    roles: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    for role, path, keyid, threshold in parse_table(
        stdout, ["ROLE", "PATHS", "KEY IDS", "THRESHOLD"]
    ):
        if role:
            current = roles[role] = {"paths": [], "keyids": [], "threshold": int(threshold)}
        assert current is not None, stdout
        if path:
            current["paths"].append("" if path == '"" <all paths>' else path)
        if keyid:
            current["keyids"].append(keyid)
    return roles


def notary_targets(stdout: str) -> dict[str, dict[str, Any]]:
    """``notary list`` -> {tag: {"digest", "size", "role"}} (hex digest, int size)."""
    return {
        name: {"digest": digest, "size": int(size), "role": role}
        for name, digest, size, role in parse_table(
            stdout, ["NAME", "DIGEST", "SIZE (BYTES)", "ROLE"]
        )
    }


def notary_keys(stdout: str) -> dict[str, str]:
    """``notary key list`` -> {key ID: role}."""
    return {
        keyid: role
        for role, _gun, keyid, _location in parse_table(
            stdout, ["ROLE", "GUN", "KEY ID", "LOCATION"]
        )
    }
