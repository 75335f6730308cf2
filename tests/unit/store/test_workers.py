"""Work done ahead in worker processes (offtrust.store.workers): same results, no writes.

A bulk edit or ``stage`` over many GUNs has worker processes read, verify
and sign ahead; the main process replays the staged writes they recorded.
These tests hold that the outcome is what the main process alone makes, that
a worker never writes the trust directory, never prompts, holds no lock, and
that whatever it cannot do is done by the main process instead.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from builders import REPOSITORY_PASSPHRASE, ROOT_PASSPHRASE, copy_example
from typer.testing import CliRunner, Result

from offtrust.cli import app
from offtrust.errors import NotFoundError
from offtrust.passphrase import Passphrases
from offtrust.store import workers
from offtrust.store.layout import TrustDir
from offtrust.store.lock import trust_lock
from offtrust.store.repo import RepoStore

APP, TOOLS = "example.com/app", "example.com/tools"
ENV = {
    "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE": ROOT_PASSPHRASE,
    "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": REPOSITORY_PASSPHRASE,
}
DIGEST = "sha256:" + "ab" * 32


def run(trust: Path, count: int, *args: str) -> Result:
    env = {**ENV, workers.WORKERS_VARIABLE: str(count)}
    return CliRunner().invoke(app, ["-d", str(trust), *args], env=env)


def staged_content(trust: Path) -> dict[str, Any]:
    """Every staged document's ``signed`` part without its expiry (the clock moves
    between runs; ECDSA signatures differ each time), and the staged state."""
    out: dict[str, Any] = {}
    top = trust / "offtrust" / "staged"
    for folder, _, names in os.walk(top):
        for name in names:
            path = Path(folder) / name
            rel = str(path.relative_to(top))
            if name == "state.json":
                out[rel] = json.loads(path.read_bytes())
            elif name.endswith(".json") and "/metadata/" in rel:
                signed = json.loads(path.read_bytes())["signed"]
                signed.pop("expires", None)
                if "meta" in signed:  # the snapshot records the signed files' hashes
                    for entry in signed["meta"].values():
                        entry.pop("hashes", None)
                        entry.pop("length", None)
                out[rel] = signed
    return out


@pytest.fixture
def spied(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The kinds of answers the workers gave (seen in the main process)."""
    kinds: list[str] = []
    answer = workers.Rehearsal.answer

    def spy(self: workers.Rehearsal[Any], index: int) -> tuple[Any, Any]:
        got = answer(self, index)
        kinds.append(got[0])
        return got

    monkeypatch.setattr(workers.Rehearsal, "answer", spy)
    return kinds


@pytest.mark.parametrize(
    ("edit", "answers"),
    [
        (("target", "add", f"{APP}:v9", f"{TOOLS}:v9", "--digest", DIGEST, "--size", "9"),
         ["ok", "ok"]),
        # tools has no signer alice: skipped, as without workers.
        (("signer", "remove", "alice", "--all", "--yes"), ["ok", "error"]),
        (("resign", "--all", "targets"), ["ok", "ok"]),
    ],
    ids=["target-add", "signer-remove", "resign"],
)  # fmt: skip
def test_a_bulk_edit_done_ahead_stages_what_the_main_process_alone_stages(
    tmp_path: Path, spied: list[str], edit: tuple[str, ...], answers: list[str]
) -> None:
    alone, ahead = copy_example(tmp_path / "alone"), copy_example(tmp_path / "ahead")

    by_one = run(alone, 0, *edit)
    assert spied == []
    by_workers = run(ahead, 2, *edit)

    assert by_one.exit_code == by_workers.exit_code == 0, by_workers.output
    assert spied == answers  # both GUNs done ahead by the workers
    assert by_workers.stdout == by_one.stdout
    assert by_workers.stderr.replace(str(ahead), "T") == by_one.stderr.replace(str(alone), "T")
    assert staged_content(ahead) == staged_content(alone)
    assert run(ahead, 0, "verify", "--all").exit_code == run(alone, 0, "verify", "--all").exit_code


