"""The crash suite's harness: run offtrust as real processes, kill them, check the trust dir.

Vocabulary:

- a **scenario** is one writing command (``key generate``, ``signer add``,
  ``target add``, ``resign``, ``stage``) with the *pristine* work tree it runs
  on: ``trust/`` (a copy of ``fixtures/example-trust`` plus some staged edits)
  and ``out/`` (public keys and bundles, outside the trust dir);
- its **reference** is what the tree looks like before (*old*) and after an
  uninterrupted run (*new*), measured on this machine with the code under test;
- a **runner** starts the command as a separate process: :class:`ForkServer`
  forks it from a warm interpreter (so kills land in the command's work, not in
  its imports) and :class:`SubprocessRunner` starts ``python3 -m offtrust``.

After every kill, :func:`check_after_kill` checks the invariants of the issue
"The trust directory is hostile ground" (build item 6); each failure names the
invariant, the command, the kill delay and the difference of the tree.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import select
import shutil
import signal
import stat
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from builders import REPOSITORY_PASSPHRASE, ROOT_PASSPHRASE, copy_example, ed25519_key

HERE = Path(__file__).resolve().parent
#: Seed of every random choice (kill delays); change it to explore other moments.
SEED = int(os.environ.get("OFFTRUST_CRASH_SEED", "20261130"))
#: Kills per command through the fork server, and through real ``python3 -m offtrust``.
FORK_KILLS = int(os.environ.get("OFFTRUST_CRASH_KILLS", "40"))
SUBPROCESS_KILLS = int(os.environ.get("OFFTRUST_CRASH_SUBPROCESS_KILLS", "5"))
#: Wall-clock budget of one kill campaign (one command, one runner), in seconds.
CAMPAIGN_BUDGET = float(os.environ.get("OFFTRUST_CRASH_BUDGET", "150"))
#: A command that runs longer than this is reported as hung and killed.
RUN_TIMEOUT = 30.0

PASSPHRASES = {
    "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE": ROOT_PASSPHRASE,
    "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": REPOSITORY_PASSPHRASE,
}
HEX64 = re.compile(r"[0-9a-f]{64}")
#: Paths the store keeps by design, whatever state the tree is in: the lock
#: file (``offtrust/store/lock.py``), which a killed holder leaves behind naming
#: its dead pid, and which the next command simply locks again.
DESIGNED_PATHS = frozenset({"trust/offtrust/lock"})
ERROR_PREFIX = "offtrust: error:"
PAGE = 4096


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def command_env(home: Path) -> dict[str, str]:
    """The whole environment of every offtrust run: nothing leaks in from the test process."""
    import offtrust

    package_root = str(Path(offtrust.__file__).resolve().parent.parent)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "DOCKER_CONFIG": str(home / ".docker"),
        "LC_ALL": "C.UTF-8",
        "PYTHONPATH": package_root,
        "PYTHONDONTWRITEBYTECODE": "1",
        # Commands over several GUNs do them ahead in worker processes (as they
        # do over many GUNs by default): kills land while workers run too. A
        # GUN that needs new keys is still done by the main process alone.
        "OFFTRUST_WORKERS": "2",
        **PASSPHRASES,
    }


# -- running commands --------------------------------------------------------------------


@dataclass
class Run:
    """One finished (or killed) offtrust process."""

    argv: list[str]
    rc: int | None  # exit status; None when a signal ended it
    sig: int | None
    stdout: str
    stderr: str
    elapsed: float
    delay: float | None = None
    timed_out: bool = False

    @property
    def killed(self) -> bool:
        """Our SIGKILL ended it (it had not exited yet)."""
        return self.sig == signal.SIGKILL and not self.timed_out

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith(ERROR_PREFIX)]

    @property
    def has_traceback(self) -> bool:
        return "Traceback (most recent call last)" in self.stderr + self.stdout

    def describe(self) -> str:
        cmd = "offtrust " + " ".join(self.argv)
        if self.timed_out:
            what = f"hung (killed after {RUN_TIMEOUT:.0f} s)"
        elif self.killed:
            what = f"SIGKILLed after {self.delay:.4f} s"
        elif self.rc is None:
            what = f"ended by signal {self.sig}"
        else:
            what = f"exit {self.rc} after {self.elapsed:.3f} s"
        tail = _tail(self.stderr)
        return f"`{cmd}`: {what}" + (f"; stderr: {tail}" if tail else "")


def _tail(text: str, lines: int = 6, width: int = 600) -> str:
    out = " | ".join(text.strip().splitlines()[-lines:])
    return out if len(out) <= width else out[:width] + "…"


class ForkServer:
    """Forks each command from a warm interpreter (see ``forkserver.py``)."""

    name = "fork"

    def __init__(self, scratch: Path, env: dict[str, str]) -> None:
        self.scratch = scratch
        self.env = env
        scratch.mkdir(parents=True, exist_ok=True)
        self._log = open(scratch / "forkserver.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "forkserver.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
            cwd=scratch,
        )
        self._buffer = b""
        ready = self._read(120)
        if ready is None or "ready" not in ready:
            self.close()
            log = (scratch / "forkserver.log").read_text(errors="replace")
            raise RuntimeError(f"the fork server did not start: {log[-2000:]}")
        self._warm_up()

    def _warm_up(self) -> None:
        """Run each kind of command once inside the server, on a throw-away trust dir."""
        warm = self.scratch / "warm"
        if warm.exists():
            shutil.rmtree(warm)
        warm.mkdir()
        copy_example(warm / "trust")
        (warm / "out").mkdir()
        for argv in (
            [*D, "verify", "--all", "--json"],
            [*D, "key", "list", "--json"],
            [*D, "key", "generate", "warm", "--dir", "out"],
            [*D, "signer", "add", "warm", GUN_APP, "--key", "out/warm.pub"],
            list(_STAGE_TOOLS),
            [*D, "resign", GUN_TOOLS],
            [*D, "status"],
            [*D, "stage", "--output", "out/warm.bundle"],
            ["bundle", "verify", "out/warm.bundle"],
        ):
            assert self.proc.stdin is not None
            request = {"warm": True, "argv": argv, "cwd": str(warm)}
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
            if self._read(120) is None:
                raise RuntimeError("the fork server hangs in its warm-up")

    def _read(self, timeout: float) -> dict[str, Any] | None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                raise RuntimeError("the fork server died")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)  # type: ignore[no-any-return]

    def run(self, argv: list[str], cwd: Path, *, kill_after: float | None = None) -> Run:
        out, err = self.scratch / "run.stdout", self.scratch / "run.stderr"
        request = {"argv": argv, "cwd": str(cwd), "env": self.env, "stdout": str(out)}
        request["stderr"] = str(err)
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        self.proc.stdin.flush()
        started = self._read(60)
        if started is None:
            raise RuntimeError("the fork server does not answer")
        pid = int(started["pid"])
        if kill_after is not None:
            time.sleep(kill_after)
            # Already exited and reaped: it completed.
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        done = self._read(RUN_TIMEOUT)
        timed_out = done is None
        if done is None:
            os.kill(pid, signal.SIGKILL)
            done = self._read(60)
            assert done is not None
        status = int(done["status"])
        return Run(
            argv=argv,
            rc=os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            sig=os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            stdout=out.read_text(errors="replace"),
            stderr=err.read_text(errors="replace"),
            elapsed=float(done["elapsed"]),
            delay=kill_after,
            timed_out=timed_out,
        )

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


class SubprocessRunner:
    """``python3 -m offtrust ARGS``: the honest, slow way (start-up included)."""

    name = "subprocess"

    def __init__(self, scratch: Path, env: dict[str, str]) -> None:
        self.scratch = scratch
        self.env = env
        scratch.mkdir(parents=True, exist_ok=True)

    def run(self, argv: list[str], cwd: Path, *, kill_after: float | None = None) -> Run:
        out, err = self.scratch / "run.stdout", self.scratch / "run.stderr"
        with out.open("wb") as fout, err.open("wb") as ferr:
            start = time.monotonic()
            proc = subprocess.Popen(
                [sys.executable, "-m", "offtrust", *argv],
                cwd=cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=fout,
                stderr=ferr,
            )
            if kill_after is not None:
                time.sleep(kill_after)
                proc.send_signal(signal.SIGKILL)  # a no-op once it has exited
            timed_out = False
            try:
                proc.wait(RUN_TIMEOUT)
            except subprocess.TimeoutExpired:
                timed_out = True
                proc.kill()
                proc.wait()
            elapsed = time.monotonic() - start
        code = proc.returncode
        return Run(
            argv=argv,
            rc=code if code >= 0 else None,
            sig=-code if code < 0 else None,
            stdout=out.read_text(errors="replace"),
            stderr=err.read_text(errors="replace"),
            elapsed=elapsed,
            delay=kill_after,
            timed_out=timed_out,
        )


# -- trees ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    kind: str  # dir, file, symlink, other
    mode: int
    data: bytes | None = None


Tree = dict[str, Node]


def snapshot(root: Path) -> Tree:
    """Everything under *root* (not following links): type, permission bits, bytes."""
    tree: Tree = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISDIR(st.st_mode):
                tree[rel] = Node("dir", mode)
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    tree[rel] = Node("file", mode, f.read())
            elif stat.S_ISLNK(st.st_mode):
                tree[rel] = Node("symlink", 0, os.fsencode(os.readlink(path)))
            else:
                tree[rel] = Node("other", st.st_mode)
    return tree


def _describe_node(node: Node) -> str:
    if node.kind == "file":
        assert node.data is not None
        return f"file {len(node.data)} B, mode {node.mode:04o}"
    if node.kind == "dir":
        return f"dir, mode {node.mode:04o}"
    return node.kind


def diff_trees(before: Tree, after: Tree, limit: int = 25) -> list[str]:
    """Lines ``+ path``, ``- path``, ``~ path (what changed)``; empty when identical."""
    lines = []
    for path in sorted(set(before) | set(after)):
        a, b = before.get(path), after.get(path)
        if a == b:
            continue
        if a is None:
            assert b is not None
            lines.append(f"+ {path} ({_describe_node(b)})")
        elif b is None:
            lines.append(f"- {path} ({_describe_node(a)})")
        elif a.kind != b.kind:
            lines.append(f"~ {path} ({a.kind} -> {b.kind})")
        elif a.data != b.data:
            size = f"{len(a.data or b'')} B -> {len(b.data or b'')} B"
            lines.append(f"~ {path} (content changed, {size})")
        else:
            lines.append(f"~ {path} (mode {a.mode:04o} -> {b.mode:04o})")
    if len(lines) > limit:
        lines = [*lines[:limit], f"… and {len(lines) - limit} more"]
    return lines


def is_hidden(path: str) -> bool:
    return any(part.startswith(".") for part in path.split("/"))


def restore(pristine: Path, work: Path) -> None:
    """Make *work* a fresh copy of *pristine* (modes kept)."""
    if work.exists() or work.is_symlink():
        shutil.rmtree(work)
    shutil.copytree(pristine, work, symlinks=True)


# -- what a trust dir means --------------------------------------------------------------


def known_strings(tree: Tree) -> set[str]:
    """Every string of the pristine tree's JSON and every key ID in its paths.

    Strings made by a run (new key IDs, certificates, signatures) are not in
    it; :func:`normalize` replaces them, so two runs of one command compare equal.
    """
    known: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                known.add(k)
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, str):
            known.add(value)

    for path, node in tree.items():
        known.update(HEX64.findall(path))
        if node.kind == "file" and path.endswith(".json"):
            with contextlib.suppress(ValueError):
                walk(json.loads(node.data or b""))
        if node.kind == "file" and path.endswith(".pub"):
            from offtrust import crypto

            known.add(crypto.load_public_key_pem(node.data or b"").keyid)
    return known


def normalize(value: Any, known: set[str]) -> Any:
    """*value* with run-specific strings replaced (dicts become sorted pair lists)."""
    if isinstance(value, dict):
        hashes = value.get("hashes")
        if isinstance(hashes, dict) and any(h not in known for h in hashes.values()):
            # A new file's length varies with its timestamps' digits.
            value = {**value, "length": "<new-length>"}
        pairs = [(normalize(k, known), normalize(v, known)) for k, v in value.items()]
        return sorted(pairs, key=lambda p: json.dumps(p, sort_keys=True))
    if isinstance(value, list):
        return [normalize(v, known) for v in value]
    if isinstance(value, str) and value not in known:
        if HEX64.fullmatch(value):
            return "<new-id>"
        if len(value) > 40:
            return "<new-blob>"
    return value


def normalize_path(path: str, known: set[str]) -> str:
    return HEX64.sub(lambda m: m.group(0) if m.group(0) in known else "<new-id>", path)


def path_set(tree: Tree, known: set[str]) -> set[str]:
    return {normalize_path(p, known) for p in tree}


@dataclass(frozen=True)
class Logical:
    """A trust dir as readers see it: per GUN, every role's content; the key list."""

    guns: dict[str, Any]
    keys: Counter[tuple[str, str, str]]

    def gun_summary(self, gun: str) -> str:
        value = self.guns.get(gun)
        if value is None:
            return "absent"
        if value[0] in ("unloadable", "crashed"):
            return f"{value[0]}: {value[1]}"
        roles, staged = value
        parts = [f"{role}={source} v{version}" for role, source, version, _ in roles]
        return (", ".join(parts) or "no metadata") + (
            "; no staged state" if staged is None else f"; staged state with {staged[1]} edit(s)"
        )


