"""A warm offtrust interpreter that forks one child process per command.

Started by the crash suite as a real subprocess (``python3 forkserver.py``), it
imports every offtrust module once, then reads one JSON request per line on
stdin and, for each, forks a child that runs the real console entry point
(``offtrust.cli.main``) with the request's argv, environment and working
directory, its stdout and stderr sent to files. It answers with two JSON lines
on stdout: ``{"pid": N}`` right after the fork (the suite may then SIGKILL that
pid) and ``{"status": S, "elapsed": SECONDS}`` once the child is reaped.

Why: a fresh ``python3 -m offtrust`` spends about 0.3-1 s importing before it
touches the trust directory, so random kill times would mostly land in the
import. A forked child is a real, separate process killed by a real SIGKILL;
only the imports are done ahead of time.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import sys
import time
import traceback
from typing import Any


def _warm_up() -> None:
    import offtrust

    for module in pkgutil.walk_packages(offtrust.__path__, "offtrust."):
        if module.name.endswith("__main__"):
            continue
        importlib.import_module(module.name)


_COMMAND: list[object] = []


def _command() -> Any:
    """The click command of ``offtrust.cli.app``, built once.

    Typer rebuilds it from the function signatures on every call (about 0.1 s,
    no I/O): children reuse the one built here, so kills land in the work.
    """
    if not _COMMAND:
        import typer.main

        from offtrust.cli import app

        _COMMAND.append(typer.main.get_command(app))
    return _COMMAND[0]


def _warm_run(request: dict[str, Any]) -> int:
    """Run a command in this process, output discarded, to load what commands load lazily.

    Typer, rich and the crypto back-end import much of themselves on first use,
    and schemas are compiled once; done here, forked children start where a
    long-running process would. Warm-up runs use a throw-away trust dir.
    """
    from offtrust.cli import main

    cwd = os.getcwd()
    argv = sys.argv
    out, err = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    try:
        os.chdir(str(request["cwd"]))
        sys.argv = ["offtrust", *[str(a) for a in request["argv"]]]
        main()
        return 0
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 1
    except Exception:  # noqa: BLE001
        return 1
    finally:
        sys.stdout.close()
        sys.stdout, sys.stderr = out, err
        sys.argv = argv
        os.chdir(cwd)


def _child(request: dict[str, Any], channels: tuple[int, ...]) -> None:
    """Run one command in this (forked) process; never returns."""
    code = 1
    try:
        for fd in channels:
            os.close(fd)
        os.chdir(str(request["cwd"]))
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in request["env"].items()})
        null = os.open(os.devnull, os.O_RDONLY)
        out = os.open(str(request["stdout"]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        err = os.open(str(request["stderr"]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        for src, dst in ((null, 0), (out, 1), (err, 2)):
            os.dup2(src, dst)
            os.close(src)
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
        sys.argv = ["offtrust", *[str(a) for a in request["argv"]]]
        try:
            _command().main(args=sys.argv[1:], prog_name="offtrust")
            code = 0
        except SystemExit as e:
            if e.code is None:
                code = 0
            elif isinstance(e.code, int):
                code = e.code
            else:
                sys.stderr.write(f"{e.code}\n")
                code = 1
        except BaseException:
            # What the interpreter does with an uncaught exception.
            traceback.print_exc()
            code = 1
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - like interpreter shutdown
                code = code or 120
    except BaseException:
        # Setting up the child failed: say why (in the server's log, or the run's stderr).
        traceback.print_exc()
    finally:
        os._exit(code)


def main() -> None:
    _warm_up()
    requests = os.fdopen(os.dup(0), "rb", buffering=0)
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    # Keep the protocol pipes off fds 0 and 1, which children inherit.
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    answers.write(json.dumps({"ready": os.getpid()}) + "\n")
    answers.flush()
    buffer = b""
    while True:
        while b"\n" not in buffer:
            chunk = requests.read(65536)
            if not chunk:
                return
            buffer += chunk
        line, buffer = buffer.split(b"\n", 1)
        request = json.loads(line)
        if request.get("warm"):
            answers.write(json.dumps({"warmed": _warm_run(request)}) + "\n")
            answers.flush()
            continue
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:
            _child(request, (requests.fileno(), answers.fileno()))
        answers.write(json.dumps({"pid": pid}) + "\n")
        answers.flush()
        _, status = os.waitpid(pid, 0)
        elapsed = time.monotonic() - start
        answers.write(json.dumps({"status": status, "elapsed": elapsed}) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
