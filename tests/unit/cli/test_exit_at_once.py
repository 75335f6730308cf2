"""The console entry ends the process without tearing the interpreter down, and loses nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=False
    )


def test_the_status_the_output_and_the_exit_handlers_are_kept() -> None:
    done = _run(
        """
        import atexit, sys
        from offtrust._entry import exit_at_once
        atexit.register(lambda: sys.stderr.write("handler ran\\n"))
        sys.stdout.write("x" * 100_000)  # still buffered
        exit_at_once(3)
        """
    )
    assert done.returncode == 3
    assert done.stdout == "x" * 100_000
    assert done.stderr == "handler ran\n"


def test_a_message_exits_as_sys_exit_does() -> None:
    done = _run("from offtrust._entry import exit_at_once\nexit_at_once('offtrust: gone')")
    assert (done.returncode, done.stderr) == (1, "offtrust: gone\n")
    assert _run("from offtrust._entry import exit_at_once\nexit_at_once(None)").returncode == 0


def test_another_thread_still_running_is_waited_for(tmp_path: Path) -> None:
    mark = tmp_path / "mark"
    done = _run(
        f"""
        import threading, time
        from offtrust._entry import exit_at_once
        def late():
            time.sleep(0.3)
            open({str(mark)!r}, "w").write("written")
        threading.Thread(target=late).start()
        exit_at_once(0)
        """
    )
    assert done.returncode == 0
    assert mark.read_text() == "written"


def test_the_console_entry_ends_this_way(tmp_path: Path) -> None:
    """``python -m offtrust`` returns its status and output (here a usage error) intact."""
    done = subprocess.run(
        [sys.executable, "-m", "offtrust", "-d", str(tmp_path / "t"), "no-such-command"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "no-such-command" in done.stderr
