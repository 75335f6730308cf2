"""``verify``: the whole TUF chain of one or more GUNs, offline."""

from __future__ import annotations

from offtrust.errors import OfftrustError
from offtrust.model.repository import RepoState
from offtrust.model.verify import ERROR, ROLLBACK, Problem, VerificationReport, verify_repository
from offtrust.ops.context import Context


def check_versions(state: RepoState, report: VerificationReport) -> None:
    """Staged documents must move every role's version forward."""
    for role in sorted(state.staged):
        published = state.published.get(role)
        if published is None:
            continue
        staged = state.roles[role].signed.version
        if staged <= published.signed.version:
            report.problems.append(
                Problem(
                    role,
                    f"staged version {staged} does not move past published "
                    f"version {published.signed.version}",
                    f"offtrust reset {state.gun}",
                    kind=ROLLBACK,
                )
            )


def verify_state(ctx: Context, state: RepoState) -> VerificationReport:
    """Verify one loaded repository as of the context's clock."""
    report = verify_repository(state, ctx.now())
    check_versions(state, report)
    return report


def verify_gun(ctx: Context, gun: str) -> VerificationReport:
    """Load and verify one GUN; a GUN that cannot be loaded is an error in the report."""
    try:
        state = ctx.repos.load(gun)
    except OfftrustError as e:
        report = VerificationReport(gun=gun, exit_code=e.exit_code)
        report.problems.append(Problem("metadata", e.message, e.hint, ERROR))
        return report
    return verify_state(ctx, state)