def test_stage_packs_the_same_bundle_with_workers(tmp_path: Path, spied: list[str]) -> None:
    trust = copy_example(tmp_path / "trust")
    edit = run(trust, 0, "target", "add", f"{APP}:v9", f"{TOOLS}:v9", "--digest", DIGEST,
               "--size", "9")  # fmt: skip
    assert edit.exit_code == 0, edit.output
    alone = run(trust, 0, "stage", "--output", str(tmp_path / "alone.bundle"))
    ahead = run(trust, 2, "stage", "--output", str(tmp_path / "ahead.bundle"))
    assert alone.exit_code == ahead.exit_code == 0, ahead.output
    assert spied == ["ok", "ok"]
    assert (tmp_path / "ahead.bundle").read_bytes() == (tmp_path / "alone.bundle").read_bytes()


def test_stage_leaves_out_a_retired_gun_with_workers(tmp_path: Path, spied: list[str]) -> None:
    """A GUN whose staged edits are all published is not packed, with or without workers."""
    trust = copy_example(tmp_path / "trust")
    edit = run(trust, 0, "target", "add", f"{APP}:v9", f"{TOOLS}:v9", "--digest", DIGEST,
               "--size", "9")  # fmt: skip
    assert edit.exit_code == 0, edit.output
    # APP's edits reached the server: its published files are the staged ones.
    staged = trust / "offtrust" / "staged" / APP / "metadata"
    for path in staged.rglob("*.json"):
        if path.name != "state.json":
            published = trust / "tuf" / APP / "metadata" / path.relative_to(staged)
            published.write_bytes(path.read_bytes())
    outputs = {}
    for count in (0, 2):
        bundle = tmp_path / f"w{count}.bundle"
        result = run(trust, count, "stage", "--output", str(bundle))
        assert result.exit_code == 0, result.output
        outputs[count] = (result.stdout.replace(str(bundle), "B"), bundle.read_bytes())
    assert spied == ["ok", "ok"]  # both GUNs looked at by the workers: APP's answer is "none"
    assert outputs[0] == outputs[2]
    from offtrust.bundle import read_bundle

    assert list(read_bundle(outputs[2][1]).guns) == [TOOLS]


def test_a_failing_gun_fails_alike_with_workers(tmp_path: Path, spied: list[str]) -> None:
    """One GUN whose releases file was tampered with: the same one line, the
    other GUN staged, with or without workers."""
    results = {}
    for count in (0, 2):
        trust = copy_example(tmp_path / f"w{count}")
        releases = trust / "tuf" / APP / "metadata" / "targets" / "releases.json"
        doc = json.loads(releases.read_bytes())
        doc["signed"]["targets"]["forged"] = {"length": 1, "hashes": {"sha256": "AA=="}}
        releases.write_bytes(json.dumps(doc).encode())
        result = run(trust, count, "resign", "--all", "targets/releases")
        results[count] = (result.exit_code, result.stderr.replace(str(trust), "T"))
    assert spied == ["error", "ok"]
    assert results[0] == results[2]
    assert results[2][0] == 1


def test_a_worker_never_writes_the_trust_dir(tmp_path: Path) -> None:
    trust = TrustDir(copy_example(tmp_path / "trust"))

    def write(gun: str) -> str:
        RepoStore(trust).write_published(gun, {"timestamp": b"TS"})
        return "written"

    with workers.Rehearsal([APP, TOOLS], write, 2) as ahead:
        assert [ahead.answer(0), ahead.answer(1)] == [("redo", None), ("redo", None)]
    for gun in (APP, TOOLS):
        assert (trust.path / "tuf" / gun / "metadata" / "timestamp.json").read_bytes() != b"TS"


