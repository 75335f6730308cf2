"""``offtrust key ...``: the local key store."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from offtrust.cli._common import JsonOption, YesOption, context, writes

app = typer.Typer(
    help="List, generate, load, export and remove local private keys.",
    no_args_is_help=True,
)


@app.command("list")
def key_list(
    ctx: typer.Context,
    gun: Annotated[str | None, typer.Option("--gun", help="Only keys of this GUN.")] = None,
    json_: JsonOption = False,
) -> None:
    """List the local private keys (ROLE, GUN, KEY ID, LOCATION), like `notary key list`.

    Example: offtrust key list --json
    """
    from offtrust._entry import key_rows_json, key_rows_table
    from offtrust.ops.keys import key_rows

    # The same output as `python -m offtrust`'s own plain `key list` (offtrust._entry).
    rows = key_rows(context(ctx), gun, with_algorithm=json_)
    sys.stdout.write(key_rows_json(rows) if json_ else key_rows_table(rows))


@app.command("generate")
@writes(creates=True)
def key_generate(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Key name (role), e.g. alice.")],
    directory: Annotated[
        Path, typer.Option("--dir", help="Where NAME.pub is written (default: here).")
    ] = Path("."),
    algorithm: Annotated[
        str, typer.Option("--algorithm", help="ecdsa (default), rsa or ed25519.")
    ] = "ecdsa",
) -> None:
    """Generate a signing key like `docker trust key generate`; writes NAME.pub.

    Example: offtrust key generate alice --dir ./keys
    """
    from offtrust.cli._common import info, passphrases
    from offtrust.ops.keys import generate_key

    result = generate_key(context(ctx), name, directory, passphrases(), algorithm=algorithm)
    if algorithm == "ed25519":
        info(
            "note: notary and docker accept ed25519 public keys only as targets keys, "
            "not as signer keys"
        )
    info(
        f"Successfully generated and loaded private key. Corresponding public key "
        f"available: {result['public_key_file']}"
    )
    typer.echo(result["keyid"])


@app.command("load")
@writes(creates=True)
def key_load(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="PEM private key file.")],
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            help="Key name (role); default: the file's role header, else 'signer'. "
            "A header that says otherwise is refused.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Load a PEM private key into the store like `docker trust key load`.

    Signer keys only: a file whose role header names another key, or a root,
    targets, snapshot or timestamp key, is refused (`offtrust key import FILE
    --role ROLE` imports those on purpose).

    Example: offtrust key load alice.key --name alice
    """
    from offtrust.cli._common import info, passphrases
    from offtrust.ops.keys import load_key

    result = load_key(context(ctx), file, name, passphrases())
    info(f"Successfully imported key from {file} as role {result['role']}")
    typer.echo(result["keyid"])


@app.command("import")
@writes(creates=True)
def key_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="PEM private key file (one key).")],
    role: Annotated[
        str,
        typer.Option(
            "--role",
            "-r",
            help="root, targets, snapshot, timestamp, a delegation (targets/NAME) or a "
            "key name. A role header in the file that says otherwise is refused.",
        ),
    ],
    gun: Annotated[
        str | None,
        typer.Option(
            "--gun",
            "-g",
            help="The GUN of a targets, snapshot or timestamp key (else its gun header).",
        ),
    ] = None,
) -> None:
    """Import a private key under ROLE like `notary key import`, checked first.

    Accepts what `key load` accepts (PKCS#8 encrypted or not, SEC1 EC, PKCS#1
    RSA; RSA under 2048 bits refused) and files written by `notary key
    export` / `offtrust key export`. An encrypted file is decrypted with the
    role's passphrase and keeps it; an unencrypted one is encrypted with the
    passphrase of a new key of the role. Stored as notary stores keys.

    Example: offtrust key import root.key --role root
    """
    from offtrust.cli._common import info, passphrases
    from offtrust.ops.keys import import_key

    result = import_key(context(ctx), file, role, gun, passphrases())
    where = f" for {result['gun']}" if result["gun"] else ""
    info(f"Successfully imported key from {file} as role {result['role']}{where}")
    typer.echo(result["keyid"])
    info("done: 1 imported, 0 skipped, 0 failed")


