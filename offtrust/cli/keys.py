"""``offtrust key ...``: the local key store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from offtrust.cli._common import JsonOption, context, print_json, print_table, writes

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
    from offtrust.ops.keys import list_keys

    rows = list_keys(context(ctx), gun, with_algorithm=json_)
    if json_:
        # No GUN (root and signer keys) is null, as in every --json output.
        print_json({"keys": [{**r, "gun": r["gun"] or None} for r in rows]})
        return
    if not rows:
        typer.echo("No signing keys found.")
        return
    print_table(
        [["ROLE", "GUN", "KEY ID", "LOCATION"]]
        + [[r["role"], r["gun"], r["keyid"], r["location"]] for r in rows]
    )


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
