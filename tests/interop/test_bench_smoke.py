"""The side-by-side benchmark still runs: a tiny ``--quick --rounds 1`` run, checked for shape.

No timing is asserted (the machine decides those); only that every row ran
both sides, measured a time and a peak, and that the results file holds the
table with the machine, date, versions and command.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from realtools import tool_env

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "benchmarks" / "bench.py"

#: What each row's ``work`` cell starts with, in the table's order.
WORK = (
    "`key list --json`, 20 encrypted keys",
    "`key list --json`, 200 encrypted keys",
    "`inspect` GUN, 50 tags",
    "`verify` GUN, 500 tags",
    "`inspect` GUN, 500 tags",
    "`--help`",
    "`key list` on an empty store",
    "`signer remove NAME --all --yes` + `stage`, 3 GUNs",
)
_TIME = r"\d+\.\d{3} s \(\d+\.\d{3}-\d+\.\d{3}\)"
ROW = re.compile(
    rf"^\| (?P<work>[^|]+) \| {_TIME} \| (?P<ours_mb>\d+) MB \| (?P<tool>[^|]+) "
    rf"\| {_TIME} \| (?P<theirs_mb>\d+) MB \| (?P<ratio>\d+\.\d\d)x \| <= [^|]+ \| (yes|no) \|$"
)


@pytest.mark.interop
def test_quick_benchmark_prints_and_writes_a_well_formed_table(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    env = {k: v for k, v in tool_env().items() if not k.startswith("OFFTRUST_")}
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--rounds", "1", "--data", str(tmp_path / "data"),
         "--results", str(results)],  # fmt: skip
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]

    printed = [line for line in proc.stdout.splitlines() if ROW.match(line)]
    written = results.read_text()
    table = [line for line in written.splitlines() if ROW.match(line)]
    assert printed == table
    assert [ROW.match(line)["work"] for line in table] == list(WORK)  # type: ignore[index]
    for line in table:
        match = ROW.match(line)
        assert match is not None
        # Both sides ran without failing, and each child's peak was measured.
        assert "failed" not in line, line
        assert int(match["ours_mb"]) > 0, line
        assert int(match["theirs_mb"]) > 0, line
    tools = [ROW.match(line)["tool"] for line in table]  # type: ignore[index]
    assert tools[:2] == ["notary key list"] * 2
    assert tools[2:5] == ["notary list"] * 3
    assert tools[7].startswith("docker trust signer remove")
    for label in ("- Date: ", "- Machine: ", "- offtrust: offtrust ", "- notary: ", "- docker: ",
                  "- Command: `python3 benchmarks/bench.py --quick --rounds 1"):  # fmt: skip
        assert label in written, (label, written)
    # The host's speed before and after, one probe per CPU.
    speed = re.search(r"the probe loop took ([\d. /]+) s on the CPUs before the timing and "
                      r"([\d. /]+) s after", written)  # fmt: skip
    assert speed is not None, written
    for times in speed.groups():
        assert all(float(t) > 0 for t in times.split(" / ")), times
