"""Commands that stage edits: signer, delegation add/remove/purge, target, witness."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from offtrust.cli._common import (
    AllOption,
    GunArgument,
    GunsArgument,
    YesOption,
    confirm,
    context,
    describe_commit,
    is_interactive,
    passphrases,
    per_gun,
    read_public_keys,
    resolve_guns,
    writes,
)

signer_app = typer.Typer(
    help="Add and remove signers (like `docker trust signer ...`).", no_args_is_help=True
)
target_app = typer.Typer(
    help="Sign and revoke tags offline (like `docker trust sign/revoke`).", no_args_is_help=True
)

KeyFiles = Annotated[
    list[Path],
    typer.Option("--key", "-k", help="PEM public key or X.509 certificate (repeatable)."),
]


@signer_app.command("add")
@writes()
def signer_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Signer name, e.g. alice.")],
    guns: GunsArgument = None,
    key: KeyFiles = [],  # noqa: B006 - Typer reads the default, never mutated
    all_guns: AllOption = False,
) -> None:
    """Add a signer's keys to targets/NAME and targets/releases, offline.

    A GUN with no metadata yet is initialised as Docker would (after `offtrust fetch`).

    Example: offtrust signer add alice example.com/app --key alice.pub
    """
    from offtrust.ops.delegations import signer_add as op

    keys = read_public_keys(key)
    c = context(ctx)
    source = passphrases()
    per_gun(
        resolve_guns(ctx, guns, all_guns),
        lambda gun: op(c, name, gun, keys, source),
        describe_commit,
        label=f"signer add {name}",
    )


@signer_app.command("remove")
@writes()
def signer_remove(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Signer name.")],
    guns: GunsArgument = None,
    yes: YesOption = False,
    all_guns: AllOption = False,
) -> None:
    """Remove targets/NAME and the signer's keys from targets/releases, offline.

    Example: offtrust signer remove alice example.com/app
    """
    from offtrust.errors import ConflictError
    from offtrust.ops.delegations import signer_remove as op

    c = context(ctx)
    source = passphrases()

    def action(gun: str) -> object:
        try:
            return op(c, name, gun, source, force=yes)
        except ConflictError as e:
            if not is_interactive():
                raise
            confirm(f"{e.message}. Remove {name} anyway?", yes=False)
            return op(c, name, gun, source, force=True)

    per_gun(
        resolve_guns(ctx, guns, all_guns),
        action,
        describe_commit,
        skip_absent=all_guns,
        label=f"signer remove {name}",
    )


@writes()
def delegation_add(
    ctx: typer.Context,
    gun: GunArgument,
    role: Annotated[str, typer.Argument(help="Delegation role, e.g. targets/releases.")],
    key: KeyFiles = [],  # noqa: B006
    path: Annotated[list[str], typer.Option("--path", help="Path prefix (repeatable).")] = [],  # noqa: B006
    all_paths: Annotated[bool, typer.Option("--all-paths", help="Delegate every path.")] = False,
    threshold: Annotated[int | None, typer.Option("--threshold", help="Signatures needed.")] = None,
) -> None:
    """Create a delegation or add keys, paths or a threshold to it.

    Example: offtrust delegation add example.com/app targets/qa --key qa.pub --all-paths
    """
    from offtrust.ops.delegations import delegation_add as op

    keys = read_public_keys(key)
    result = op(
        context(ctx),
        gun,
        role,
        keys,
        passphrases(),
        paths=path,
        all_paths=all_paths,
        threshold=threshold,
    )
    describe_commit(gun, result)


@writes()
def delegation_remove(
    ctx: typer.Context,
    gun: GunArgument,
    role: Annotated[str, typer.Argument(help="Delegation role.")],
    keyids: Annotated[list[str] | None, typer.Argument(help="Only remove these key IDs.")] = None,
    yes: YesOption = False,
) -> None:
    """Remove a whole delegation, or only some of its keys.

    Example: offtrust delegation remove example.com/app targets/releases 1a2b3c4d5e6f
    """
    from offtrust.ops.delegations import delegation_remove as op

    if not keyids:
        confirm(f"remove the whole delegation {role} of {gun}?", yes=yes)
    describe_commit(gun, op(context(ctx), gun, role, keyids or [], passphrases()))


@writes()
def delegation_purge(
    ctx: typer.Context,
    guns: GunsArgument = None,
    key: Annotated[str, typer.Option("--key", help="Key ID to remove everywhere.")] = "",
    all_guns: AllOption = False,
) -> None:
    """Remove one key from every delegation of the given GUNs.

    Example: offtrust delegation purge --all --key 1a2b3c4d5e6f
    """
    from offtrust.errors import UsageError
    from offtrust.ops.delegations import delegation_purge as op

    if not key:
        raise UsageError("--key KEYID is required")
    c = context(ctx)
    source = passphrases()
    per_gun(
        resolve_guns(ctx, guns, all_guns),
        lambda g: op(c, g, key, source),
        describe_commit,
        skip_absent=all_guns,
        label=f"delegation purge {key[:12]}",
    )


@writes()
def witness(
    ctx: typer.Context,
    gun: GunArgument,
    roles: Annotated[list[str], typer.Argument(help="Roles to re-sign.")],
) -> None:
    """Re-sign delegations with the valid local keys (fixes "no valid signatures").

    Example: offtrust witness example.com/app targets/releases
    """
    from offtrust.ops.delegations import witness as op

    describe_commit(gun, op(context(ctx), gun, roles, passphrases()))


@writes()
def resign(
    ctx: typer.Context,
    gun: GunArgument,
    roles: Annotated[
        list[str] | None, typer.Argument(help="Roles (default: all signable).")
    ] = None,
    expires: Annotated[
        str | None,
        typer.Option("--expires", help="Lifetime, e.g. 90d, 6w, 3y (default: notary's)."),
    ] = None,
) -> None:
    """Re-sign roles with the local keys: new version and expiry, same content.

    Example: offtrust resign example.com/app targets --expires 2y
    """
    from offtrust.ops.edit import parse_duration
    from offtrust.ops.edit import resign as op

    lifetime = parse_duration(expires) if expires else None
    describe_commit(gun, op(context(ctx), gun, roles or [], passphrases(), expires_in=lifetime))


RoleOption = Annotated[
    str | None,
    typer.Option(
        "--role", "-r", help="Only this role (default: every role docker trust would use)."
    ),
]


TagArgument = Annotated[
    str | None, typer.Argument(help="The tag (or give GUN:TAG as the first argument).")
]


def _gun_and_tag(gun: str, tag: str | None) -> tuple[str, str]:
    """``GUN TAG`` or Docker's ``GUN:TAG``.

    Raises:
        UsageError: no tag either way, or both.
    """
    from offtrust.errors import UsageError
    from offtrust.ops.inspect import split_reference

    name, in_reference = split_reference(gun)
    if tag is not None and in_reference is not None:
        raise UsageError(f"give the tag once: {gun} {tag}")
    found = tag if tag is not None else in_reference
    if found is None:
        raise UsageError("name the tag: GUN TAG, or GUN:TAG")
    return (gun if tag is not None else name), found


@target_app.command("add")
@writes()
def target_add(
    ctx: typer.Context,
    gun: GunArgument,
    tag: TagArgument = None,
    digest: Annotated[
        str, typer.Option("--digest", help="sha256:HEX of the manifest.", show_default=False)
    ] = "",
    size: Annotated[
        int | None, typer.Option("--size", help="Manifest size in bytes.", show_default=False)
    ] = None,
    role: RoleOption = None,
) -> None:
    """Sign a tag offline, like `docker trust sign`.

    Into targets/releases and every signer role whose key is local (or only
    --role), so inspect names the signer.

    Example: offtrust target add example.com/app:v1 --digest sha256:ab… --size 528
    """
    from offtrust.errors import UsageError
    from offtrust.ops.targets import target_add as op

    if not digest or size is None:
        raise UsageError("give --digest sha256:HEX and --size BYTES of the manifest")
    gun, tag = _gun_and_tag(gun, tag)
    describe_commit(gun, op(context(ctx), gun, tag, digest, size, passphrases(), role=role))


@target_app.command("remove")
@writes()
def target_remove(
    ctx: typer.Context,
    gun: GunArgument,
    tag: TagArgument = None,
    role: RoleOption = None,
) -> None:
    """Revoke a tag offline, like `docker trust revoke`.

    From targets/releases and every signer role whose key is local that holds
    it (or only --role).

    Example: offtrust target remove example.com/app:v1
    """
    from offtrust.ops.targets import target_remove as op

    gun, tag = _gun_and_tag(gun, tag)
    describe_commit(gun, op(context(ctx), gun, tag, passphrases(), role=role))


def register(app: typer.Typer, delegation_app: typer.Typer) -> None:
    app.add_typer(signer_app, name="signer")
    app.add_typer(target_app, name="target")
    delegation_app.command("add")(delegation_add)
    delegation_app.command("remove")(delegation_remove)
    delegation_app.command("purge")(delegation_purge)
    app.command("witness")(witness)
    app.command("resign")(resign)
