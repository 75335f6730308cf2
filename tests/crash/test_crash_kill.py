"""SIGKILL at random moments of every writing command; the trust dir survives each kill.

For each command (``key generate``, ``signer add`` over several GUNs, two of
them initialised offline, ``target add``, ``resign``, ``stage``) the suite
measures an uninterrupted run, then restores one pristine copy and kills the
command after a delay drawn (seeded, ``OFFTRUST_CRASH_SEED``) from [0, that
run time], again and again. After each kill (see ``crashkit.check_after_kill``):

- keys: every file in ``private/`` decrypts to the key its name says;
- old-or-new: each GUN is in its old or its new state, the key list is between
  old and new, outputs (``out/``) are the old or the whole new file, and no
  public key exists without its private key (lost-key);
- verify: ``verify --all`` finds no error the pristine tree did not have;
- stage: ``stage`` works, or refuses cleanly (exit 1/2, one error line, no
  traceback) when there is nothing valid to stage;
- visible-debris: no file other than old or new ones, unless hidden (a name
  starting with a dot);
- recovery / debris-not-cleaned: the same command run again succeeds and
  leaves nothing but what an uninterrupted run leaves.

Most kills go through the fork server (a real child process forked after the
imports, so the kills land in the command's work); a few through a real
``python3 -m offtrust``, start-up included.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from crashkit import (
    FORK_KILLS,
    SCENARIOS,
    SUBPROCESS_KILLS,
    Campaign,
    ForkServer,
    Reference,
    SubprocessRunner,
    format_failures,
    in_ci,
    measure,
    run_campaign,
    write_report,
)

pytestmark = pytest.mark.crash


def test_at_least_200_kills() -> None:
    """The issue asks for at least 200 kills; fewer (OFFTRUST_CRASH_KILLS) only locally."""
    total = len(SCENARIOS) * (FORK_KILLS + SUBPROCESS_KILLS)
    if total < 200 and in_ci():
        pytest.fail(f"only {total} kills planned", pytrace=False)


def _conclude(campaign: Campaign, wanted: int, report: Path) -> None:
    write_report(report, [campaign])
    print(campaign.summary())
    problems = []
    if campaign.failures:
        problems.append(
            format_failures(
                campaign.failures, f"invariants broken after kills: {campaign.summary()}", report
            )
        )
    if campaign.kills < wanted:
        problems.append(
            f"only {campaign.kills} of {wanted} kills landed in {campaign.attempts} attempts "
            f"({campaign.summary()})"
        )
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_sigkill_forked(
    name: str,
    crash_reference: Callable[[str], Reference],
    forkserver: ForkServer,
    tmp_path: Path,
) -> None:
    ref = crash_reference(name)
    campaign = run_campaign(
        ref, forkserver, forkserver, tmp_path, kills=FORK_KILLS, runtime=ref.runtime
    )
    _conclude(campaign, FORK_KILLS, tmp_path / "crash-report.json")


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_sigkill_subprocess(
    name: str,
    crash_reference: Callable[[str], Reference],
    forkserver: ForkServer,
    crash_env: dict[str, str],
    tmp_path: Path,
) -> None:
    ref = crash_reference(name)
    runner = SubprocessRunner(tmp_path / "runner", crash_env)
    runtime = measure(runner, ref, tmp_path, 3)
    campaign = run_campaign(
        ref, runner, forkserver, tmp_path, kills=SUBPROCESS_KILLS, runtime=runtime
    )
    _conclude(campaign, SUBPROCESS_KILLS, tmp_path / "crash-report.json")
