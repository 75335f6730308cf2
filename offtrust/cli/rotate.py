"""``offtrust key rotate``: new root, targets or snapshot keys, offline."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from offtrust.cli._common import GunArgument, context, describe_commit, info, passphrases, writes


@writes()
def key_rotate(
    ctx: typer.Context,
    gun: GunArgument,
    role: Annotated[str, typer.Argument(help="root, targets or snapshot.")],
    key: Annotated[
        list[str],
        typer.Option(
            "--key",
            "-k",
            help="A PEM private key (stored encrypted), an X.509 certificate (root; its "
            "private key may be held elsewhere), a PEM public key (targets, snapshot), or "
            "the ID of a local key (renews a root certificate over the same key). "
            "Repeatable for root. Default: a new ECDSA P-256 key.",
        ),
    ] = [],  # noqa: B006 - Typer reads the default, never mutated
    threshold: Annotated[
        int | None,
        typer.Option("--threshold", help="Root keys needed to sign (default 1)."),
    ] = None,
    server_managed: Annotated[
        bool,
        typer.Option(
            "--server-managed",
            "-r",
            help="snapshot only: hand the snapshot to the server's key recorded by "
            "`offtrust fetch` (as `notary key rotate GUN snapshot -r`).",
        ),
    ] = False,
    expires: Annotated[
        str | None,
        typer.Option("--expires", help="Lifetime of what is signed, e.g. 10y (default: notary's)."),
    ] = None,
) -> None:
    """Rotate the root, targets or snapshot keys of a GUN offline, like `notary key rotate`.

    Root v+1 is signed by the trusted root's keys and by the new ones, so
    clients that pinned the old root accept it; a threshold not met here is
    completed with `offtrust bundle sign`. Stage and publish it as any edit.

    Renewing an expiring root certificate over the same key: `--key KEYID`
    (the root key's ID in `offtrust key list`).

    Example: offtrust key rotate example.com/app root
    """
    from offtrust.ops.edit import parse_duration
    from offtrust.ops.rotate import rotate_key

    lifetime = parse_duration(expires) if expires else None
    result = rotate_key(
        context(ctx),
        gun,
        role,
        passphrases(),
        key_specs=list(key),
        threshold=threshold,
        server_managed=server_managed,
        expires_in=lifetime,
    )
    _describe_keys(gun, result)
    describe_commit(gun, result.commit)


def _describe_keys(gun: str, result: Any) -> None:
    for k in result.keys:
        where = "new, stored" if k["new"] else ("local" if k["local"] else "held elsewhere")
        if k["canonical_id"] != k["keyid"]:
            # A root lists a certificate's ID; `key list` shows the private key's.
            where = f"certificate of key {k['canonical_id'][:12]}, {where}"
        info(f"{gun}: {result.role} key {k['keyid']} ({where})")
    typer.echo("\n".join(k["keyid"] for k in result.keys))


def register(key_app: typer.Typer) -> None:
    """Add ``rotate`` to the ``offtrust key`` sub-app."""
    key_app.command("rotate")(key_rotate)
