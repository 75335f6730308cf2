"""docs/ceremony.md, followed word for word against a real notary-server.

Every ``console`` block of the document is read in order. A line ``WHO$ COMMAND``
is a command typed on machine WHO (``oscar``: networked; ``alice``, ``bob``:
air-gapped, one root key holder each); it runs with ``bash`` exactly as
written, in WHO's home directory, with the variables the document's
"Conventions" section names (``$GUN``, ``$SERVER``, ``$USB``). The lines after
a command are output it must print, in that order (other lines may come
between them): ``<name>`` stands for one word, remembered the first time and
required to be the same afterwards (``<bob-key>`` printed by ``notary key
generate`` is what a later command's ``<bob-key>`` means), and ``...`` for
anything. Every command must succeed.

What stands in for the room: a Docker-made repository published to the test
notary-server; Alice's ``~/.docker/trust`` is the exported copy of the trust
directory that made it (it holds the current root key), Oscar's holds only the
published metadata, Bob's is empty; ``$USB`` is one directory all three see.
Passphrases come from the variables the hidden prompts stand for. At the end
the test checks what the document promises: the server serves root v2 with
threshold 2 signed by both new keys, and ``docker trust inspect`` and ``notary
list`` from a copy of the ORIGINAL trust directory (old root pinned) accept it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from offtrust_helpers import SMALL_REPO, notary_targets, offtrust_env
from realtools import (
    DOCKER_PASSPHRASES,
    NotaryServer,
    TrustRepo,
    canonical_id_of_tuf_key,
    copy_trust_dir,
    docker_dns_isolation,
    install_docker_ca,
    run_docker,
    run_notary,
)

pytestmark = pytest.mark.interop

DOC = Path(__file__).resolve().parents[2] / "docs" / "ceremony.md"
MACHINES = ("oscar", "alice", "bob")
_COMMAND = re.compile(r"^(?P<who>[a-z]+)\$ (?P<command>.*)$")
_PLACEHOLDER = re.compile(r"<([a-z][a-z0-9-]*)>")


@dataclass
class Step:
    who: str
    command: str
    expected: list[str] = field(default_factory=list)


def read_steps(text: str) -> list[Step]:
    """The commands of every ``console`` block, in order, with the output they must print."""
    steps: list[Step] = []
    in_block = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_block = line.strip() == "```console" and not in_block
            continue
        if not in_block:
            continue
        found = _COMMAND.match(line)
        if found:
            steps.append(Step(found["who"], found["command"]))
        elif steps and steps[-1].command.endswith("\\"):
            steps[-1].command = steps[-1].command[:-1] + " " + line.strip()
        elif line.strip():
            assert steps, f"output before any command in docs/ceremony.md: {line!r}"
            steps[-1].expected.append(line.rstrip())
    return steps


def _line_pattern(expected: str, bound: dict[str, str]) -> re.Pattern[str]:
    pattern, pos = "", 0
    for found in re.finditer(r"<([a-z][a-z0-9-]*)>|\.\.\.", expected):
        pattern += re.escape(expected[pos : found.start()])
        name = found.group(1)
        if name is None:
            pattern += ".*"
        elif name in bound:
            pattern += re.escape(bound[name])
        else:
            pattern += f"(?P<{name.replace('-', '_')}>\\S+)"
        pos = found.end()
    pattern += re.escape(expected[pos:])
    return re.compile(pattern)


def check_output(step: Step, output: str, bound: dict[str, str]) -> None:
    """Each expected line matches a whole output line, in order; placeholders bind."""
    lines = [line.rstrip() for line in output.splitlines()]
    at = 0
    for expected in step.expected:
        if expected.strip() == "...":
            continue
        pattern = _line_pattern(expected, bound)
        for i in range(at, len(lines)):
            found = pattern.fullmatch(lines[i])
            if found:
                for name, value in found.groupdict().items():
                    bound.setdefault(name.replace("_", "-"), value)
                at = i + 1
                break
        else:
            raise AssertionError(
                f"{step.who}$ {step.command}\nexpected a line {expected!r} "
                f"(after line {at}) in:\n{output}"
            )


def substitute(command: str, bound: dict[str, str]) -> str:
    def value(found: re.Match[str]) -> str:
        name = found.group(1)
        assert name in bound, f"<{name}> is used before any output printed it: {command}"
        return bound[name]

    return _PLACEHOLDER.sub(value, command)


def test_the_document_reads_as_a_ceremony() -> None:
    """The parser sees every step the document describes (so the test below runs them all)."""
    steps = read_steps(DOC.read_text())
    assert {s.who for s in steps} == set(MACHINES)
    commands = " ; ".join(s.command for s in steps)
    for needed in (
        "offtrust fetch",
        "notary -d ~/.docker/trust key generate ecdsa --role root",
        "offtrust key export",
        "offtrust key rotate",
        "offtrust stage",
        "sha256sum",
        "offtrust bundle show",
        "offtrust bundle sign",
        "offtrust bundle verify",
        "offtrust publish",
        "docker trust inspect",
    ):
        assert needed in commands, needed
    assert read_steps("```console\na$ x \\\n  --y\nout <v>\n...\n```\n") == [
        Step("a", "x  --y", ["out <v>", "..."])
    ]
    # Expected lines: in order, whole lines, a placeholder binds once.
    bound: dict[str, str] = {}
    step = Step("a", "x", ["key: <k>", "...", "again <k>"])
    check_output(step, "noise\nkey: 1a2b\nmore\nagain 1a2b\n", bound)
    assert bound == {"k": "1a2b"}
    for wrong in ("key: 1a2b\nagain 3c4d\n", "again 1a2b\nkey: 1a2b\n", "key: 1a2b x\n"):
        with pytest.raises(AssertionError):
            check_output(step, wrong, {})


def _machine(root: Path, who: str, server: NotaryServer) -> dict[str, str]:
    home = root / who
    (home / ".docker").mkdir(parents=True, mode=0o700, exist_ok=True)
    install_docker_ca(home / ".docker", server)
    env = offtrust_env(DOCKER_PASSPHRASES)
    env.update(
        {
            "HOME": str(home),
            "NOTARY_ROOT_PASSPHRASE": DOCKER_PASSPHRASES.root,
            # Docker, as the room's networked machine has it set up.
            "DOCKER_CONTENT_TRUST": "1",
            "DOCKER_HOST": f"unix://{home}/no-engine.sock",
        }
    )
    return env


def _bin_dir(root: Path) -> Path:
    """``offtrust`` running this checkout, and ``docker`` kept off the system resolver."""
    bin_dir = root / "bin"
    bin_dir.mkdir()
    (bin_dir / "offtrust").write_text(f'#!/bin/sh\nexec {sys.executable} -m offtrust "$@"\n')
    docker = shutil.which("docker") or "docker"
    prefix = " ".join(shlex.quote(a) for a in docker_dns_isolation())
    (bin_dir / "docker").write_text(f'#!/bin/sh\nexec {prefix} {docker} "$@"\n')
    for f in bin_dir.iterdir():
        f.chmod(f.stat().st_mode | stat.S_IXUSR)
    return bin_dir


def _root_signed(server: NotaryServer, gun: str) -> dict[str, Any]:
    doc = json.loads(server.metadata(gun, "root"))
    assert isinstance(doc, dict)
    return doc


def test_the_root_rotation_ceremony_word_for_word(
    make_docker_repo: Callable[..., TrustRepo], tmp_path: Path
) -> None:
    repo = make_docker_repo("ceremony", **SMALL_REPO)
    server, gun = repo.server, repo.gun
    original = copy_trust_dir(repo.trust_dir, tmp_path / "original")
    root_v1 = _root_signed(server, gun)["signed"]

    envs = {who: _machine(tmp_path, who, server) for who in MACHINES}
    usb = tmp_path / "usb"
    usb.mkdir()
    copy_trust_dir(repo.trust_dir, tmp_path / "alice" / ".docker" / "trust")
    oscar_trust = copy_trust_dir(repo.trust_dir, tmp_path / "oscar" / ".docker" / "trust")
    shutil.rmtree(oscar_trust / "private")
    bin_dir = _bin_dir(tmp_path)
    for env in envs.values():
        env.update({"GUN": gun, "SERVER": server.url, "USB": str(usb)})
        env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"

    bound: dict[str, str] = {}
    steps = read_steps(DOC.read_text())
    assert len(steps) >= 15
    for step in steps:
        command = substitute(step.command, bound)
        proc = subprocess.run(
            ["bash", "-o", "pipefail", "-c", command],
            cwd=tmp_path / step.who,
            env=envs[step.who],
            capture_output=True,
            text=True,
            timeout=180,
            input="",
            check=False,
        )
        output = proc.stdout + proc.stderr
        if os.environ.get("CEREMONY_DEBUG"):
            print(f"\n>>> {step.who}$ {command}\n{output}")
        assert "Traceback" not in output, output
        assert proc.returncode == 0, f"{step.who}$ {command}\nexit {proc.returncode}:\n{output}"
        check_output(step, output, bound)

    # What the document promised: root v2, threshold 2, both new keys, both signatures.
    root = _root_signed(server, gun)
    signed = root["signed"]
    assert signed["version"] == root_v1["version"] + 1
    assert signed["roles"]["root"]["threshold"] == 2
    new_keys = {
        canonical_id_of_tuf_key(signed["keys"][k]) for k in signed["roles"]["root"]["keyids"]
    }
    assert new_keys == {bound["alice-key"], bound["bob-key"]}
    assert {bound["alice-cert"], bound["bob-cert"]} == set(signed["roles"]["root"]["keyids"])
    signers = {s["keyid"] for s in root["signatures"]}
    assert set(signed["roles"]["root"]["keyids"]) <= signers
    assert set(root_v1["roles"]["root"]["keyids"]) <= signers  # the old root signed too

    # Clients that pinned the old root accept the new one.
    config = tmp_path / "pinned-docker"
    copy_trust_dir(original, config / "trust")
    inspected = run_docker(config, "trust", "inspect", gun, server=server)
    (doc,) = json.loads(inspected.stdout)
    admin = {a["Name"]: [k["ID"] for k in a["Keys"]] for a in doc["AdministrativeKeys"]}
    assert sorted(admin["Root"]) == sorted(signed["roles"]["root"]["keyids"])
    pinned = copy_trust_dir(original, tmp_path / "pinned-notary")
    listed = run_notary(pinned, "list", gun, server=server, passphrases=repo.passphrases)
    assert "v1" in notary_targets(listed.stdout)
