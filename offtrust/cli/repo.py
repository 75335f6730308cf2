"""Repository commands: inspect, verify, delegation ..."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from offtrust.cli._common import (
    AllOption,
    GunArgument,
    GunsArgument,
    JsonOption,
    context,
    print_json,
    print_table,
    resolve_guns,
    warn,
)

delegation_app = typer.Typer(
    help="List and edit delegations (like `notary delegation ...`).", no_args_is_help=True
)


def _report_warnings(ctx: typer.Context, state: object) -> None:
    """Warn about every verification problem without stopping the command."""
    from offtrust.ops.verify import verify_state

    report = verify_state(context(ctx), state)  # type: ignore[arg-type]
    for problem in report.problems:
        warn(f"{report.gun}: {problem}")


def inspect(
    ctx: typer.Context,
    guns: GunsArgument = None,
    all_guns: AllOption = False,
    pretty: Annotated[bool, typer.Option("--pretty", help="Docker's human layout.")] = False,
) -> None:
    """Show signed tags, signers and administrative keys, as `docker trust inspect`.

    GUN:TAG shows only that tag, as Docker does.

    Example: offtrust inspect example.com/app --pretty
    """
    from offtrust.cli._common import progress
    from offtrust.errors import OfftrustError
    from offtrust.ops.inspect import format_pretty, inspect_repo, split_reference

    c = context(ctx)
    docs = []
    failed: list[OfftrustError] = []
    split = [split_reference(g) for g in guns or []]
    names = resolve_guns(ctx, [gun for gun, _ in split] or None, all_guns)
    # (GUN, tag, the reference as typed) — every GUN with --all.
    items = (
        list(zip(names, [t for _, t in split], guns, strict=True))
        if guns
        else [(gun, None, gun) for gun in names]
    )
    for gun, tag, reference in progress(items, "inspecting"):
        try:
            state = c.repos.load(gun)
            docs.append(inspect_repo(state, tag=tag, reference=reference))
        except OfftrustError as e:
            failed.append(e)
            continue
        _report_warnings(ctx, state)
    if pretty:
        sys.stdout.write("\n\n".join(format_pretty(d) for d in docs))
    elif docs or not failed:
        print_json(docs, indent=4, sort_keys=False)
    if failed:
        if len(failed) == 1:
            raise failed[0]
        for earlier in failed[:-1]:
            sys.stderr.write(f"offtrust: error: {earlier.message}\n")
        raise failed[-1]


def verify(
    ctx: typer.Context,
    guns: GunsArgument = None,
    all_guns: AllOption = False,
    json_: JsonOption = False,
) -> None:
    """Verify the whole TUF chain offline (all GUNs when none is named).

    Checks signatures and thresholds, role names, versions, expiry and the
    snapshot and timestamp hashes, and names the command that fixes each problem.

    Example: offtrust verify example.com/app
    """
    from offtrust.cli._common import progress
    from offtrust.errors import VerificationError
    from offtrust.ops.verify import verify_gun

    names = resolve_guns(ctx, guns, all_guns, required=False)
    if not names:
        from offtrust.errors import NotFoundError

        raise NotFoundError(f"no GUNs in {context(ctx).trust.path}")
    c = context(ctx)
    reports = [verify_gun(c, gun) for gun in progress(names, "verifying")]
    bad = [r for r in reports if not r.ok]
    if json_:
        print_json({"ok": not bad, "repositories": [r.to_dict() for r in reports]})
    else:
        for r in reports:
            status = "OK" if r.ok else "FAILED"
            typer.echo(f"{r.gun}: {status}")
            for p in r.problems:
                line = f"  {p.severity}: {p.role}: {p.reason}"
                if p.fix:
                    line += f"\n    fix: {p.fix}"
                typer.echo(line)
    if bad:
        if len(bad) == 1:
            first = bad[0].errors[0]
            err = VerificationError(f"{bad[0].gun}: {first.role}: {first.reason}", hint=first.fix)
        else:
            err = VerificationError(f"verification failed for {len(bad)} of {len(reports)} GUNs")
        # Unreadable metadata is exit 2 (contract), a failed check exit 1.
        err.exit_code = max(r.exit_code for r in bad)
        raise err


@delegation_app.command("list")
def delegation_list(ctx: typer.Context, gun: GunArgument, json_: JsonOption = False) -> None:
    """List the delegations of a GUN (ROLE, PATHS, KEY IDS, THRESHOLD).

    Example: offtrust delegation list example.com/app
    """
    from offtrust.ops.inspect import list_delegations
    from offtrust.store.layout import check_gun

    state = context(ctx).repos.load(check_gun(gun))
    rows = list_delegations(state)
    _report_warnings(ctx, state)
    if json_:
        print_json({"gun": gun, "delegations": rows})
        return
    if not rows:
        typer.echo("No delegations present in this repository.")
        return
    table = [["ROLE", "PATHS", "KEY IDS", "THRESHOLD"]]
    for r in rows:
        paths = ",".join('""' if p == "" else p for p in r["paths"]) or "-"
        keys = r["canonical_keyids"] or ["-"]
        table.append([r["role"], paths, keys[0], str(r["threshold"])])
        for k in keys[1:]:
            table.append(["", "", k, ""])
    print_table(table)


def register(app: typer.Typer) -> None:
    app.command("inspect")(inspect)
    app.command("verify")(verify)
