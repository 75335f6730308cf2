"""``verify``: the whole TUF chain of one or more GUNs, offline, by the one set of rules."""

from __future__ import annotations

from offtrust.errors import OfftrustError
from offtrust.model.repository import RepoState
from offtrust.model.verify import ERROR, Problem, VerificationReport, verify_repository
from offtrust.ops.context import Context


def verify_state(ctx: Context, state: RepoState) -> VerificationReport:
    """Verify one loaded repository as of the context's clock (see :mod:`offtrust.model.verify`)."""
    return verify_repository(state, ctx.now(), crypto=ctx.crypto)


def load_and_verify(ctx: Context, gun: str) -> VerificationReport:
    """Load one GUN and verify it.

    Returns:
        The report; its errors are not raised.

    Raises:
        OfftrustError: the metadata cannot be loaded (its own class and exit
            status: 2 for a malformed or missing file).
    """
    return verify_state(ctx, ctx.repos.load(gun))


def unloadable_report(gun: str, error: OfftrustError) -> VerificationReport:
    """The report of a GUN whose metadata could not be loaded: *error* as its one problem."""
    report = VerificationReport(gun=gun, exit_code=error.exit_code)
    report.problems.append(Problem("metadata", error.message, error.hint, ERROR))
    return report


def verify_gun(ctx: Context, gun: str) -> VerificationReport:
    """Load and verify one GUN; a GUN that cannot be loaded is an error in the report."""
    try:
        return load_and_verify(ctx, gun)
    except OfftrustError as e:
        return unloadable_report(gun, e)