def passphrase_source() -> Any:
    from offtrust.passphrase import Passphrases

    return Passphrases(environ=PASSPHRASES, interactive=False)


def logical_state(trust: Path, known: set[str]) -> Logical:
    from offtrust.errors import OfftrustError
    from offtrust.store.keystore import KeyStore
    from offtrust.store.layout import TrustDir
    from offtrust.store.repo import RepoStore

    td = TrustDir(trust)
    repos = RepoStore(td)
    guns: dict[str, Any] = {}
    for gun in td.all_guns():
        try:
            state = repos.load(gun)
            info = repos.staged_info(gun)
        except OfftrustError as e:
            guns[gun] = ("unloadable", e.message)
            continue
        except Exception as e:  # noqa: BLE001 - reported as an invariant failure
            guns[gun] = ("crashed", repr(e))
            continue
        roles = []
        for role in sorted(state.roles):
            md = state.roles[role]
            raw = md.raw if md.raw is not None else md.to_bytes()
            signed = json.loads(raw)["signed"]
            signed.pop("expires", None)
            content = json.dumps(normalize(signed, known), sort_keys=True)
            roles.append((role, state.sources.get(role), md.signed.version, content))
        staged = (
            None
            if info is None
            else (tuple(sorted(info.base.items())), len(info.edits), info.new_gun)
        )
        guns[gun] = (tuple(roles), staged)
    keys: Counter[tuple[str, str, str]] = Counter()
    try:
        for k in KeyStore(td).list():
            keys[(normalize_path(k.keyid, known), k.role, k.gun)] += 1
    except Exception as e:  # noqa: BLE001
        keys[("<key list failed>", repr(e), "")] += 1
    return Logical(guns, keys)


