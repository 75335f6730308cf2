"""Commands that stage edits: signer, delegation add/remove/purge, target, witness."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NamedTuple

import typer

from offtrust.cli._common import (
    AllOption,
    GunsArgument,
    YesOption,
    complete_gun,
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

#: ``--gun GUN`` (repeatable): the GUNs of a bulk edit whose contract form takes
#: one GUN as its first positional; with it (or ``--all``) the positionals are
#: only the rest (``offtrust witness --gun a/x --gun b/y targets/releases``).
GunOption = Annotated[
    list[str] | None,
    typer.Option(
        "--gun",
        help="Work on this GUN (repeatable); the arguments are then only the rest.",
        autocompletion=complete_gun,
        show_default=False,
    ),
]
#: The first positional of those commands: the GUN, unless --gun or --all names them.
FirstGunArgument = Annotated[
    str | None,
    typer.Argument(
        help="The GUN, e.g. example.com/app (not with --gun or --all).",
        autocompletion=complete_gun,
        show_default=False,
    ),
]


def _bulk_guns(
    ctx: typer.Context, words: list[str], named: list[str] | None, all_guns: bool
) -> tuple[list[str], list[str]]:
    """(the GUNs, the other positionals) of a command written ``GUN REST...``.

    Without ``--gun``/``--all`` the first positional is the only GUN, exactly as
    the contract writes the command; with either, every positional is the rest.

    Raises:
        UsageError: ``--gun`` and ``--all`` together, or no GUN at all.
    """
    from offtrust.errors import UsageError

    if named and all_guns:
        raise UsageError("give --gun or --all, not both")
    if named or all_guns:
        return resolve_guns(ctx, named, all_guns), words
    if not words:
        raise UsageError("name the GUN, or use --gun GUN (repeatable) or --all")
    return [words[0]], words[1:]


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
    gun: FirstGunArgument = None,
    role: Annotated[
        str | None,
        typer.Argument(help="Delegation role, e.g. targets/releases.", show_default=False),
    ] = None,
    key: KeyFiles = [],  # noqa: B006
    path: Annotated[
        list[str], typer.Option("--path", "--paths", help="Path prefix (repeatable).")
    ] = [],  # noqa: B006
    all_paths: Annotated[bool, typer.Option("--all-paths", help="Delegate every path.")] = False,
    threshold: Annotated[int | None, typer.Option("--threshold", help="Signatures needed.")] = None,
    guns: GunOption = None,
    all_guns: AllOption = False,
) -> None:
    """Create a delegation or add keys, paths or a threshold to it.

    With --gun (repeatable) or --all, give only ROLE: each GUN is edited on its
    own; one failing is reported at the end and left unchanged.

    Example: offtrust delegation add example.com/app targets/qa --key qa.pub --all-paths
    """
    from offtrust.errors import UsageError
    from offtrust.ops.delegations import delegation_add as op

    words = [w for w in (gun, role) if w is not None]
    targets, rest = _bulk_guns(ctx, words, guns, all_guns)
    if len(rest) != 1:
        bulk = " (the GUNs come from --gun or --all)" if guns or all_guns else ""
        raise UsageError(f"name one ROLE{bulk}")
    (name,) = rest
    keys = read_public_keys(key)
    c = context(ctx)
    source = passphrases()
    per_gun(
        targets,
        lambda g: op(
            c, g, name, keys, source, paths=path, all_paths=all_paths, threshold=threshold
        ),
        describe_commit,
        label=f"delegation add {name}",
    )


@writes()
def delegation_remove(
    ctx: typer.Context,
    gun: FirstGunArgument = None,
    role: Annotated[str | None, typer.Argument(help="Delegation role.", show_default=False)] = None,
    keyids: Annotated[list[str] | None, typer.Argument(help="Only remove these key IDs.")] = None,
    yes: YesOption = False,
    guns: GunOption = None,
    all_guns: AllOption = False,
) -> None:
    """Remove a whole delegation, or only some of its keys.

    With --gun (repeatable) or --all, give only ROLE [KEYID...]; with --all a
    GUN without the delegation is skipped.

    Example: offtrust delegation remove example.com/app targets/releases 1a2b3c4d5e6f
    """
    from offtrust.errors import UsageError
    from offtrust.ops.delegations import delegation_remove as op

    words = [w for w in (gun, role) if w is not None] + list(keyids or [])
    targets, rest = _bulk_guns(ctx, words, guns, all_guns)
    if not rest:
        raise UsageError("name the ROLE")
    name, ids = rest[0], rest[1:]
    if not ids:
        where = (
            targets[0]
            if len(targets) == 1 and not all_guns
            else ("every GUN" if all_guns else f"{len(targets)} GUNs")
        )
        confirm(f"remove the whole delegation {name} of {where}?", yes=yes)
    c = context(ctx)
    source = passphrases()
    per_gun(
        targets,
        lambda g: op(c, g, name, ids, source),
        describe_commit,
        skip_absent=all_guns,
        label=f"delegation remove {name}",
    )


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
    gun: FirstGunArgument = None,
    roles: Annotated[
        list[str] | None, typer.Argument(help="Roles to re-sign.", show_default=False)
    ] = None,
    guns: GunOption = None,
    all_guns: AllOption = False,
) -> None:
    """Re-sign delegations with the valid local keys (fixes "no valid signatures").

    With --gun (repeatable) or --all, give only the ROLEs; with --all a GUN
    without one of them is skipped.

    Example: offtrust witness example.com/app targets/releases
    """
    from offtrust.errors import UsageError
    from offtrust.ops.delegations import witness as op

    words = ([gun] if gun is not None else []) + list(roles or [])
    targets, names = _bulk_guns(ctx, words, guns, all_guns)
    if not names:
        raise UsageError("name at least one ROLE to re-sign")
    c = context(ctx)
    source = passphrases()
    per_gun(
        targets,
        lambda g: op(c, g, names, source),
        describe_commit,
        skip_absent=all_guns,
        label="witness",
    )


@writes()
def resign(
    ctx: typer.Context,
    gun: FirstGunArgument = None,
    roles: Annotated[
        list[str] | None, typer.Argument(help="Roles (default: all signable).")
    ] = None,
    expires: Annotated[
        str | None,
        typer.Option("--expires", help="Lifetime, e.g. 90d, 6w, 3y (default: notary's)."),
    ] = None,
    guns: GunOption = None,
    all_guns: AllOption = False,
) -> None:
    """Re-sign roles with the local keys: new version and expiry, same content.

    With --gun (repeatable) or --all, give only the ROLEs (or none); with --all
    a GUN without a named role is skipped.

    Example: offtrust resign example.com/app targets --expires 2y
    """
    from offtrust.ops.edit import parse_duration
    from offtrust.ops.edit import resign as op

    words = ([gun] if gun is not None else []) + list(roles or [])
    targets, names = _bulk_guns(ctx, words, guns, all_guns)
    lifetime = parse_duration(expires) if expires else None
    c = context(ctx)
    source = passphrases()
    per_gun(
        targets,
        lambda g: op(c, g, names, source, expires_in=lifetime),
        describe_commit,
        skip_absent=all_guns,
        label="resign",
    )


RoleOption = Annotated[
    str | None,
    typer.Option(
        "--role", "-r", help="Only this role (default: every role docker trust would use)."
    ),
]


TagArgument = Annotated[
    list[str] | None,
    typer.Argument(
        help="The tag; or give GUN:TAG arguments (several allowed); with --gun or --all only TAG.",
        show_default=False,
    ),
]
ReferenceArgument = Annotated[
    str | None,
    typer.Argument(
        help="The GUN, or GUN:TAG (not with --gun or --all).",
        autocompletion=complete_gun,
        show_default=False,
    ),
]


class _Reference(NamedTuple):
    """One GUN and tag of a target command (its ``gun`` names it in the batch report)."""

    gun: str
    tag: str


def _references(
    ctx: typer.Context, words: list[str], named: list[str] | None, all_guns: bool
) -> list[_Reference]:
    """The (GUN, tag) pairs of ``GUN TAG``, ``GUN:TAG...``, or ``--gun GUN... TAG`` / ``--all TAG``.

    Raises:
        UsageError: no tag, a tag given twice, a mix of the forms.
    """
    from offtrust.errors import UsageError
    from offtrust.ops.inspect import split_reference

    if named or all_guns:
        guns, rest = _bulk_guns(ctx, words, named, all_guns)
        if len(rest) != 1 or split_reference(rest[0])[1] is not None:
            raise UsageError("with --gun or --all, give only the TAG")
        return [_Reference(gun, rest[0]) for gun in guns]
    if not words:
        raise UsageError("name the tag: GUN TAG, or GUN:TAG")
    if split_reference(words[0])[1] is None:
        # The contract's ``GUN TAG``.
        if len(words) == 1:
            raise UsageError("name the tag: GUN TAG, or GUN:TAG")
        if len(words) > 2:
            raise UsageError("give GUN TAG, or one or more GUN:TAG")
        return [_Reference(words[0], words[1])]
    references = []
    for word in words:
        name, tag = split_reference(word)
        if tag is None:
            if len(words) == 2:
                raise UsageError(f"give the tag once: {words[0]} {words[1]}")
            raise UsageError(f"{word}: give every reference as GUN:TAG")
        references.append(_Reference(name, tag))
    return references


@target_app.command("add")
@writes()
def target_add(
    ctx: typer.Context,
    gun: ReferenceArgument = None,
    tag: TagArgument = None,
    digest: Annotated[
        str, typer.Option("--digest", help="sha256:HEX of the manifest.", show_default=False)
    ] = "",
    size: Annotated[
        int | None, typer.Option("--size", help="Manifest size in bytes.", show_default=False)
    ] = None,
    role: RoleOption = None,
    guns: GunOption = None,
    all_guns: AllOption = False,
) -> None:
    """Sign a tag offline, like `docker trust sign`.

    Into targets/releases and every signer role whose key is local (or only
    --role), so inspect names the signer. Several GUN:TAG, --gun (repeatable)
    or --all sign the same manifest in each GUN; one failing is reported at
    the end and left unchanged.

    Example: offtrust target add example.com/app:v1 --digest sha256:ab… --size 528
    """
    from offtrust.errors import UsageError
    from offtrust.ops.targets import target_add as op

    if not digest or size is None:
        raise UsageError("give --digest sha256:HEX and --size BYTES of the manifest")
    words = ([gun] if gun is not None else []) + list(tag or [])
    references = _references(ctx, words, guns, all_guns)
    c = context(ctx)
    source = passphrases()
    per_gun(
        references,
        lambda r: op(c, r.gun, r.tag, digest, size, source, role=role),
        describe_commit,
        label="target add",
    )


@target_app.command("remove")
@writes()
def target_remove(
    ctx: typer.Context,
    gun: ReferenceArgument = None,
    tag: TagArgument = None,
    role: RoleOption = None,
    guns: GunOption = None,
    all_guns: AllOption = False,
) -> None:
    """Revoke a tag offline, like `docker trust revoke`.

    From targets/releases and every signer role whose key is local that holds
    it (or only --role). Several GUN:TAG, --gun (repeatable) or --all revoke
    it in each GUN; with --all a GUN without the tag is skipped.

    Example: offtrust target remove example.com/app:v1
    """
    from offtrust.ops.targets import target_remove as op

    words = ([gun] if gun is not None else []) + list(tag or [])
    references = _references(ctx, words, guns, all_guns)
    c = context(ctx)
    source = passphrases()
    per_gun(
        references,
        lambda r: op(c, r.gun, r.tag, source, role=role),
        describe_commit,
        skip_absent=all_guns,
        label="target remove",
    )


def register(app: typer.Typer, delegation_app: typer.Typer) -> None:
    app.add_typer(signer_app, name="signer")
    app.add_typer(target_app, name="target")
    delegation_app.command("add")(delegation_add)
    delegation_app.command("remove")(delegation_remove)
    delegation_app.command("purge")(delegation_purge)
    app.command("witness")(witness)
    app.command("resign")(resign)
