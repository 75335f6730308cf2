#!/usr/bin/env python3
"""offtrust side by side with notary and docker trust, on the same data.

    python3 benchmarks/bench.py                 # full sizes, writes benchmarks/RESULTS.md
    python3 benchmarks/bench.py --quick         # small sizes, a smoke run (a few seconds)
    python3 benchmarks/bench.py --rounds 7 --only verify100k --only inspect100k
    nox -s bench -- --rounds 5

Data (under ``--data``, default ``$XDG_CACHE_HOME/offtrust-bench`` or
``~/.cache/offtrust-bench``):

- key stores of 2,000 and 20,000 encrypted keys exactly as notary writes them
  (PKCS#8 PBES2, PBKDF2-HMAC-SHA1 2048 rounds, AES-256-CBC, ``role``/``gun``
  headers; ``notary key list`` must list every one of them). Cached.
- a Docker GUN with 5,000 and one with 100,000 tags: ``docker trust signer
  add`` (root and targets keys local, snapshot kept by the server), then one
  ``notary publish`` of a changelist holding every tag (the entries ``notary
  addhash -r targets/releases`` writes), then ``notary list`` fills the cache.
- per round, 200 GUNs in one Docker config where ``docker trust signer add
  alice`` made the repository and alice's key signed one tag.

Everything that lives on a server is made again at each run: notary-server
(memory store, local signer, TLS, 127.0.0.1 only; the test harness's
``tests/interop/realtools.py``) keeps its timestamp keys in memory, so its
data cannot outlive the process.

offtrust runs from a venv that sees this checkout and the packages of the
Python running the benchmark, as a ``pip install`` of the wheel would leave it
(``install_venv``), not through an editable install: the development
machine's own start-up hooks are not part of offtrust's start-up.

Each row runs offtrust and the real tool alternately (a, b, a, b, ...) after
one untimed warm-up of each, and prints the median, the min-max, the ratio of
the medians (offtrust / real tool) and the peak resident memory of the child
(``ru_maxrss`` from ``os.wait4``). The table goes to ``--results`` (default
``benchmarks/RESULTS.md``; with ``--quick``, ``<data>/RESULTS-quick.md``)
with the machine, date, versions and the command used, and the host's speed
before and after the timing (``host_speed``: a fixed Python loop on every CPU
at once; shared hosts drift, and a slow one moves the ratios against
offtrust, whose start-up and work are Python). Not a pass/fail test.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "interop"))

import realtools as rt  # noqa: E402  (the test harness: server, hermetic tool runs)

#: Throwaway passphrase of the generated key stores (benchmark data only).
KEY_PASSPHRASE = "offtrust-bench-passphrase"
PASSPHRASES = rt.DOCKER_PASSPHRASES  # TEST-ONLY values of the harness
SIGNER = "alice"


@dataclass(frozen=True)
class Sizes:
    keys_small: int
    keys_large: int
    tags_small: int
    tags_large: int
    guns: int


FULL = Sizes(keys_small=2_000, keys_large=20_000, tags_small=5_000, tags_large=100_000, guns=200)
QUICK = Sizes(keys_small=20, keys_large=200, tags_small=50, tags_large=500, guns=3)


@dataclass
class Sample:
    seconds: float
    peak_kb: int
    code: int


@dataclass
class Side:
    """One column of a row: how to run it, and what it measured."""

    name: str
    run: Callable[[int], Sample]
    samples: list[Sample] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def low(self) -> float:
        return min(s.seconds for s in self.samples)

    @property
    def high(self) -> float:
        return max(s.seconds for s in self.samples)

    @property
    def peak_mb(self) -> float:
        return max(s.peak_kb for s in self.samples) / 1024

    @property
    def failures(self) -> int:
        return sum(1 for s in self.samples if s.code != 0)


@dataclass
class Row:
    key: str
    work: str
    ours: Side
    theirs: Side
    #: ("ratio", 0.3): offtrust/real tool at most 0.3; ("seconds", 0.15): absolute.
    target: tuple[str, float]
    #: Peak memory target of offtrust in MB, if any.
    memory_mb: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.ours.median / self.theirs.median if self.theirs.median else float("inf")

    def target_text(self) -> str:
        kind, value = self.target
        text = f"<= {value:g}x" if kind == "ratio" else f"<= {value:g} s"
        if self.memory_mb is not None:
            text += f", <= {self.memory_mb:g} MB"
        return text

    def met(self) -> bool:
        kind, value = self.target
        ok = self.ratio <= value if kind == "ratio" else self.ours.median <= value
        if self.memory_mb is not None:
            ok = ok and self.ours.peak_mb <= self.memory_mb
        return ok and not self.ours.failures and not self.theirs.failures


# --------------------------------------------------------------------------- #
# Running and measuring one child
# --------------------------------------------------------------------------- #


#: GNU time: a small parent for the measured command. Linux carries a process's
#: peak RSS across fork and exec, so a child forked straight from this (large)
#: Python process would report at least this process's own RSS.
GNU_TIME = shutil.which("time", path="/usr/bin:/bin")


def measure(argv: Sequence[str], env: dict[str, str], *, stdin: bytes = b"") -> Sample:
    """Run *argv* once: wall-clock seconds, peak RSS (KiB) of the child, exit code.

    The peak comes from GNU time's ``%M`` (the command's own ``ru_maxrss``),
    else from ``os.wait4`` on the child (then at least this process's RSS).
    """
    report = None
    if GNU_TIME:
        import tempfile

        fd, report = tempfile.mkstemp(prefix="offtrust-bench-rss-")
        os.close(fd)
        argv = [GNU_TIME, "-f", "%M", "-o", report, "--", *argv]
    start = time.perf_counter()
    proc = subprocess.Popen(
        list(argv),
        env=env,
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.write(stdin)
        proc.stdin.close()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    peak = int(usage.ru_maxrss)
    if report is not None:
        with contextlib.suppress(ValueError, IndexError):
            peak = int(Path(report).read_text().split()[-1])
        os.unlink(report)
    return Sample(seconds, peak, proc.returncode)


def combine(samples: Sequence[Sample]) -> Sample:
    """Several commands counted as one: times summed, the highest peak."""
    return Sample(
        sum(s.seconds for s in samples),
        max(s.peak_kb for s in samples),
        next((s.code for s in samples if s.code), 0),
    )


class Tools:
    """Command lines and environments for offtrust, notary and docker."""

    def __init__(self, work: Path, offtrust: Sequence[str]) -> None:
        self.home = work / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.offtrust = list(offtrust)
        self.server: rt.NotaryServer | None = None

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        base = {
            k: v
            for k, v in rt.tool_env(self.home).items()
            # An installed offtrust runs from compiled bytecode (main() compiles it).
            if not k.startswith("OFFTRUST_") and k != "PYTHONDONTWRITEBYTECODE"
        }
        return {**base, **PASSPHRASES.docker_env(), **PASSPHRASES.notary_env(), **(extra or {})}

    def ours(self, trust: Path, *args: str) -> list[str]:
        return [*self.offtrust, "-d", str(trust), *args]

    def notary(self, trust: Path, *args: str) -> list[str]:
        server = self.require_server()
        return ["notary", "-d", str(trust), "-s", server.url, "--tlscacert", str(server.ca_file),
                *args]  # fmt: skip

    def docker(self, config: Path, *args: str) -> tuple[list[str], dict[str, str]]:
        server = self.require_server()
        rt.install_docker_ca(config, server)
        env = self.env(
            {
                "DOCKER_CONFIG": str(config),
                "DOCKER_CONTENT_TRUST": "1",
                "DOCKER_CONTENT_TRUST_SERVER": server.url,
                "DOCKER_HOST": f"unix://{config}/no-engine.sock",
            }
        )
        return [*rt.docker_dns_isolation(), "docker", *args], env

    def require_server(self) -> rt.NotaryServer:
        if self.server is None:
            raise RuntimeError("notary-server is not running")
        return self.server

    def check(self, argv: Sequence[str], env: dict[str, str] | None = None,
              input: str = "") -> str:  # fmt: skip
        return rt.run_tool(argv, env=env or self.env(), input=input, timeout=3600).stdout


# --------------------------------------------------------------------------- #
# Data
# --------------------------------------------------------------------------- #


def build_key_store(trust: Path, count: int, tools: Tools) -> None:
    """*count* encrypted ECDSA keys written as notary writes them (cached by a marker)."""
    marker = trust / ".bench-complete"
    if marker.is_file():
        return
    from offtrust import crypto  # only for the bytes: notary's PKCS#8 PBES2 writer

    shutil.rmtree(trust, ignore_errors=True)
    private = trust / "private"
    private.mkdir(parents=True, mode=0o700)
    trust.chmod(0o700)
    for i in range(count):
        # A Docker user's store: one root key, per repository a targets key
        # (gun header), and signer keys (role = signer name, no gun header).
        if i == 0:
            headers = {"role": "root"}
        elif i % 3 == 1:
            headers = {"gun": f"example.com/team{i % 50}/app{i}", "role": "targets"}
        else:
            headers = {"role": f"signer{i % 40}"}
        key = crypto.generate_private_key("ecdsa")
        data = crypto.encode_private_key(key, KEY_PASSPHRASE, headers)
        path = private / f"{key.keyid}.key"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    listed = tools.check(["notary", "-d", str(trust), "key", "list"])
    # One row per key, each naming its 64-hex key ID (long locations are shortened).
    found = len(set(re.findall(r"\b[0-9a-f]{64}\b", listed)))
    if found < count:
        raise RuntimeError(f"notary key list shows {found} of the {count} keys of {trust}")
    marker.write_text(json.dumps({"keys": count}))


def _changelist_entry(gun: str, tag: str, role: str) -> bytes:
    """The change file ``notary addhash GUN TAG SIZE --sha256 HEX -r ROLE`` writes.

    sha256 only, as ``docker trust sign`` records an image manifest.
    """
    content = f"{gun}:{tag}".encode()
    meta = {
        "length": len(content),
        "hashes": {"sha256": base64.b64encode(hashlib.sha256(content).digest()).decode()},
    }
    data = base64.b64encode(json.dumps(meta, separators=(",", ":")).encode()).decode()
    change = {"action": "create", "role": role, "type": "target", "path": tag, "data": data}
    return json.dumps(change, separators=(",", ":")).encode()


def write_changelist(trust: Path, gun: str, tags: Sequence[str], role: str) -> None:
    folder = trust / "tuf" / gun / "changelist"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.time_ns()
    for i, tag in enumerate(tags):
        name = f"{stamp + i:020d}_{uuid.uuid4()}.change"
        fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(_changelist_entry(gun, tag, role))


def tag_names(count: int) -> list[str]:
    return [f"1.{i // 1000}.{i % 1000}" for i in range(count)]


def build_tagged_gun(work: Path, gun: str, count: int, tools: Tools) -> Path:
    """A Docker repository with alice as signer and *count* tags; returns its trust dir."""
    config = work / "docker"
    keys = work / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    argv, env = tools.docker(config, "trust", "key", "generate", SIGNER, "--dir", str(keys))
    tools.check(argv, env)
    argv, env = tools.docker(
        config, "trust", "signer", "add", SIGNER, gun, "--key", str(keys / f"{SIGNER}.pub")
    )
    tools.check(argv, env)
    trust = config / "trust"
    write_changelist(trust, gun, tag_names(count), "targets/releases")
    tools.check(tools.notary(trust, "publish", gun))
    listed = tools.check(tools.notary(trust, "list", gun))
    if sum(1 for line in listed.splitlines() if "targets/releases" in line) != count:
        raise RuntimeError(f"notary list {gun} does not show the {count} tags")
    return trust


def build_signer_set(work: Path, prefix: str, count: int, tools: Tools) -> tuple[Path, list[str]]:
    """*count* GUNs in one Docker config, each made by ``docker trust signer add alice``
    and holding one tag alice signed; returns the trust dir and the GUNs."""
    config = work / "docker"
    keys = work / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    guns = [f"{prefix}/app{i}" for i in range(count)]
    argv, env = tools.docker(config, "trust", "key", "generate", SIGNER, "--dir", str(keys))
    tools.check(argv, env)
    argv, env = tools.docker(
        config, "trust", "signer", "add", SIGNER, *guns, "--key", str(keys / f"{SIGNER}.pub")
    )
    tools.check(argv, env)
    trust = config / "trust"
    for gun in guns:
        write_changelist(trust, gun, ["v1"], "targets/releases")
        tools.check(tools.notary(trust, "publish", gun))
    argv, env = tools.docker(config, "trust", "inspect", *guns)
    inspected = json.loads(tools.check(argv, env))
    if [len(entry["SignedTags"]) for entry in inspected] != [1] * count:
        raise RuntimeError(f"docker trust inspect does not show one signed tag per GUN: {work}")
    return trust, guns


# --------------------------------------------------------------------------- #
# Rows
# --------------------------------------------------------------------------- #

ROW_KEYS = (
    "keys2k",
    "keys20k",
    "inspect5k",
    "verify100k",
    "inspect100k",
    "help",
    "emptykeys",
    "signers",
)


def _fmt_count(n: int) -> str:
    return f"{n:,}"


def make_rows(sizes: Sizes, only: set[str], data: Path, work: Path, tools: Tools,
              rounds: int) -> list[Row]:  # fmt: skip
    rows: list[Row] = []
    env = tools.env()

    def simple(argv: list[str], env: dict[str, str] = env) -> Callable[[int], Sample]:
        return lambda _round: measure(argv, env)

    key_rows = (("keys2k", sizes.keys_small, 2.0), ("keys20k", sizes.keys_large, 0.8))
    for key, count, target in key_rows:
        if key not in only:
            continue
        trust = data / f"keys-{count}" / "trust"
        build_key_store(trust, count, tools)
        rows.append(
            Row(
                key,
                f"`key list --json`, {_fmt_count(count)} encrypted keys",
                Side("offtrust", simple(tools.ours(trust, "key", "list", "--json"))),
                Side("notary key list", simple(["notary", "-d", str(trust), "key", "list"])),
                ("ratio", target),
            )
        )

    gun_rows = [
        ("inspect5k", sizes.tags_small, "inspect", 2.0, None),
        ("verify100k", sizes.tags_large, "verify", 0.3, 200.0),
        ("inspect100k", sizes.tags_large, "inspect", 0.75, 400.0),
    ]
    built: dict[int, Path] = {}
    for key, count, command, target, memory in gun_rows:
        if key not in only:
            continue
        gun = f"example.com/bench/tags{count}"
        if count not in built:
            log(f"building {gun} ({_fmt_count(count)} tags) with docker trust + notary")
            built[count] = build_tagged_gun(work / f"tags-{count}", gun, count, tools)
        trust = built[count]
        rows.append(
            Row(
                key,
                f"`{command}` GUN, {_fmt_count(count)} tags",
                Side("offtrust", simple(tools.ours(trust, command, gun))),
                Side("notary list", simple(tools.notary(trust, "list", gun))),
                ("ratio", target),
                memory,
            )
        )

    empty = work / "empty-trust"
    empty.mkdir(parents=True, exist_ok=True, mode=0o700)
    notary_help = simple(["notary", "--help"])
    if "help" in only:
        rows.append(
            Row(
                "help",
                "`--help`",
                Side("offtrust", simple([*tools.offtrust, "--help"])),
                Side("notary --help", notary_help),
                ("seconds", 0.15),
            )  # fmt: skip
        )
    if "emptykeys" in only:
        rows.append(
            Row(
                "emptykeys",
                "`key list` on an empty store",
                Side("offtrust", simple(tools.ours(empty, "key", "list"))),
                Side("notary --help", notary_help),
                ("seconds", 0.15),
            )
        )

    if "signers" in only:
        rows.append(signer_row(sizes, work, tools, rounds))
    return rows


def signer_row(sizes: Sizes, work: Path, tools: Tools, rounds: int) -> Row:
    """``signer remove alice --all --yes`` + ``stage`` against docker, one GUN set per round.

    ``docker trust signer remove`` publishes at once, so every docker round
    needs GUNs the server still holds with alice; offtrust works on a copy of
    the same trust dir, made before it runs and not timed. Docker is answered
    ``y`` on stdin: with ``-f`` Docker 28.2.2 removes nothing (formats doc,
    pitfall 17), only the confirmed prompt does the work.
    """
    sets: list[tuple[Path, list[str]]] = []
    for r in range(rounds + 1):  # +1: the warm-up round
        log(f"building signer set {r + 1}/{rounds + 1} ({sizes.guns} GUNs) with docker trust")
        sets.append(
            build_signer_set(work / f"signers-{r}", f"example.com/bench/s{r}", sizes.guns, tools)
        )

    def ours(r: int) -> Sample:
        trust, _ = sets[r]
        copy = trust.parent.parent / "offtrust-copy" / "trust"
        if copy.exists():
            shutil.rmtree(copy.parent)
        rt.copy_trust_dir(trust, copy)
        # The copy is set-up, not the work timed: its dirty pages are written
        # out now, not by the first sync the timed command makes (offtrust's
        # one durability barrier syncs the file system).
        os.sync()
        env = tools.env()
        bundle = copy.parent / "signers.bundle"
        return combine(
            [
                measure(tools.ours(copy, "signer", "remove", SIGNER, "--all", "--yes"), env),
                measure(tools.ours(copy, "stage", "--output", str(bundle)), env),
            ]
        )

    def theirs(r: int) -> Sample:
        trust, guns = sets[r]
        samples = []
        for gun in guns:
            argv, env = tools.docker(trust.parent, "trust", "signer", "remove", SIGNER, gun)
            samples.append(measure(argv, env, stdin=b"y\n"))
        return combine(samples)

    return Row(
        "signers",
        f"`signer remove NAME --all --yes` + `stage`, {sizes.guns} GUNs",
        Side("offtrust", ours),
        Side("docker trust signer remove, per GUN summed", theirs),
        ("ratio", 0.1),
        note="docker answered y to its prompt (with -f it removes nothing)",
    )


def run_rows(rows: Sequence[Row], rounds: int) -> None:
    for row in rows:
        log(f"timing {row.key}: warm-up + {rounds} rounds, interleaved")
        # Round 0 is the untimed warm-up (file cache, first-run costs).
        row.ours.run(0)
        row.theirs.run(0)
        for r in range(1, rounds + 1):
            row.ours.samples.append(row.ours.run(r))
            row.theirs.samples.append(row.theirs.run(r))
        print(format_row(row), flush=True)


# --------------------------------------------------------------------------- #
# Output
# --------------------------------------------------------------------------- #

HEADER = (
    "| work | offtrust median (min-max) | offtrust peak | real tool | real tool median (min-max) "
    "| real tool peak | ratio | target | met |"
)
SEPARATOR = "|---|---|---|---|---|---|---|---|---|"


def format_row(row: Row) -> str:
    def cell(side: Side) -> str:
        failed = f" ({side.failures} failed)" if side.failures else ""
        return f"{side.median:.3f} s ({side.low:.3f}-{side.high:.3f}){failed}"

    return (
        f"| {row.work} | {cell(row.ours)} | {row.ours.peak_mb:.0f} MB | {row.theirs.name} "
        f"| {cell(row.theirs)} | {row.theirs.peak_mb:.0f} MB | {row.ratio:.2f}x "
        f"| {row.target_text()} | {'yes' if row.met() else 'no'} |"
    )


def _version(argv: Sequence[str]) -> str:
    try:
        out = subprocess.run(list(argv), capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return "unavailable"
    return " ".join((out.stdout or out.stderr).split())[:120] or "unknown"


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kb / 1024 / 1024:.1f} GiB RAM"
    return f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} CPUs{memory}"


def versions(tools: Tools) -> list[str]:
    from importlib import metadata

    def dist(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    return [
        f"offtrust: {_version([*tools.offtrust, '--version'])}",
        f"Python {platform.python_version()}; typer {dist('typer')}, jsonschema "
        f"{dist('jsonschema')}, orjson {dist('orjson')}, cryptography {dist('cryptography')}",
        f"notary: {_version(['notary', 'version'])}",
        f"docker: {_version(['docker', '--version'])}",
    ]


#: The host-speed probe: a fixed pure-Python loop, one per CPU at once.
SPEED_PROBE = (
    "import time\n"
    "t = time.perf_counter()\n"
    "i = 0\n"
    "for _ in range(10_000_000):\n"
    "    i += 1\n"
    "print(time.perf_counter() - t)"
)


def host_speed() -> list[float]:
    """Seconds the probe loop takes on each CPU, all run at once.

    The machines this runs on are shared: the same loop has taken 0.75 s and
    1.5 s on the same machine within an hour, and the two CPUs of one run
    have differed by 1.7x. Recorded before and after the timing so that runs
    can be compared; offtrust's start-up and work are pure Python, where the
    Go tools are not, so a slow host moves the ratios.
    """
    count = os.cpu_count() or 1
    probes = [
        subprocess.Popen([sys.executable, "-c", SPEED_PROBE], stdout=subprocess.PIPE, text=True)
        for _ in range(count)
    ]
    return sorted(float(p.communicate()[0]) for p in probes)


def write_results(path: Path, rows: Sequence[Row], tools: Tools, sizes: Sizes, rounds: int,
                  command: str, speed: tuple[list[float], list[float]] | None = None,
                  ) -> None:  # fmt: skip
    before, after = speed if speed is not None else ([], [])

    def shown(times: list[float]) -> str:
        return " / ".join(f"{t:.2f}" for t in times)

    lines = [
        "# offtrust benchmark results",
        "",
        "Written by `benchmarks/bench.py`; see its docstring for the data and the method.",
        "Times are wall-clock seconds of the whole process (start-up included); peak is",
        "the child's `ru_maxrss`; ratio = offtrust median / real tool median.",
        "",
        f"- Date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Machine: {machine()}",
        *(f"- {v}" for v in versions(tools)),
        f"- Command: `{command}`",
        f"- offtrust ran as: `{' '.join(tools.offtrust)}` (see `install_venv`: installed as a "
        "wheel would be, without the development machine's `.pth` start-up hooks)",
        f"- Rounds: {rounds} per row, interleaved offtrust / real tool, after one warm-up each",
        f"- Sizes: {sizes}",
        *(
            [
                "- Host speed (see `host_speed`): the probe loop took "
                f"{shown(before)} s on the CPUs before the timing and "
                f"{shown(after)} s after (about 0.75 s when the host is idle)"
            ]
            if before
            else []
        ),
        "",
        HEADER,
        SEPARATOR,
        *(format_row(row) for row in rows),
        "",
    ]
    notes = [f"- {row.work}: {row.note}" for row in rows if row.note]
    if notes:
        lines += ["Notes:", "", *notes, ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def default_data() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "offtrust-bench"


def install_venv(venv: Path) -> list[str]:
    """A venv in which offtrust runs as a user's install of the wheel would.

    The venv sees this checkout and this Python's site-packages (for
    cryptography, typer, ...) through plain path lines in a ``.pth`` file, so
    none of the development machine's own start-up hooks run: an editable
    install's import finder, or ``.pth`` files that execute code (this
    project's sandbox has one that imports certifi to inject a CA). Those are
    not part of offtrust's start-up on a user's machine, where ``pip install``
    puts the package itself in site-packages. Returns the command line.
    """
    import sysconfig
    import venv as venv_module

    if not (venv / "bin" / "python").exists():
        venv_module.EnvBuilder(with_pip=False, symlinks=True).create(venv)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # Every package directory this Python sees (a venv made with
    # --system-site-packages sees the system's too), after the checkout.
    found = [p for p in sys.path if "site-packages" in p or "dist-packages" in p]
    paths = dict.fromkeys(
        [str(REPO), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *found]
    )
    (Path(purelib) / "offtrust-bench.pth").write_text("".join(f"{p}\n" for p in paths))
    return [str(python), "-m", "offtrust"]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        epilog="Example: python3 benchmarks/bench.py --quick --rounds 1",
    )
    parser.add_argument("--data", type=Path, default=None, help="data and cache directory")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per row (default 5)")
    parser.add_argument(
        "--only", action="append", choices=ROW_KEYS, help="run only this row (repeatable)"
    )
    parser.add_argument("--results", type=Path, default=None, help="where to write the table")
    parser.add_argument(
        "--offtrust",
        default=None,
        help=(
            "the offtrust command line (default: `python -m offtrust` in a venv that sees this "
            "checkout and this Python's packages, as a wheel install would)"
        ),
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    missing = rt.missing_tools(("notary", "notary-server", "docker"))
    if missing:
        print(f"bench: error: not on PATH: {', '.join(missing)}", file=sys.stderr)
        return 2
    sizes = QUICK if args.quick else FULL
    data: Path = (args.data or default_data()).resolve()
    if args.quick and args.data is None:
        data = data / "quick"
    results = args.results or (
        data / "RESULTS-quick.md" if args.quick else REPO / "benchmarks" / "RESULTS.md"
    )
    only = set(args.only or ROW_KEYS)
    # Server-side data cannot outlive the server: a fresh work dir per run.
    work = data / "run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    # As pip leaves an installed package: every module compiled once, before timing.
    import compileall

    compileall.compile_dir(str(REPO / "offtrust"), quiet=1)
    offtrust = shlex.split(args.offtrust) if args.offtrust else install_venv(data / "venv")
    tools = Tools(work, offtrust)
    started = time.perf_counter()
    try:
        if only & {"inspect5k", "verify100k", "inspect100k", "signers"}:
            tools.server = rt.NotaryServer.start(work / "server")
        rows = make_rows(sizes, only, data, work, tools, args.rounds)
        log(f"data ready in {time.perf_counter() - started:.0f} s under {data}")
        speed_before = host_speed()
        log(f"host speed probe: {speed_before} s")
        print(HEADER)
        print(SEPARATOR, flush=True)
        run_rows(rows, args.rounds)
        speed_after = host_speed()
        log(f"host speed probe: {speed_after} s")
    finally:
        if tools.server is not None:
            tools.server.stop()
    given = sys.argv[1:] if argv is None else list(argv)
    command = " ".join(["python3 benchmarks/bench.py", *(shlex.quote(a) for a in given)])
    write_results(
        results, rows, tools, sizes, args.rounds, command, (speed_before, speed_after)
    )
    log(f"table written to {results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