def verify_errors(run: Run) -> tuple[set[tuple[str, str, str]], str | None]:
    """The error-level problems of ``verify --all --json``, or why its output is unusable."""
    if run.has_traceback:
        return set(), f"traceback: {_tail(run.stderr)}"
    try:
        doc = json.loads(run.stdout)
    except ValueError:
        return set(), f"no JSON on stdout ({run.describe()})"
    errors = set()
    for repo in doc.get("guns", []):
        for p in repo.get("problems", []):
            if p.get("severity") == "error":
                errors.add((repo.get("gun", "?"), p.get("role", "?"), p.get("reason", "?")))
    if run.rc not in (0, 1, 2):
        return errors, f"exit {run.rc} ({run.describe()})"
    return errors, None


# -- scenarios and references ----------------------------------------------------------------

GUN_APP = "example.com/app"
GUN_TOOLS = "example.com/tools"
NEW_GUNS = ("example.com/new1", "example.com/new2")
#: ``offtrust -d trust``: every command runs in the work tree, with relative paths.
D = ["-d", "trust"]


def _digest(char: str) -> str:
    return "sha256:" + char * 64


@dataclass(frozen=True)
class Scenario:
    name: str
    argv: list[str]
    #: run again after a kill, to check the trust dir is usable and crash debris is cleaned.
    recovery: list[str]
    #: GUNs the command writes (a batch prints one error line per failed GUN, plus a summary).
    guns: tuple[str, ...]
    #: extra set-up of the pristine tree, as offtrust commands run in it.
    setup: tuple[tuple[str, ...], ...] = ()
    server_keys_for: tuple[str, ...] = ()

    @property
    def batch(self) -> bool:
        return len(self.guns) > 1