@app.command("export")
@writes(shared=True)
def key_export(
    ctx: typer.Context,
    keyids: Annotated[list[str], typer.Argument(help="Key IDs (or unique prefixes).")],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="File to write (mode 0600; an existing file is not replaced; "
            "'-' for standard output).",
        ),
    ] = Path(),
    public: Annotated[
        bool,
        typer.Option(
            "--public",
            help="Write the public half of one key instead: a PEM public key, or with "
            "--gun a root certificate for GUN as `notary init` makes it.",
        ),
    ] = False,
    gun: Annotated[
        str | None,
        typer.Option("--gun", "-g", help="With --public: the GUN (CN) of the root certificate."),
    ] = None,
) -> None:
    """Export private keys, always encrypted, in a file `notary key import` accepts.

    One PEM block per key, headers kept plus notary's `path:` header. A key
    stored without a passphrase is encrypted with the passphrase of a new key
    of its role. With --public, the public half of one key (a root key needs
    --gun and its passphrase: the certificate is signed with it).

    Example: offtrust key export 1a2b3c4d5e6f --output backup.pem
    """
    from offtrust.cli._common import info, passphrases
    from offtrust.errors import UsageError
    from offtrust.ops.keys import export_keys, export_public
    from offtrust.store.output import check_output, is_stdout, write_output

    if output == Path():
        raise UsageError("--output FILE is required ('-' for standard output)")
    if gun is not None and not public:
        raise UsageError("--gun goes with --public (the GUN of a root certificate)")
    if public and len(keyids) != 1:
        raise UsageError("--public exports one key: name one KEYID")
    to_stdout = is_stdout(output)
    # Refuse a device, FIFO, directory, existing file or missing directory before any work.
    target = None if to_stdout else check_output(output, replace=False)
    c = context(ctx)
    source = passphrases()
    if public:
        data, row = export_public(c, keyids[0], source, gun=gun)
        what = f"root certificate for {gun}" if row["kind"] == "certificate" else "public key"
        lines = [f"Exported the {what} of key {row['keyid']} (role {row['role']})"]
        count = 1
    else:
        data, rows = export_keys(c, keyids, source)
        lines = [
            f"Exported key {r['keyid']} (role {r['role']}"
            + (f", {r['gun']}" if r["gun"] else "")
            + (", encrypted for the export" if r["encrypted_now"] else "")
            + ")"
            for r in rows
        ]
        count = len(rows)
    if target is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        write_output(target, data, mode=0o600, replace=False)
    for line in lines:
        info(line)
    info(f"done: {count} exported, 0 skipped, 0 failed")


@app.command("passwd")
@writes()
def key_passwd(
    ctx: typer.Context,
    keyid: Annotated[str, typer.Argument(help="Key ID (or a unique prefix).")],
) -> None:
    """Change the passphrase of a local key, like `notary key passwd`.

    The old passphrase comes from the usual variables or a hidden prompt and is
    checked first; the new one from a hidden prompt (typed twice) or, for
    scripts, $OFFTRUST_NEW_PASSPHRASE. The key file is rewritten in place,
    headers kept. Keys in the legacy layout are not changed.

    Example: offtrust key passwd 1a2b3c4d5e6f
    """
    from offtrust.cli._common import info, passphrases
    from offtrust.ops.keys import change_passphrase

    result = change_passphrase(context(ctx), keyid, passphrases())
    info(f"Successfully updated passphrase for key ID: {result['keyid']}")
    info("done: 1 changed, 0 skipped, 0 failed")


@app.command("remove")
@writes()
def key_remove(
    ctx: typer.Context,
    keyids: Annotated[list[str], typer.Argument(help="Key IDs (or unique prefixes).")],
    yes: YesOption = False,
) -> None:
    """Remove local private keys (only their key files), after confirmation.

    Every KEYID is checked before any file is removed. A warning names each
    role of a GUN (published or staged) that no local key could sign any more.

    Example: offtrust key remove 1a2b3c4d5e6f --yes
    """
    from offtrust.cli._common import confirm, info, warn
    from offtrust.ops.keys import last_key_warnings, plan_remove, remove_keys

    c = context(ctx)
    infos = plan_remove(c, keyids)
    for line in last_key_warnings(c, infos):
        warn(line)
    names = ", ".join(f"{i.keyid[:12]} (role {i.role})" for i in infos)
    confirm(f"Remove key {names}?" if len(infos) == 1 else f"Remove keys {names}?", yes=yes)
    for row in remove_keys(c, infos):
        info(f"Deleted {row['keyid']} (role {row['role']}) from {row['location']}")
    info(f"done: {len(infos)} removed, 0 skipped, 0 failed")