def test_a_prompt_is_left_to_the_main_process(tmp_path: Path) -> None:
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        return "x"

    source = Passphrases(environ={}, interactive=True, prompt=prompt)

    with workers.Rehearsal(["a", "b"], lambda _: source("targets", "0123456789ab", 0), 2) as w:
        assert [w.answer(0), w.answer(1)] == [("redo", None), ("redo", None)]
    assert asked == []  # (a worker's prompt could not have reached this list either)
    assert source("targets", "0123456789ab", 0) == "x"  # the main process asks
    assert len(asked) == 1


def test_an_error_in_a_worker_is_that_items_error() -> None:
    def work(item: str) -> str:
        if item == "b":
            raise NotFoundError("no b here", hint="make one")
        return item.upper()

    with workers.Rehearsal(["a", "b", "c"], work, 2) as ahead:
        answers = [ahead.answer(i) for i in range(3)]
    assert answers[0] == ("ok", "A")
    assert answers[2] == ("ok", "C")
    kind, error = answers[1]
    assert kind == "error"
    assert isinstance(error, NotFoundError)
    assert (error.message, error.hint) == ("no b here", "make one")


def test_an_answer_that_cannot_travel_is_redone() -> None:
    with workers.Rehearsal(["a", "b"], lambda item: (lambda: item), 2) as ahead:
        assert [ahead.answer(0), ahead.answer(1)] == [("redo", None), ("redo", None)]


def test_workers_hold_no_lock_of_the_trust_dir(tmp_path: Path) -> None:
    trust = TrustDir(copy_example(tmp_path / "trust"))

    def open_files(_: str) -> list[str]:
        found = []
        for fd in os.listdir("/proc/self/fd"):
            try:
                found.append(os.readlink(f"/proc/self/fd/{fd}"))
            except OSError:
                continue
        return found

    with trust_lock(trust):
        lock_file = str(trust.path / "offtrust" / "lock")
        assert lock_file in open_files("")
        with workers.Rehearsal(["a", "b"], open_files, 2) as ahead:
            for index in range(2):
                kind, files = ahead.answer(index)
                assert kind == "ok"
                assert lock_file not in files


def test_close_stops_a_worker_still_working() -> None:
    ahead = workers.Rehearsal(["a", "b"], lambda _: time.sleep(60), 2)
    pids = list(ahead._pids)
    start = time.monotonic()
    ahead.close()
    assert time.monotonic() - start < 5
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def test_how_many_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(workers.WORKERS_VARIABLE, raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1}, raising=False)
    assert workers.worker_count(1) == 0
    assert workers.worker_count(workers.MIN_ITEMS - 1) == 0
    assert workers.worker_count(workers.MIN_ITEMS) == 2
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0}, raising=False)
    assert workers.worker_count(500) == 0  # one CPU: forking only costs
    monkeypatch.setenv(workers.WORKERS_VARIABLE, "0")
    assert workers.worker_count(500) == 0
    monkeypatch.setenv(workers.WORKERS_VARIABLE, "3")
    assert workers.worker_count(2) == 2
    assert workers.worker_count(500) == 3


def test_key_list_reads_half_the_key_files_in_a_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spied: list[str]
) -> None:
    from offtrust.store import keystore

    trust = TrustDir(copy_example(tmp_path / "trust"))
    monkeypatch.setenv(workers.WORKERS_VARIABLE, "0")
    alone = keystore.KeyStore(trust).rows()
    monkeypatch.setattr(keystore, "PARALLEL_KEY_FILES", 2)
    monkeypatch.setenv(workers.WORKERS_VARIABLE, "2")
    shared = keystore.KeyStore(trust).rows()
    assert spied == ["ok"]
    assert len(alone) >= 4
    assert shared == alone