_STAGE_TOOLS = (*D, "target", "add", GUN_TOOLS, "v1.1", "--digest", _digest("1"), "--size", "11")
_STAGE_APP = (*D, "target", "add", GUN_APP, "v1.1", "--digest", _digest("3"), "--size", "33")

#: Every pristine tree has a staged edit of example.com/tools, so ``stage`` has
#: something to pack for a GUN the command does not touch.
SCENARIOS = {
    s.name: s
    for s in (
        Scenario(
            "key-generate",
            [*D, "key", "generate", "carol", "--dir", "out"],
            recovery=[*D, "key", "generate", "carolr", "--dir", "out"],
            guns=(),
            setup=(_STAGE_TOOLS,),
        ),
        Scenario(
            "signer-add",
            [*D, "signer", "add", "dave", GUN_APP, *NEW_GUNS, "--key", "out/dave.pub"],
            recovery=[*D, "signer", "add", "dave", GUN_APP, *NEW_GUNS, "--key", "out/dave.pub"],
            guns=(GUN_APP, *NEW_GUNS),
            setup=(_STAGE_TOOLS, (*D, "key", "generate", "dave", "--dir", "out")),
            server_keys_for=NEW_GUNS,
        ),
        Scenario(
            "target-add",
            [*D, "target", "add", GUN_TOOLS, "v2", "--digest", _digest("2"), "--size", "222"],
            recovery=[
                *D,
                "target",
                "add",
                GUN_TOOLS,
                "v2",
                "--digest",
                _digest("2"),
                "--size",
                "222",
            ],
            guns=(GUN_TOOLS,),
            setup=(_STAGE_TOOLS, _STAGE_APP),
        ),
        Scenario(
            "resign",
            [*D, "resign", GUN_APP],
            recovery=[*D, "resign", GUN_APP],
            guns=(GUN_APP,),
            setup=(_STAGE_TOOLS,),
        ),
        Scenario(
            "stage",
            [*D, "stage", "--output", "out/ceremony.bundle"],
            recovery=[*D, "stage", "--output", "out/ceremony.bundle"],
            guns=(),
            setup=(
                _STAGE_TOOLS,
                _STAGE_APP,
                # The old bundle at the output path: the app only.
                (*D, "stage", GUN_APP, "--output", "out/ceremony.bundle"),
            ),
        ),
    )
}


class SetupError(RuntimeError):
    """The suite could not build a scenario: not an invariant failure."""


def _must(run: Run) -> Run:
    if run.rc != 0:
        raise SetupError(f"set-up command failed: {run.describe()}")
    return run


@dataclass
class Reference:
    scenario: Scenario
    pristine: Path
    old_tree: Tree
    known: set[str]
    old_paths: set[str]
    old: Logical
    new: Logical
    new_paths: set[str]
    new_tree: Tree
    recovered_paths: set[str]
    baseline_errors: set[tuple[str, str, str]]
    #: seconds of an uninterrupted run through the fork server (median of 5).
    runtime: float
    new_guns_keys: dict[str, Counter[tuple[str, str, str]]] = field(default_factory=dict)

    @property
    def out_new(self) -> dict[str, bytes]:
        return {
            p: n.data
            for p, n in self.new_tree.items()
            if p.startswith("out/") and n.data is not None
        }


def build_pristine(scenario: Scenario, base: Path, runner: ForkServer) -> Path:
    pristine = base / "pristine"
    if pristine.exists():
        shutil.rmtree(pristine)
    pristine.mkdir(parents=True)
    copy_example(pristine / "trust")
    (pristine / "out").mkdir(mode=0o700)
    for gun in scenario.server_keys_for:
        # What `offtrust fetch` records for a GUN the server does not know yet
        # (offtrust/server/<gun>/<role>.key.json), so signer add initialises it.
        directory = pristine / "trust" / "offtrust" / "server" / gun
        directory.mkdir(mode=0o700, parents=True)
        for parent in [directory, *directory.parents][: len(gun.split("/")) + 2]:
            parent.chmod(0o700)
        for role, seed in (("timestamp", 3), ("snapshot", 2)):
            key = json.dumps(ed25519_key(seed).public_key().to_dict(), sort_keys=True) + "\n"
            (directory / f"{role}.key.json").write_text(key)
            (directory / f"{role}.key.json").chmod(0o600)
    for argv in scenario.setup:
        _must(runner.run(list(argv), pristine))
    return pristine


def stage_check(runner: ForkServer, work: Path, scratch: Path) -> Run:
    bundle = scratch / "check.bundle"
    bundle.unlink(missing_ok=True)
    return runner.run([*D, "stage", "--output", str(bundle)], work)


