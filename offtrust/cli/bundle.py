"""Staging, bundles and the online steps: status, diff, reset, stage, bundle, fetch, publish."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from offtrust.cli._common import (
    AllOption,
    GunArgument,
    GunsArgument,
    JsonOption,
    complete_gun,
    context,
    done_line,
    gun_failure,
    info,
    passphrases,
    print_json,
    progress,
    resolve_guns,
    warn,
    writes,
)
from offtrust.errors import OfftrustError

bundle_app = typer.Typer(help="Read and check bundles offline.", no_args_is_help=True)

StagedGunsArgument = Annotated[
    list[str] | None,
    typer.Argument(
        help="GUNs (default: every GUN with staged edits).", autocompletion=complete_gun
    ),
]
BundleArgument = Annotated[Path, typer.Argument(help="The bundle file.")]


def status(
    ctx: typer.Context,
    guns: StagedGunsArgument = None,
    all_guns: AllOption = False,
    json_: JsonOption = False,
) -> None:
    """List the staged edits of each GUN (default: every GUN with edits not yet published).

    Edits the published state already holds (after publish and fetch) are retired.

    Example: offtrust status --json
    """
    from offtrust.ops.staging import status as op

    names = None if all_guns or not guns else resolve_guns(ctx, guns, False)
    rows = op(context(ctx), names)
    if json_:
        print_json({"guns": rows})
        return
    if not rows:
        typer.echo("Nothing staged.")
        return
    for row in rows:
        if not row["staged"]:
            retired = " (its staged edits are published: retired)" if row.get("retired") else ""
            typer.echo(f"{row['gun']}: nothing staged{retired}")
            continue
        typer.echo(f"{row['gun']}:" + (" (new GUN)" if row.get("new_gun") else ""))
        for role, v in row["roles"].items():
            before = f"v{v['published_version']}" if v["published_version"] else "new"
            typer.echo(f"  {role}: {before} -> v{v['staged_version']}")
        for edit in row["edits"]:
            typer.echo(f"  - {edit}")
        if row.get("behind"):
            fix = (
                f"`offtrust rebase {row['gun']}` replays the edits on it"
                if row.get("rebase")
                else f"`offtrust reset {row['gun']}` and redo the edits"
            )
            warn(f"{row['gun']}: the published state moved on ({', '.join(row['behind'])}): {fix}")


def diff(ctx: typer.Context, gun: GunArgument) -> None:
    """Show the staged edits of a GUN against its published state (unified diff).

    Example: offtrust diff example.com/app
    """
    from offtrust.ops.staging import diff as op
    from offtrust.store.layout import check_gun

    text = op(context(ctx), check_gun(gun))
    if sys.stdout.isatty():
        text = "".join(_colour_diff_line(line) for line in text.splitlines(keepends=True))
    sys.stdout.write(text)


_DIFF_COLOURS = (
    ("+++", "\033[1m"),
    ("---", "\033[1m"),
    ("@@", "\033[36m"),
    ("+", "\033[32m"),
    ("-", "\033[31m"),
)


def _colour_diff_line(line: str) -> str:
    """One line of a unified diff, coloured as git colours it (on a terminal only)."""
    for prefix, colour in _DIFF_COLOURS:
        if line.startswith(prefix):
            return f"{colour}{line.rstrip(chr(10))}\033[0m\n"
    return line


@writes()
def reset(ctx: typer.Context, guns: StagedGunsArgument = None, all_guns: AllOption = False) -> None:
    """Drop the staged edits of the given GUNs.

    Example: offtrust reset example.com/app
    """
    from offtrust.ops.staging import reset as op

    c = context(ctx)
    names = c.trust.staged_guns() if all_guns else resolve_guns(ctx, guns, False)
    dropped = 0
    for gun in names:
        had = op(c, gun)
        dropped += had
        info(f"{gun}: staged edits dropped" if had else f"{gun}: nothing was staged")
    if len(names) > 1:
        info(f"done: {dropped} reset, {len(names) - dropped} skipped, 0 failed")


@writes(shared=True)
def stage(
    ctx: typer.Context,
    guns: StagedGunsArgument = None,
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="Bundle file to write (a regular file in an existing directory; "
            "'-' for standard output).",
        ),
    ] = Path(),
    all_guns: AllOption = False,
) -> None:
    """Pack the staged, signed metadata into one deterministic bundle; print its sha256.

    With no GUN, every GUN with edits not yet published (published ones are retired).

    Example: offtrust stage --output ceremony.bundle
    """
    from offtrust.errors import UsageError
    from offtrust.ops.staging import build_bundle, record_bundled
    from offtrust.store.output import check_output, is_stdout, write_output

    if output == Path():
        raise UsageError("--output BUNDLE is required")
    to_stdout = is_stdout(output)
    if to_stdout and sys.stdout.isatty():
        raise UsageError(
            "refusing to write a bundle to a terminal", hint="redirect standard output to a file"
        )
    # Refuse a device, FIFO, directory or missing directory before any work.
    target = None if to_stdout else check_output(output)
    c = context(ctx)
    names = None if all_guns or not guns else resolve_guns(ctx, guns, False)
    notes: list[str] = []
    fingerprints: dict[str, str | None] = {}
    data, packed = build_bundle(c, names, warnings=notes, fingerprints=fingerprints)
    for note in notes:
        # A role still gathering signatures: name the bundle just written.
        warn(note if to_stdout else note.replace("bundle sign BUNDLE", f"bundle sign {output}"))
    digest = hashlib.sha256(data).hexdigest()
    if target is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        record_bundled(c, packed, data, fingerprints)
        sys.stdout.buffer.flush()
        info(f"staged {len(packed)} GUN(s) to standard output: {', '.join(packed)}")
        info(f"sha256:{digest}  -")
        return
    write_output(target, data, mode=0o644)
    record_bundled(c, packed, data, fingerprints)
    info(f"staged {len(packed)} GUN(s) into {output}: {', '.join(packed)}")
    typer.echo(f"sha256:{digest}  {output}")


@writes()
def rebase(
    ctx: typer.Context,
    guns: StagedGunsArgument = None,
    all_guns: AllOption = False,
    json_: JsonOption = False,
) -> None:
    """Replay the staged edits of GUNs on their newer published state (after fetch).

    For when publish refused a GUN because the server moved on: fetch, rebase,
    stage again. An edit the published state already has is skipped; one that
    no longer applies fails the GUN and changes nothing.

    Example: offtrust rebase example.com/app
    """
    from offtrust.ops.batch import OK, run_batch
    from offtrust.ops.rebase import RebaseResult
    from offtrust.ops.rebase import rebase as op

    c = context(ctx)
    names = c.trust.staged_guns() if all_guns else resolve_guns(ctx, guns, False)
    source = passphrases()
    batch = run_batch(
        progress(names, "rebasing"), lambda gun: op(c, gun, source), skip_nothing_to_do=all_guns
    )
    results: list[RebaseResult] = []
    for o in batch.outcomes:
        if o.status == OK and o.value is not None:
            results.append(o.value)
        else:
            results.append(RebaseResult(o.gun, o.status, _failure_text(o.error)))
    if json_:
        print_json({"ok": not batch.failed, "guns": [r.to_dict() for r in results]})
    several = len(batch.outcomes) > 1
    for o, r in zip(batch.outcomes, results, strict=True):
        if o.status not in (OK,) and o.error is not None:
            # A failure is one stderr line naming the GUN (the command's own
            # error line when there is one GUN).
            if several and not json_:
                sys.stderr.write(gun_failure(o.gun, o.error) + "\n")
            continue
        if not json_:
            typer.echo(f"{r.gun}: {r.status}" + (f": {r.message}" if r.message else ""))
            if r.versions:
                info(f"{r.gun}: staged " + ", ".join(f"{k} v{v}" for k, v in r.versions.items()))
        for skipped in r.skipped:
            warn(f"{r.gun}: skipped {skipped}")
        for w in r.warnings:
            warn(f"{r.gun}: {w}")
    if several and not json_:
        info(done_line(batch, changed="rebased"))
    error = _batch_error(batch, "rebase")
    if error is not None:
        raise error


def _read_bundle_file(path: Path) -> Any:
    from offtrust.bundle import MAX_BUNDLE_SIZE, read_bundle
    from offtrust.store.output import read_user_file

    data = read_user_file(path, limit=MAX_BUNDLE_SIZE, what="bundle")
    return read_bundle(data, source=str(path))


@bundle_app.command("show")
def bundle_show(ctx: typer.Context, bundle: BundleArgument, json_: JsonOption = False) -> None:
    """Show what a bundle carries: GUNs, versions, and per role its valid signatures and thresholds.

    A role's signatures are counted against each threshold that applies to it
    ("root: 1 of 2 (new root), 1 of 1 (previous root v1)"); key IDs are the
    ones that signed validly. --json adds, per GUN, "roles" (version, upload,
    signatures, thresholds) and the verification "problems".

    Example: offtrust bundle show ceremony.bundle
    """
    from offtrust.ops.bundle_sign import show_bundle

    b = _read_bundle_file(bundle)
    shown = show_bundle(context(ctx, required=False), b)
    if json_:
        print_json(shown)
        return
    typer.echo(f"bundle sha256:{b.sha256}")
    for gun, entry in sorted(b.guns.items()):
        row = shown["guns"][gun]
        if row.get("delete"):
            typer.echo(f"{gun}: (deletion)")
            continue
        typer.echo(f"{gun}:" + (" (new GUN)" if entry.new_gun else ""))
        for role, f in sorted(entry.files.items()):
            mark = "upload" if f.upload else "context"
            base = entry.base.get(role)
            since = f" (base v{base})" if base is not None and f.upload else ""
            r = row["roles"][role]
            counts = ", ".join(_count_text(t) for t in r["thresholds"]) or "not checked"
            signers = " ".join(k[:12] for k in r["signatures"]) or "none"
            typer.echo(f"  {role:<24} v{f.version:<5} {mark:<8}{since}")
            typer.echo(f"    signatures: {counts}; valid: {signers}")
        for p in row["problems"]:
            if p["severity"] == "error":
                fix = f" (fix: {p['fix']})" if p["fix"] else ""
                typer.echo(f"  ! {p['role']}: {p['reason']}{fix}")


def _count_text(threshold: dict[str, Any]) -> str:
    """``1 of 2 (new root)``: one threshold of ``bundle show``."""
    text = f"{len(threshold['valid'])} of {threshold['threshold']}"
    return f"{text} ({threshold['label']})" if threshold["label"] else text


@bundle_app.command("sign")
def bundle_sign(ctx: typer.Context, bundle: BundleArgument) -> None:
    """Add signatures from the local keys to roles of a bundle still below a threshold, in place.

    For a threshold above 1 with keys in separate places (root threshold 2, two
    people): after `offtrust stage`, each holder runs this where their keys
    are. The bundle is verified first and nothing else in it changes: the
    signatures are appended (content and version unchanged, kept in key ID
    order, so the same signatures give the same bytes) and a staged snapshot
    recording the older bytes is signed again when its key is local. Prints the
    new sha256 to compare across the air gap.

    Exit status: 0 when signed, or when the bundle already meets every
    threshold (nothing to sign: the file is left as it is); 1 when signatures
    are missing but no local key can add one, or the bundle fails verification.

    Example: offtrust bundle sign ceremony.bundle
    """
    from offtrust.ops.bundle_sign import sign_bundle
    from offtrust.store.output import check_output, write_output

    target = check_output(bundle)
    b = _read_bundle_file(bundle)
    result = sign_bundle(context(ctx), b, passphrases())
    if result.data is None:
        info(f"nothing to sign: every role of {bundle} meets its thresholds")
        typer.echo(f"sha256:{b.sha256}  {bundle}")
        return
    write_output(target, result.data, mode=0o644)
    for gun, roles in sorted(result.signed.items()):
        for role, keyids in roles.items():
            info(f"{gun}: {role}: signed with {', '.join(k[:12] for k in keyids)}")
    for note in result.notes:
        warn(note.replace("bundle sign BUNDLE", f"bundle sign {bundle}"))
    typer.echo(f"sha256:{hashlib.sha256(result.data).hexdigest()}  {bundle}")


@bundle_app.command("verify")
def bundle_verify(ctx: typer.Context, bundle: BundleArgument) -> None:
    """Check a bundle offline: manifest, hashes, and the TUF chain of every GUN.

    Example: offtrust bundle verify ceremony.bundle
    """
    from offtrust.ops.batch import run_batch
    from offtrust.ops.online import GUNResult, verify_bundle_gun

    b = _read_bundle_file(bundle)
    c = context(ctx, required=False)

    def check(entry: Any) -> GUNResult:
        return GUNResult(entry.gun, "ok", warnings=verify_bundle_gun(c, entry))

    batch = run_batch([b.guns[g] for g in sorted(b.guns)], check)
    for o in batch.outcomes:
        if o.value is not None:
            typer.echo(f"{o.gun}: OK")
            for w in o.value.warnings:
                warn(f"{o.gun}: {w}")
        else:
            typer.echo(f"{o.gun}: FAILED: {_failure_text(o.error)}")
    failed = [o.error for o in batch.failed if o.error is not None]
    error = batch.error(
        f"bundle {bundle}: {failed[0].message}"
        if len(failed) == 1
        else f"bundle {bundle}: {len(failed)} GUNs fail verification"
    )
    if error is not None:
        raise error
    typer.echo(f"bundle sha256:{b.sha256} verified")


ServerOption = Annotated[
    str,
    typer.Option(
        "--server",
        "-s",
        help="Notary server URL, https://host:port (default: $DOCKER_CONTENT_TRUST_SERVER, "
        "else remote_server.url of ~/.notary/config.json).",
        show_default=False,
    ),
]
CaOption = Annotated[
    Path | None,
    typer.Option(
        "--tls-ca",
        "--tlscacert",
        help="CA certificate file for TLS (default: $DOCKER_CONFIG/tls/HOST:PORT/ca.crt, "
        "else the notary config's root_ca, else the system CAs).",
    ),
]
CertOption = Annotated[
    Path | None, typer.Option("--tls-cert", help="TLS client certificate (with --tls-key).")
]
KeyOption = Annotated[Path | None, typer.Option("--tls-key", help="TLS client key.")]
InsecureOption = Annotated[bool, typer.Option("--insecure", help="Allow plain http (warns).")]
UserOption = Annotated[str | None, typer.Option("--username", help="User for the server.")]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input.")
]


def _client(
    server: str,
    tls_ca: Path | None,
    insecure: bool,
    username: str | None,
    password_stdin: bool,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> Any:
    """The Notary client, its server and TLS settings found as docker and notary find them."""
    from offtrust.errors import UsageError
    from offtrust.online.client import Auth, NotaryClient
    from offtrust.online.config import resolve_server_settings

    settings = resolve_server_settings(
        server=server or None, tls_ca=tls_ca, tls_cert=tls_cert, tls_key=tls_key
    )
    password = None
    if password_stdin:
        if username is None:
            raise UsageError("--password-stdin needs --username")
        password = sys.stdin.readline().rstrip("\r\n")
    elif username is not None:
        password = os.environ.get("OFFTRUST_PASSWORD")
        if password is None:
            raise UsageError("--username needs OFFTRUST_PASSWORD or --password-stdin")
    elif settings.username is not None:
        username, password = settings.username, settings.password
    token = None if username else (os.environ.get("OFFTRUST_TOKEN") or None)
    auth = Auth(username=username, password=password, token=token)
    return NotaryClient(
        settings.url,
        ca_file=settings.ca_file,
        client_cert=settings.client_cert,
        client_key=settings.client_key,
        proxy=settings.proxy,
        insecure=insecure,
        auth=auth,
        on_warning=warn,
    )


def _failure_text(error: OfftrustError | None) -> str:
    """A failed GUN's line: its error's message, with the hint in parentheses."""
    if error is None:
        return ""
    return error.message + (f" (hint: {error.hint})" if error.hint else "")


def _print_results(batch: Any, json_: bool) -> None:
    """Print each GUN's result, in order: the action's GUNResult, or its failure.

    A result goes to stdout; a failure is one line on stderr naming the GUN
    once (its hint is the command's hint line). JSON keeps the hint in its own
    field. Several GUNs end with ``done: N ..., M skipped, K failed``.
    """
    from offtrust.ops.batch import OK

    if json_:
        rows = []
        for o in batch.outcomes:
            if o.status == OK:
                rows.append({**o.value.to_dict(), "hint": None})
            else:
                error = o.error
                rows.append(
                    {
                        "gun": o.gun,
                        "status": "failed",
                        "message": error.message if error else "",
                        "hint": error.hint if error else None,
                        "roles": {},
                        "warnings": [],
                    }
                )
        print_json({"ok": not batch.failed, "guns": rows})
        return
    several = len(batch.outcomes) > 1
    for o in batch.outcomes:
        if o.status != OK:
            # One GUN: the command's own error line says it, once.
            if o.error is not None and several:
                sys.stderr.write(gun_failure(o.gun, o.error) + "\n")
            continue
        r = o.value
        line = f"{r.gun}: {r.status}"
        if r.message:
            line += f": {r.message}"
        typer.echo(line)
        for w in r.warnings:
            warn(f"{r.gun}: {w}")
    if several:
        info(done_line(batch))


def _batch_error(batch: Any, what: str) -> Any:
    """The error that ends a fetch or publish, or None: exit status by ops.batch."""
    failed = [o.error for o in batch.failed if o.error is not None]
    return batch.error(
        f"{what} failed for {len(failed)} of {len(batch.outcomes)} GUN(s)"
        # With several GUNs each failure has its own line already.
        + (f": {failed[0].message}" if len(failed) == 1 == len(batch.outcomes) else "")
    )


@writes(creates=True)
def fetch(
    ctx: typer.Context,
    guns: GunsArgument = None,
    server: ServerOption = "",
    tls_ca: CaOption = None,
    tls_cert: CertOption = None,
    tls_key: KeyOption = None,
    insecure: InsecureOption = False,
    username: UserOption = None,
    password_stdin: PasswordStdin = False,
    all_guns: AllOption = False,
    json_: JsonOption = False,
) -> None:
    """Refresh published metadata from a Notary server, verified against the trusted root.

    For a GUN the server does not know yet, records its timestamp and snapshot
    keys so the offline side can initialise it. Each request must end within
    60 s and each GUN within 300 s, or that GUN fails.

    Example: offtrust fetch example.com/app --server https://notary.example.com:4443
    """
    from offtrust.ops.batch import run_batch
    from offtrust.ops.online import fetch_gun

    client = _client(server, tls_ca, insecure, username, password_stdin, tls_cert, tls_key)
    c = context(ctx)
    batch = run_batch(
        progress(resolve_guns(ctx, guns, all_guns), "fetching"),
        lambda gun: fetch_gun(c, gun, client),
    )
    _print_results(batch, json_)
    error = _batch_error(batch, "fetch")
    if error is not None:
        raise error


def publish(
    ctx: typer.Context,
    bundle: BundleArgument,
    server: ServerOption = "",
    tls_ca: CaOption = None,
    tls_cert: CertOption = None,
    tls_key: KeyOption = None,
    insecure: InsecureOption = False,
    username: UserOption = None,
    password_stdin: PasswordStdin = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan only.")] = False,
    json_: JsonOption = False,
) -> None:
    """Upload a bundle's metadata to a Notary server, GUN by GUN, and verify the result.

    Refuses a GUN whose server state moved past the bundle's base; safe to run twice.
    Each request must end within 60 s and each GUN within 300 s, or that GUN fails.

    Example: offtrust publish ceremony.bundle --server https://notary.example.com:4443
    """
    from offtrust.ops.batch import run_batch
    from offtrust.ops.online import publish_gun

    b = _read_bundle_file(bundle)
    client = _client(server, tls_ca, insecure, username, password_stdin, tls_cert, tls_key)
    c = context(ctx, required=False)
    info(f"bundle sha256:{b.sha256}")
    batch = run_batch(
        progress([b.guns[g] for g in sorted(b.guns)], "publishing"),
        lambda entry: publish_gun(c, entry, client, dry_run=dry_run),
    )
    _print_results(batch, json_)
    error = _batch_error(batch, "publish")
    if error is not None:
        raise error


def register(app: typer.Typer) -> None:
    app.command("status")(status)
    app.command("diff")(diff)
    app.command("reset")(reset)
    app.command("stage")(stage)
    app.command("rebase")(rebase)
    app.add_typer(bundle_app, name="bundle")
    app.command("fetch")(fetch)
    app.command("publish")(publish)