def test_after_a_prompt_a_worker_leaves_its_other_items_to_the_main_process() -> None:
    """The passphrase would be needed again (each GUN's key): no wasted work."""
    source = Passphrases(environ={}, interactive=True, prompt=lambda text: "x")

    def work(item: str) -> str:
        if item == "needs a prompt":
            source("targets", "0123456789ab", 0)
        return item

    items = ["needs a prompt", "b", "c", "d"]
    with workers.Rehearsal(items, work, 1) as ahead:
        answers = [ahead.answer(i) for i in range(4)]
    # One worker: it takes the first item, needs a prompt, and leaves the rest.
    assert answers == [("redo", None)] * 4
    with workers.Rehearsal(items, work, 2) as ahead:
        answers = [ahead.answer(i) for i in range(4)]
    assert answers[0] == ("redo", None)
    for answer, item in zip(answers, items, strict=True):
        assert answer in (("ok", item), ("redo", None))


def test_a_worker_takes_the_next_item_when_it_is_free() -> None:
    """Items are not dealt out in advance: a slow item does not hold up the ones after it."""

    def work(item: float) -> int:
        time.sleep(item)
        return os.getpid()

    # One slow item, then many quick ones: the other worker does the quick ones.
    items = [0.5] + [0.0] * 20
    with workers.Rehearsal(items, work, 2) as ahead:
        pids = [ahead.answer(i) for i in range(len(items))]
    assert all(kind == "ok" for kind, _ in pids)
    slow = pids[0][1]
    assert [pid for _, pid in pids[1:]].count(slow) <= 1


def test_answers_are_read_whatever_the_descriptor_numbers() -> None:
    """A bulk edit keeps hundreds of directories open: the workers' pipes may get
    descriptor numbers above 1024, which ``select`` cannot wait on."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 1200
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"the open-file limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    held: list[int] = []
    try:
        while not held or held[-1] < 1100:
            held.append(os.open(os.devnull, os.O_RDONLY))
        with workers.Rehearsal(["a", "b", "c"], str.upper, 2) as ahead:
            answers = [ahead.answer(i) for i in range(3)]
        assert answers == [("ok", "A"), ("ok", "B"), ("ok", "C")]
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.parametrize("command", ["stage", "edit"])
def test_workers_load_nothing_for_their_gun_that_the_main_process_could(
    tmp_path: Path, command: str
) -> None:
    """What verifying needs (the cryptography back-end, the compiled schema checks)
    is loaded by the main process before it forks, not by every worker again."""
    import subprocess
    import sys
    import textwrap

    trust = copy_example(tmp_path / "trust")
    edit = run(trust, 0, "target", "add", f"{APP}:v9", f"{TOOLS}:v9", "--digest", DIGEST,
               "--size", "9")  # fmt: skip
    assert edit.exit_code == 0, edit.output
    log = tmp_path / "loaded"
    code = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from offtrust.ops import staging
        from offtrust.ops.context import Context
        from offtrust.store import workers
        from offtrust.store.layout import TrustDir

        real = workers._message
        log = sys.argv[2]

        def message(index, item, work):
            before = set(sys.modules)
            out = real(index, item, work)
            new = sorted(set(sys.modules) - before)
            with open(log, "a") as f:
                f.write(repr([m for m in new if m.split(".")[0] in ("offtrust", "cryptography",
                                                                     "orjson")]) + "\\n")
            return out

        workers._message = message
        if sys.argv[3] == "stage":
            staging.build_bundle(Context(TrustDir(Path(sys.argv[1]))))
        else:
            from offtrust.cli import main
            sys.argv = ["offtrust", "-d", sys.argv[1], *sys.argv[4:]]
            try:
                main()
            except SystemExit as e:
                assert not e.code, e.code
        """
    )
    env = {**os.environ, **ENV, workers.WORKERS_VARIABLE: "2"}
    args = ["target", "add", f"{APP}:v10", f"{TOOLS}:v10", "--digest", DIGEST, "--size", "9"]
    subprocess.run(
        [sys.executable, "-c", code, str(trust), str(log), command, *args], env=env, check=True
    )
    assert log.read_text().splitlines() == ["[]", "[]"]