def build_reference(scenario: Scenario, base: Path, runner: ForkServer) -> Reference:
    pristine = build_pristine(scenario, base, runner)
    work, scratch = base / "ref-work", base / "ref-scratch"
    scratch.mkdir(exist_ok=True)
    old_tree = snapshot(pristine)
    known = known_strings(old_tree)
    old = logical_state(pristine / "trust", known)
    restore(pristine, work)
    verify = runner.run([*D, "verify", "--all", "--json"], work)
    baseline_errors, trouble = verify_errors(verify)
    if trouble:
        raise SetupError(f"verify of the pristine tree: {trouble}")
    old_stage = stage_check(runner, work, scratch)

    news: list[Logical] = []
    new_paths: set[str] = set()
    times = []
    new_tree: Tree = {}
    for _ in range(5):
        restore(pristine, work)
        run = _must(runner.run(scenario.argv, work))
        times.append(run.elapsed)
        new_tree = snapshot(work)
        new_paths |= path_set(new_tree, known)
        news.append(logical_state(work / "trust", known))
    if any(n != news[0] for n in news[1:]):
        diffs = [
            f"{g}: {news[0].gun_summary(g)} / {n.gun_summary(g)}"
            for n in news[1:]
            for g in n.guns
            if n.guns.get(g) != news[0].guns.get(g)
        ]
        raise SetupError(
            f"{scenario.name}: two clean runs differ after normalization "
            f"(a flaw of the suite): {diffs or 'keys differ'}"
        )
    new = news[0]
    new_stage = stage_check(runner, work, scratch)
    for when, run in (("old", old_stage), ("new", new_stage)):
        if run.rc != 0:
            # Every pristine tree has staged edits: stage must work before and after.
            raise SetupError(f"{scenario.name}: stage refuses the {when} tree: {run.describe()}")
    new_paths |= DESIGNED_PATHS
    # Where a recovery run may leave the tree: after a complete run, and alone.
    _must(runner.run(scenario.recovery, work))
    recovered = path_set(snapshot(work), known)
    restore(pristine, work)
    _must(runner.run(scenario.recovery, work))
    recovered |= path_set(snapshot(work), known)
    shutil.rmtree(work)

    added = new.keys - old.keys
    new_guns_keys = {
        gun: Counter({k: c for k, c in added.items() if k[2] == gun})
        for gun in new.guns
        if new.guns[gun] != old.guns.get(gun)
    }
    return Reference(
        scenario=scenario,
        pristine=pristine,
        old_tree=old_tree,
        known=known,
        old_paths=path_set(old_tree, known),
        old=old,
        new=new,
        new_paths=new_paths,
        new_tree=new_tree,
        recovered_paths=recovered | new_paths,
        baseline_errors=baseline_errors,
        runtime=statistics.median(times),
        new_guns_keys=new_guns_keys,
    )


# -- invariants -------------------------------------------------------------------------------


@dataclass
class Finding:
    invariant: str
    detail: str
    #: a note is reported in the summary but fails nothing.
    note: bool = False


def check_keys(trust: Path) -> list[Finding]:
    """Every key file under ``private/`` decrypts to the key its name says."""
    from offtrust.errors import OfftrustError
    from offtrust.store.keystore import KeyStore
    from offtrust.store.layout import TrustDir

    findings = []
    store = KeyStore(TrustDir(trust))
    private = trust / "private"
    for path in sorted(private.rglob("*")) if private.is_dir() else []:
        rel = path.relative_to(trust).as_posix()
        if path.is_dir() or is_hidden(path.relative_to(private).as_posix()):
            continue
        m = re.fullmatch(r"([0-9a-f]{64})\.key", path.name)
        if m is None or path.parent != private:
            findings.append(Finding("keys", f"{rel}: not a key file of the flat layout"))
            continue
        try:
            store.load(m.group(1), passphrase_source())
        except OfftrustError as e:
            findings.append(Finding("keys", f"{rel} does not decrypt: {e.message}"))
        except Exception as e:  # noqa: BLE001
            findings.append(Finding("keys", f"{rel}: loading it raised {e!r}"))
    return findings


def check_clean_refusal(run: Run, guns: Iterable[str], *, codes: tuple[int, ...]) -> list[Finding]:
    """A failed command: expected exit status, one error line (per failed GUN in a batch)."""
    findings = []
    n_guns = len(tuple(guns))
    lines = run.error_lines
    most = n_guns + 1 if n_guns > 1 else 1
    if run.has_traceback:
        findings.append(Finding("clean-refusal", f"traceback: {run.describe()}"))
    if run.rc not in codes:
        findings.append(Finding("clean-refusal", f"expected exit {codes}: {run.describe()}"))
    if not 1 <= len(lines) <= most:
        findings.append(
            Finding(
                "clean-refusal",
                f"{len(lines)} `{ERROR_PREFIX}` lines (expected 1"
                + (f" to {most}" if most > 1 else "")
                + f"): {run.describe()}",
            )
        )
    return findings


def check_readers(
    ref: Reference, runner: ForkServer, work: Path, scratch: Path, after: Logical
) -> list[Finding]:
    """``verify --all`` finds no new error; ``stage`` works or refuses cleanly, as expected."""
    findings = []
    verify = runner.run([*D, "verify", "--all", "--json"], work)
    errors, trouble = verify_errors(verify)
    if verify.timed_out:
        findings.append(Finding("hang", verify.describe()))
    elif trouble:
        findings.append(Finding("verify", trouble))
    new_errors = errors - ref.baseline_errors
    if new_errors:
        shown = "; ".join(f"{g}: {r}: {why}" for g, r, why in sorted(new_errors)[:4])
        findings.append(Finding("verify", f"verify --all exit {verify.rc}: {shown}"))

    stage = stage_check(runner, work, scratch)
    staged_guns = [
        g for g, v in after.guns.items() if v[0] not in ("unloadable", "crashed") and v[1]
    ]
    every_gun_old_or_new = all(
        after.guns.get(g) in (ref.old.guns.get(g), ref.new.guns.get(g))
        for g in set(after.guns) | set(ref.old.guns) | set(ref.new.guns)
    )
    if stage.timed_out:
        findings.append(Finding("hang", stage.describe()))
    elif stage.rc != 0:
        findings += [
            Finding("stage", f"refused uncleanly: {f.detail}")
            for f in check_clean_refusal(stage, (), codes=(1, 2))
        ]
        if (scratch / "check.bundle").exists():
            findings.append(Finding("stage", "a refused stage left its output file"))
        if staged_guns and every_gun_old_or_new:
            findings.append(
                Finding(
                    "stage",
                    f"refused although {', '.join(sorted(staged_guns))} has valid staged edits: "
                    f"{_tail(stage.stderr)}",
                )
            )
    elif stage.has_traceback:
        findings.append(Finding("stage", f"traceback: {stage.describe()}"))
    return findings


