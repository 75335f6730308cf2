"""``verify``: the whole TUF chain of one or more GUNs, offline, by the one set of rules."""

from __future__ import annotations

import dataclasses

from offtrust.errors import OfftrustError
from offtrust.model.keys import PublicKey
from offtrust.model.metadata import ROOT, TARGETS
from offtrust.model.repository import RepoState
from offtrust.model.roles import RELEASES
from offtrust.model.verify import (
    ERROR,
    PENDING,
    PENDING_FIX,
    SIGNATURE,
    Problem,
    VerificationReport,
    verify_repository,
)
from offtrust.ops.context import Context


def warm_up() -> None:
    """Load what verifying metadata needs (the cryptography back-end, the compiled schema
    checks) now, in this process.

    Called before worker processes are forked for a bulk command: they share
    it then, where each would otherwise load it for its first GUN (with the
    main process replaying writes meanwhile, that cost the command ~0.1 s on
    two CPUs).
    """
    import offtrust.crypto  # noqa: F401 - loaded here, once
    from offtrust import schema

    schema.warm_up()


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
    state = ctx.repos.load(gun)
    return with_local_fixes(ctx, state, verify_state(ctx, state))


def with_local_fixes(
    ctx: Context, state: RepoState, report: VerificationReport
) -> VerificationReport:
    """*report* with every ``witness`` fix the local keys cannot do told as whose it is.

    The trust rules say a delegation needs re-signing; only this side knows
    whether a key of it is here. Where none is, the fix names the holders.
    """
    fixed = []
    renew = _renewal(ctx, state)
    for problem in report.problems:
        role = problem.role
        if (
            renew
            and role == ROOT
            and problem.reason.startswith("certificate of key ")
            and problem.fix == f"offtrust key rotate {state.gun} root"
        ):
            problem = dataclasses.replace(problem, fix=renew)
        witness = f"offtrust witness {state.gun} {role}"
        if problem.fix == witness:
            keys = _role_keys(state, role)
            if keys and not _any_local(ctx, keys):
                problem = dataclasses.replace(
                    problem,
                    fix=f"(no key of it is here) a holder of {key_holders(state, keys)} "
                    f"runs `{witness}`",
                )
        fixed.append(problem)
    report.problems = fixed
    return report


def _renewal(ctx: Context, state: RepoState) -> str | None:
    """``key rotate GUN root --key ID...``: new certificates over the same local root keys.

    None when a root key is not local (then only a new key, or its holder, helps).
    """
    from offtrust.crypto import canonical_keyid

    root = state.roles.get(ROOT)
    if root is None:
        return None
    ids = []
    try:
        for key in root.signed.role_keys(ROOT).values():
            ids.append(canonical_keyid(key))
    except OfftrustError:
        return None
    if not ids or not all(ctx.keys.has(i) for i in ids):
        return None
    threshold = root.signed.threshold(ROOT)
    return " ".join(
        [
            f"offtrust key rotate {state.gun} root",
            *[f"--key {i}" for i in dict.fromkeys(ids)],
            *([f"--threshold {threshold}"] if threshold > 1 else []),
        ]
    )


def _role_keys(state: RepoState, role: str) -> dict[str, PublicKey]:
    found = state.delegation_entry(role)
    if found is None:
        return {}
    keys: dict[str, PublicKey] = state.roles[found[0]].signed.delegations.role_keys(found[1])
    return keys


def _any_local(ctx: Context, keys: dict[str, PublicKey]) -> bool:
    """A private key of one of *keys* is in the key store."""
    from offtrust.crypto import canonical_keyid

    for key in keys.values():
        try:
            if ctx.keys.has(canonical_keyid(key)):
                return True
        except OfftrustError:
            continue
    return False


def unloadable_report(gun: str, error: OfftrustError) -> VerificationReport:
    """The report of a GUN whose metadata could not be loaded: *error* as its one problem."""
    report = VerificationReport(gun=gun, exit_code=error.exit_code)
    # A cached file that cannot be read is replaced by fetching it again (a
    # broken staged one by dropping the staged edits).
    fix = error.hint or f"offtrust fetch {gun} --server URL (or offtrust reset {gun})"
    report.problems.append(Problem("metadata", error.message, fix, ERROR))
    return report


def verify_gun(ctx: Context, gun: str) -> VerificationReport:
    """Load and verify one GUN; a GUN that cannot be loaded is an error in the report."""
    try:
        return load_and_verify(ctx, gun)
    except OfftrustError as e:
        return unloadable_report(gun, e)


def key_holders(state: RepoState, keys: dict[str, PublicKey]) -> str:
    """Who holds *keys*: the signer whose ``targets/NAME`` role lists a key, else its ID."""
    names: dict[str, str] = {}
    for parent, entry in state.walk_delegations():
        if parent == TARGETS and entry.name != RELEASES:
            for keyid in entry.key_ids:
                names.setdefault(keyid, entry.name.split("/", 1)[1])
    described = [f"{names[k]} ({k[:12]})" if k in names else k[:12] for k in keys]
    if len(described) == 1:
        return f"key {described[0]}"
    return "one of the keys " + ", ".join(described)


def check_publishable(
    ctx: Context,
    state: RepoState,
    report: VerificationReport,
    *,
    allow_pending: bool = False,
) -> list[str]:
    """Refuse to stage or publish what the server would refuse; warn about the rest.

    Args:
        state: the GUN; ``state.staged`` are the roles to upload.
        report: its verification.
        allow_pending: a top-level role still gathering signatures (``stage``
            packs it for ``bundle sign``) is a warning naming what is missing
            and the fix; otherwise (``bundle verify``, ``publish``) it refuses.

    Returns:
        Warnings, each naming the role and who can fix it with which command: a
        delegation left without valid signatures says whether a local key can
        re-sign it, or which signer must.

    Raises:
        VerificationError: (or a subclass) an error the upload must not carry.
    """
    errors, warnings = report.for_publishing(state.staged)
    lines = []
    if allow_pending:
        lines += [f"{p.role}: {p.reason} (fix: {PENDING_FIX})" for p in errors if p.kind == PENDING]
        errors = [p for p in errors if p.kind != PENDING]
    report.raise_for(errors)
    for problem in warnings:
        if problem.kind != SIGNATURE or not problem.role.startswith(TARGETS + "/"):
            lines.append(str(problem))
            continue
        keys = _role_keys(state, problem.role)
        local = _any_local(ctx, keys)
        witness = f"offtrust witness {state.gun} {problem.role}"
        if not keys:
            lines.append(str(problem))
        elif local:
            lines.append(f"{problem.role}: {problem.reason} (fix here: {witness})")
        else:
            lines.append(
                f"{problem.role}: {problem.reason}; clients ignore its tags until a holder of "
                f"{key_holders(state, keys)} runs `{witness}` (no key of it is here)"
            )
    return lines
