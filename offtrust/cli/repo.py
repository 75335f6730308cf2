"""Repository commands: inspect, verify, delegation ..., repo delete, doctor."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from offtrust.cli._common import (
    AllOption,
    GunArgument,
    GunsArgument,
    JsonOption,
    YesOption,
    confirm,
    context,
    done_line,
    gun_failure,
    info,
    pasteable,
    print_json,
    print_table,
    resolve_guns,
    warn,
    writes,
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
    from offtrust.errors import VerificationError
    from offtrust.ops.batch import FAILED, run_batch
    from offtrust.ops.inspect import format_pretty, inspect_gun, json_chunks, split_reference

    c = context(ctx)
    split = [split_reference(g) for g in guns or []]
    names = resolve_guns(ctx, [gun for gun, _ in split] or None, all_guns)
    # (GUN, tag, the reference as typed) — every GUN with --all.
    items = (
        list(zip(names, [t for _, t in split], guns, strict=True))
        if guns
        else [(gun, None, gun) for gun in names]
    )

    hidden: list[str] = []

    def action(item: tuple[str, str | None, str]) -> dict[str, object]:
        gun, tag, reference = item
        seen = inspect_gun(c, gun, tag=tag, reference=reference)
        if seen.staged:
            info(f"{gun}: showing staged edits, not yet published ({', '.join(seen.staged)})")
        for problem in seen.report.problems:
            warn(f"{gun}: {problem}")
        if seen.hidden:
            warn(f"{gun}: tags of {', '.join(seen.hidden)} are not shown: they fail verification")
            hidden.append(gun)
        return seen.doc

    def report(outcome: Any) -> None:
        if outcome.status == FAILED and len(items) > 1:
            sys.stderr.write(gun_failure(outcome.gun, outcome.error) + "\n")

    batch = run_batch(
        progress(items, "inspect"), action, gun_of=lambda item: item[2], on_outcome=report
    )
    if len(items) > 1:
        info(done_line(batch, changed="shown"))
    docs = [o.value for o in batch.ok if o.value is not None]
    if pretty:
        sys.stdout.write("\n\n".join(format_pretty(d) for d in docs))
    elif docs or not batch.failed:
        # print_json(docs, indent=4, sort_keys=False), written piece by piece.
        from offtrust._entry import go_escape

        write = sys.stdout.write
        for chunk in json_chunks(docs):
            write(go_escape(chunk))
        write("\n")
    error = batch.error()
    if error is not None:
        raise error
    if hidden:
        # Scripts gating on the JSON must not take a partial view for a good one.
        raise VerificationError(
            f"{', '.join(hidden)}: some roles fail verification; their tags are not shown",
            hint="`offtrust verify` names each problem and its fix",
        )


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
    from offtrust.errors import NotFoundError, OfftrustError
    from offtrust.ops.batch import run_batch
    from offtrust.ops.verify import load_and_verify, unloadable_report

    names = resolve_guns(ctx, guns, all_guns, required=False)
    if not names:
        raise NotFoundError(f"no GUNs in {context(ctx).trust.path}")
    c = context(ctx)
    reports: dict[str, Any] = {}

    def check(gun: str) -> object:
        try:
            report = reports[gun] = load_and_verify(c, gun)
        except OfftrustError as e:
            reports[gun] = unloadable_report(gun, e)
            raise
        report.raise_for_errors()
        return report

    batch = run_batch(progress(names, "verify"), check)
    if json_:
        docs = [reports[g].to_dict() for g in names]
        for doc in docs:
            for problem in doc["problems"]:
                # The fix is a hint, in the field every --json output names so.
                fix = problem.pop("fix", None)
                problem["hint"] = pasteable(fix) if fix else None
        print_json({"ok": not batch.failed, "guns": docs})
    else:
        for gun in names:
            r = reports[gun]
            typer.echo(f"{r.gun}: {'OK' if r.ok else 'FAILED'}")
            for p in r.problems:
                line = f"  {p.severity}: {p.role}: {p.reason}"
                if p.fix:
                    line += f"\n    fix: {pasteable(p.fix)}"
                typer.echo(line)
    if len(names) > 1:
        info(done_line(batch, changed="verified"))
    failed = [o.error for o in batch.failed if o.error is not None]
    error = batch.error(
        failed[0].message
        if len(failed) == 1
        else f"verification failed for {len(failed)} of {len(names)} GUNs"
    )
    if error is not None:
        raise error


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


repo_app = typer.Typer(help="Whole repositories: delete one.", no_args_is_help=True)


@repo_app.command("delete")
@writes()
def repo_delete(
    ctx: typer.Context,
    gun: GunArgument,
    yes: YesOption = False,
    keys: Annotated[
        bool,
        typer.Option(
            "--keys",
            help="Also remove the GUN's private keys (never one another GUN's metadata lists).",
        ),
    ] = False,
) -> None:
    """Remove a GUN's local trust data now and stage its deletion on the server.

    The published metadata, staged edits and recorded server keys of the GUN go
    at once; `stage` packs the deletion and `publish` carries it out (as `notary
    delete GUN --remote`), only while the server's root is the one deleted here,
    and checks the server then answers 404. `reset GUN` drops the staged
    deletion (`fetch` brings the local data back). A GUN never published has
    nothing to delete on the server: only its local data goes.

    Example: offtrust repo delete example.com/app --keys
    """
    from offtrust.ops.delete import delete_repo, plan_delete

    c = context(ctx)
    plan = plan_delete(c, gun, keys=keys)
    goes = []
    if plan.published:
        goes.append(f"its published metadata (root v{plan.root_version})")
    if plan.staged_edits:
        goes.append("its staged edits")
    if plan.keys:
        ids = ", ".join(k.keyid[:12] for k in plan.keys)
        goes.append(f"{len(plan.keys)} private key(s): {ids}")
    question = f"delete {gun} locally ({'; '.join(goes) or 'nothing left here'})"
    if plan.deletion is not None:
        question += " and stage its deletion on the server"
    confirm(question + "?", yes=yes, hint="use --yes (or --force)")
    delete_repo(c, plan)
    for info_ in plan.keys:
        info(f"{gun}: removed key {info_.keyid} ({info_.role})")
    for keyid, others in sorted(plan.kept_keys.items()):
        info(f"{gun}: kept key {keyid[:12]}: {', '.join(others)} also use(s) it")
    for info_ in plan.legacy_keys:
        warn(f"{gun}: kept key {info_.keyid[:12]}: {info_.location} is in a legacy layout")
    if plan.stages_deletion:
        info(
            f"{gun}: local trust data removed; deletion staged (pinned to root "
            f"v{plan.root_version}): `offtrust stage {gun} --output BUNDLE`, then "
            "`offtrust publish BUNDLE`"
        )
    else:
        info(f"{gun}: local trust data removed (never published: nothing to delete on a server)")


def doctor(ctx: typer.Context, json_: JsonOption = False) -> None:
    """Audit the whole trust directory; name each problem and the command that fixes it.

    Finds keys no metadata uses, root or targets roles with no local key,
    metadata and certificates expired or expiring within 30 days (and every
    other `verify` finding), RSA keys under 2048 bits, unencrypted private
    keys, key files or directories group or others can access, staged edits
    not yet bundled and bundles not yet published. Exits 1 when it finds any.

    Example: offtrust doctor --json
    """
    from offtrust.errors import VerificationError
    from offtrust.ops.doctor import doctor as op

    report = op(context(ctx))
    if json_:
        doc = report.to_dict()
        for finding in doc["findings"]:
            finding["fix"] = pasteable(finding["fix"])
        print_json(doc)
    elif report.ok:
        typer.echo("no problems found")
    else:
        for f in report.findings:
            typer.echo(f"{f.kind}: {f.object}: {f.problem}\n    fix: {pasteable(f.fix)}")
    if not report.ok:
        raise VerificationError(f"doctor found {len(report.findings)} problem(s)")


def register(app: typer.Typer) -> None:
    app.command("inspect")(inspect)
    app.command("verify")(verify)
    app.add_typer(repo_app, name="repo")
    app.command("doctor")(doctor)