def check_old_or_new(ref: Reference, after: Logical, tree: Tree) -> list[Finding]:
    """Per GUN the old or the new state; keys between old and new; outputs whole."""
    findings = []
    for gun in sorted(set(after.guns) | set(ref.old.guns) | set(ref.new.guns)):
        value = after.guns.get(gun)
        if value in (ref.old.guns.get(gun), ref.new.guns.get(gun)):
            continue
        findings.append(
            Finding(
                "old-or-new",
                f"{gun} is neither the old nor the new state: now {after.gun_summary(gun)}; "
                f"old {ref.old.gun_summary(gun)}; new {ref.new.gun_summary(gun)}",
            )
        )
    if not ref.old.keys <= after.keys:
        lost = sorted((ref.old.keys - after.keys).elements())
        findings.append(Finding("lost-key", f"keys of the old state are gone: {lost}"))
    if not after.keys <= ref.new.keys:
        extra = sorted((after.keys - ref.new.keys).elements())
        findings.append(Finding("old-or-new", f"keys neither old nor new: {extra}"))
    for gun, needed in ref.new_guns_keys.items():
        if after.guns.get(gun) == ref.new.guns.get(gun) and not needed <= after.keys:
            missing = sorted((needed - after.keys).elements())
            findings.append(
                Finding(
                    "lost-key", f"{gun} is in its new state but its new keys are missing: {missing}"
                )
            )

    # Files outside the trust dir (out/): each the old bytes, or a whole new file.
    out_paths = {p for p in set(tree) | set(ref.old_tree) if p.startswith("out/")}
    for path in sorted(out_paths):
        node, old_node = tree.get(path), ref.old_tree.get(path)
        if node == old_node or (node is not None and node.kind == "dir"):
            continue
        if is_hidden(path):
            continue  # debris: see check_debris
        if node is None:
            findings.append(Finding("old-or-new", f"{path} was removed"))
            continue
        if path.endswith(".pub"):
            findings += _check_public_key_file(path, node)
        elif path in ref.out_new and node.data != ref.out_new[path]:
            size = len(node.data or b"")
            findings.append(
                Finding(
                    "old-or-new",
                    f"{path} ({size} B) is neither the old ("
                    f"{len((old_node.data or b'') if old_node else b'')} B) nor the new "
                    f"({len(ref.out_new[path])} B) file",
                )
            )
    return findings


def _check_public_key_file(path: str, node: Node) -> list[Finding]:
    """A whole public key (which private key it needs: see :func:`check_pub_has_private`)."""
    from offtrust import crypto
    from offtrust.errors import OfftrustError

    try:
        crypto.load_public_key_pem(node.data or b"")
    except OfftrustError as e:
        return [Finding("old-or-new", f"{path} is not a whole public key ({e.message})")]
    return []


def check_pub_has_private(tree: Tree) -> list[Finding]:
    """A public key written for a new key must have its private key in the trust dir."""
    from offtrust import crypto
    from offtrust.errors import OfftrustError

    findings = []
    for path, node in sorted(tree.items()):
        if not (path.startswith("out/") and path.endswith(".pub") and node.kind == "file"):
            continue
        try:
            keyid = crypto.load_public_key_pem(node.data or b"").keyid
        except OfftrustError:
            continue  # reported by check_old_or_new
        if f"trust/private/{keyid}.key" not in tree:
            findings.append(
                Finding("lost-key", f"{path} is written but private/{keyid[:12]}….key is not")
            )
    return findings


def check_debris(ref: Reference, tree: Tree) -> list[Finding]:
    """Paths in neither the old nor the new tree must be hidden (a name starting with a dot).

    Hidden ones are the store's own crash leftovers, which readers ignore; the
    re-run in :func:`check_after_kill` must then remove those in the trust dir.
    """
    extra = path_set(tree, ref.known) - ref.old_paths - ref.new_paths
    visible = sorted(p for p in extra if not is_hidden(p))
    if visible:
        return [Finding("visible-debris", f"left visible to readers: {visible[:8]}")]
    return []


def check_after_kill(
    ref: Reference, runner: ForkServer, work: Path, scratch: Path, run: Run
) -> tuple[list[Finding], Tree]:
    """Every invariant on the tree a killed (or completed) command left."""
    findings: list[Finding] = []
    if run.timed_out:
        return [Finding("hang", run.describe())], snapshot(work)
    if not run.killed and run.rc != 0:
        findings.append(Finding("completed-run", f"an uninterrupted run failed: {run.describe()}"))
    tree = snapshot(work)
    after = logical_state(work / "trust", ref.known)
    findings += check_keys(work / "trust")
    findings += check_old_or_new(ref, after, tree)
    findings += check_pub_has_private(tree)
    findings += check_debris(ref, tree)
    findings += check_readers(ref, runner, work, scratch, after)
    # Recovery: the same command again works and removes what the crash left.
    recovery = runner.run(ref.scenario.recovery, work)
    if recovery.timed_out:
        findings.append(Finding("hang", f"recovery run: {recovery.describe()}"))
    elif recovery.rc != 0:
        findings.append(
            Finding("recovery", f"the command fails after the crash: {recovery.describe()}")
        )
    else:
        left = path_set(snapshot(work), ref.known) - ref.recovered_paths
        in_trust = sorted(p for p in left if p.startswith("trust/"))
        outside = sorted(p for p in left if not p.startswith("trust/"))
        if in_trust:
            findings.append(
                Finding(
                    "debris-not-cleaned",
                    f"in the trust dir after a successful re-run: {in_trust[:8]}",
                )
            )
        if outside:
            # Hidden temp files next to a user-named output: ignored by every
            # reader, and not offtrust's to delete. Counted, not failed.
            findings.append(Finding("output-temp-left", f"{outside[:4]}", note=True))
    return findings, tree


# -- reporting -------------------------------------------------------------------------------


@dataclass
class Failure:
    scenario: str
    mode: str
    iteration: int
    run: str
    invariant: str
    detail: str
    diff_vs_old: list[str]
    saved: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Campaign:
    """Results of one kill campaign (one command, one runner)."""

    scenario: str
    mode: str
    runtime: float
    kills: int = 0
    completed: int = 0
    attempts: int = 0
    seconds: float = 0.0
    failures: list[Failure] = field(default_factory=list)
    delays_killed: list[float] = field(default_factory=list)
    notes: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        spread = (
            f"kill delays {min(self.delays_killed):.3f}-{max(self.delays_killed):.3f} s"
            if self.delays_killed
            else "no kill landed"
        )
        notes = "".join(f", note: {name} ×{n}" for name, n in sorted(self.notes.items()))
        return (
            f"{self.scenario} ({self.mode}): {self.kills} kills, {self.completed} runs completed "
            f"before the kill, clean run {self.runtime:.3f} s, {spread}, {self.seconds:.1f} s"
            f"{notes}"
        )


def keep_failed_tree(work: Path, dest: Path) -> str:
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(work, dest, symlinks=True)
    return str(dest)


def format_failures(failures: list[Failure], header: str, report: Path | None, per: int = 2) -> str:
    """Failures grouped by invariant: counts, then a few examples with their tree diff."""
    by: dict[str, list[Failure]] = {}
    for f in failures:
        by.setdefault(f.invariant, []).append(f)
    lines = [header, ""]
    lines.append(
        "invariants broken: " + ", ".join(f"{name} ×{len(fs)}" for name, fs in sorted(by.items()))
    )
    for name, fs in sorted(by.items()):
        lines.append("")
        lines.append(f"== {name} ({len(fs)} time(s); first {min(per, len(fs))} shown)")
        for f in fs[:per]:
            lines.append(f"- [{f.scenario}, {f.mode}, #{f.iteration}] {f.run}")
            lines.append(f"  {f.detail}")
            if f.diff_vs_old:
                lines.append("  tree vs old state:")
                lines += [f"    {d}" for d in f.diff_vs_old]
            if f.saved:
                lines.append(f"  tree kept in {f.saved}")
    if report is not None:
        lines += ["", f"every failure: {report}"]
    return "\n".join(lines)


def write_report(path: Path, campaigns: Iterable[Campaign]) -> None:
    data = [
        {
            "scenario": c.scenario,
            "mode": c.mode,
            "summary": c.summary(),
            "failures": [f.to_dict() for f in c.failures],
        }
        for c in campaigns
    ]
    path.write_text(json.dumps(data, indent=2))


def run_campaign(
    ref: Reference,
    runner: ForkServer | SubprocessRunner,
    checker: ForkServer,
    base: Path,
    *,
    kills: int,
    runtime: float,
) -> Campaign:
    """Kill *ref*'s command *kills* times at random moments in [0, *runtime*]; check each time."""
    scenario = ref.scenario
    campaign = Campaign(scenario.name, runner.name, runtime)
    rng = random.Random(f"{SEED}/{scenario.name}/{runner.name}")
    work, scratch, kept = base / "work", base / "scratch", base / "failed"
    scratch.mkdir(parents=True, exist_ok=True)
    # Delays stratified over [0, runtime] (one per slice, shuffled), then uniform.
    planned = [(i + rng.random()) * runtime / kills for i in range(kills)]
    rng.shuffle(planned)
    start = time.monotonic()
    saved_per_invariant: Counter[str] = Counter()
    hangs = 0
    while campaign.kills < kills and campaign.attempts < 4 * kills:
        if time.monotonic() - start > CAMPAIGN_BUDGET:
            break
        campaign.attempts += 1
        delay = planned.pop() if planned else rng.uniform(0, runtime)
        restore(ref.pristine, work)
        run = runner.run(scenario.argv, work, kill_after=delay)
        if run.killed:
            campaign.kills += 1
            campaign.delays_killed.append(delay)
        elif not run.timed_out:
            campaign.completed += 1
        findings, tree = check_after_kill(ref, checker, work, scratch, run)
        diff = diff_trees(ref.old_tree, tree)
        for finding in findings:
            if finding.note:
                campaign.notes[finding.invariant] += 1
                continue
            saved = None
            if saved_per_invariant[finding.invariant] < 2:
                saved_per_invariant[finding.invariant] += 1
                saved = keep_failed_tree(work, kept / f"{finding.invariant}-{campaign.attempts}")
            campaign.failures.append(
                Failure(
                    scenario.name,
                    runner.name,
                    campaign.attempts,
                    run.describe(),
                    finding.invariant,
                    finding.detail,
                    diff,
                    saved,
                )
            )
        if run.timed_out or any(f.invariant == "hang" for f in findings):
            hangs += 1
            if hangs >= 2:
                break
    campaign.seconds = time.monotonic() - start
    return campaign


def measure(runner: ForkServer | SubprocessRunner, ref: Reference, base: Path, times: int) -> float:
    """The median of *times* uninterrupted runs, in seconds."""
    work = base / "work"
    elapsed = []
    for _ in range(times):
        restore(ref.pristine, work)
        elapsed.append(_must(runner.run(ref.scenario.argv, work)).elapsed)
    return statistics.median(elapsed)


# -- mounts (ENOSPC, read-only) --------------------------------------------------------------


def need_privilege(reason: str) -> None:
    """Skip locally, fail under CI=true: CI runs as root and must run these tests."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: the crash suite must run in CI)", pytrace=False)
    pytest.skip(reason)


class Mounts:
    """Mount helpers that remember what to undo."""

    def __init__(self) -> None:
        self.points: list[Path] = []

    def _mount(self, *args: str) -> None:
        done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            need_privilege(f"cannot mount ({' '.join(args)}): {done.stderr.strip()}")

    def tmpfs(self, point: Path, *, size: int, inodes: int) -> None:
        if os.geteuid() != 0:
            need_privilege("mounting a small tmpfs needs root")
        point.mkdir(parents=True, exist_ok=True)
        self._mount(
            "-t", "tmpfs", "-o", f"size={size},nr_inodes={inodes},mode=0700", "tmpfs", str(point)
        )
        self.points.append(point)

    def read_only(self, path: Path) -> None:
        """Make *path* read-only for this process, root included (bind mount; chmod otherwise)."""
        if os.geteuid() != 0:
            path.chmod(0o500)
            return
        self._mount("--bind", str(path), str(path))
        self.points.append(path)
        self._mount("-o", "remount,bind,ro", str(path))

    def undo(self, path: Path) -> None:
        if path in self.points:
            self.points.remove(path)
            _umount(path)
        elif os.geteuid() != 0 and path.exists():
            path.chmod(0o700)

    def undo_all(self) -> None:
        while self.points:
            _umount(self.points.pop())


def _umount(point: Path) -> None:
    done = subprocess.run(["umount", str(point)], capture_output=True, check=False)
    if done.returncode != 0:
        subprocess.run(["umount", "-l", str(point)], capture_output=True, check=False)


# -- outcomes of a command that may fail (ENOSPC, read-only) ----------------------------------

NO_SPACE = re.compile(r"space|full", re.IGNORECASE)
READ_ONLY = re.compile(r"read-only|permission|denied|not writable", re.IGNORECASE)


def check_outcome(
    ref: Reference,
    checker: ForkServer,
    work: Path,
    scratch: Path,
    run: Run,
    before: Tree,
    *,
    codes: tuple[int, ...],
    cause: re.Pattern[str],
) -> list[Finding]:
    """A command that ran to its end under adverse conditions (now lifted).

    Success: the whole new state and no debris. Failure: the expected exit
    status, one clear error line naming *cause* (one per failed GUN in a batch),
    and nothing changed (byte for byte; in a batch that partly succeeded, the
    failed GUNs unchanged). Either way keys decrypt, ``verify`` finds nothing
    new and ``stage`` still packs what is staged.
    """
    if run.timed_out:
        return [Finding("hang", run.describe())]
    tree = snapshot(work)
    after = logical_state(work / "trust", ref.known)
    findings = check_keys(work / "trust") + check_pub_has_private(tree)
    if run.rc == 0:
        findings += check_old_or_new(ref, after, tree)
        for gun in sorted(ref.new.guns):
            if after.guns.get(gun) != ref.new.guns[gun]:
                findings.append(
                    Finding(
                        "old-or-new",
                        f"{gun}: the command succeeded but left {after.gun_summary(gun)}; "
                        f"new {ref.new.gun_summary(gun)}",
                    )
                )
        extra = sorted(path_set(tree, ref.known) - ref.new_paths)
        if extra:
            findings.append(Finding("debris", f"a successful run left: {extra[:8]}"))
    else:
        findings += check_clean_refusal(run, ref.scenario.guns, codes=codes)
        if run.error_lines and not any(cause.search(line) for line in run.error_lines):
            findings.append(
                Finding("clean-refusal", f"the error does not name the cause: {run.describe()}")
            )
        failed = [g for g in ref.scenario.guns if any(g in line for line in run.error_lines)]
        if ref.scenario.batch and 0 < len(failed) < len(ref.scenario.guns):
            findings += check_old_or_new(ref, after, tree)
            for gun in failed:
                if after.guns.get(gun) != ref.old.guns.get(gun):
                    findings.append(
                        Finding(
                            "changed-on-failure",
                            f"{gun} failed but is now {after.gun_summary(gun)}",
                        )
                    )
            extra = sorted(path_set(tree, ref.known) - ref.old_paths - ref.new_paths)
            if extra:
                findings.append(Finding("debris", f"the failed command left: {extra[:8]}"))
        else:
            diff = diff_trees(before, tree)
            if diff:
                findings.append(
                    Finding(
                        "changed-on-failure",
                        f"the failed command changed {len(diff)} path(s) (tree diff below)",
                    )
                )
    findings += check_readers(ref, checker, work, scratch, after)
    return findings


def failures_of(
    findings: Iterable[Finding], scenario: str, mode: str, iteration: int, run: Run, diff: list[str]
) -> list[Failure]:
    return [
        Failure(scenario, mode, iteration, run.describe(), f.invariant, f.detail, diff)
        for f in findings
        if not f.note
    ]


def tree_pages(tree: Tree) -> int:
    """4 KiB pages the files of *tree* take on a tmpfs."""
    return sum(-(-len(n.data) // PAGE) for n in tree.values() if n.kind == "file" and n.data)
