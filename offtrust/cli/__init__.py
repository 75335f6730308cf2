"""The ``offtrust`` command line: a thin Typer layer over :mod:`offtrust.ops`.

Every :class:`~offtrust.errors.OfftrustError` is caught in one place
(:class:`OfftrustGroup`) and turned into one line on stderr and the contract's
exit status. Heavy modules are imported inside the commands so that the CLI
answers instantly, and the command tree itself is built lazily: ``--help``
lists the commands from :data:`COMMANDS` without importing their modules, and
a command's module is imported, and its parameters turned into click
objects, only when it runs (see "the command tree, built lazily" below).

Any other exception is a bug (every foreign exception is meant to be wrapped
where it enters). It still ends in one line, ``offtrust: error: internal
error: <ExceptionClass>``, and exit status 1: its message is not shown, since
it could quote a passphrase or a key. ``--debug`` (or ``OFFTRUST_DEBUG=1``)
shows the traceback instead, never with local variables.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from offtrust import __version__
from offtrust.errors import OfftrustError

INTERNAL_ERROR_HINT = "rerun with --debug (or OFFTRUST_DEBUG=1) to see the traceback"

# Exceptions the command-line framework turns into its own messages and exit
# statuses (usage errors, --help, Exit), and a closed output pipe, which main()
# handles: none of them is an internal error. Typer re-exports Click's classes
# or, since 0.2x, ships its own; the usage errors' base is found either way.
_PASS_THROUGH: tuple[type[BaseException], ...] = (
    *[c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"],
    typer.Abort,
    typer.Exit,
    BrokenPipeError,
)

# Set by the root callback when --debug is given, for main() to see.
_debug_requested = False


def _debugging(ctx: typer.Context | None = None) -> bool:
    """Whether tracebacks were asked for: ``--debug`` or ``OFFTRUST_DEBUG=1``."""
    if ctx is not None and (ctx.obj or {}).get("debug"):
        return True
    return _debug_requested or os.environ.get("OFFTRUST_DEBUG") == "1"


def report_internal_error(error: BaseException) -> None:
    """The one line for a bug: the exception's class only, never its message."""
    sys.stderr.write(f"offtrust: error: internal error: {type(error).__name__}\n")
    sys.stderr.write(f"hint: {INTERNAL_ERROR_HINT}\n")


def _usage_hint(ctx: Any) -> str:
    """``offtrust COMMAND --help`` for the command a usage error is about."""
    names: list[str] = []
    while ctx is not None:
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    # The root's name is how it was started (``python -m offtrust``, a path):
    # the hint names the installed command instead.
    return " ".join(["offtrust", *[n for n in reversed(names[:-1]) if n], "--help"])


def _usage_message(error: Any) -> str:
    """Click's wording of a usage error, in the contract's one-line form."""
    kind = type(error).__name__
    param = getattr(error, "param", None)
    if kind == "MissingParameter" and param is not None:
        if getattr(param, "param_type_name", "") == "argument":
            return f"missing argument {param.human_readable_name}"
        opts = getattr(param, "opts", None) or [param.name or "?"]
        return f"missing option {max(opts, key=len)}"
    if kind == "NoSuchOption":
        text = f"no such option: {error.option_name}"
        possibilities = sorted(getattr(error, "possibilities", None) or [])
        if possibilities:
            text += f" (did you mean {' or '.join(possibilities)}?)"
        return text
    if kind == "BadParameter" or (param is not None and kind != "UsageError"):
        name = param.human_readable_name if param is not None else "a value"
        if param is not None and getattr(param, "param_type_name", "") == "option":
            name = max(param.opts or [name], key=len)
        return f"invalid value for {name}: {_plain(error.message)}"
    return _plain(error.format_message())


def _plain(text: str) -> str:
    """One line, starting in lower case, with no final full stop."""
    line = " ".join(str(text).split())
    if line[:1].isupper() and not line[1:2].isupper():
        line = line[0].lower() + line[1:]
    return line.rstrip(".")


def report_usage_error(error: Any) -> int:
    """Print a usage error of the command-line framework as one line and a hint.

    Returns:
        The exit status: 2, the contract's status for bad usage.
    """
    if type(error).__name__ == "NoArgsIsHelpError":
        # A bare group (``offtrust key``): its help is the answer, as usage.
        error.show()
        return 2
    sys.stderr.write(f"offtrust: error: {_usage_message(error)}\n")
    from offtrust.cli._common import pasteable

    sys.stderr.write(f"hint: {pasteable(_usage_hint(getattr(error, 'ctx', None)))}\n")
    return 2 if type(error).__name__ != "FileError" else int(error.exit_code)


#: The framework's usage errors (missing argument, bad value, no such option).
_CLICK_EXCEPTION: tuple[type[BaseException], ...] = tuple(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)


def _summary(help_text: str | None) -> str:
    """The first paragraph of a command's help, on one line: its whole summary."""
    first = (help_text or "").strip().split("\n\n")[0]
    return " ".join(first.split())


def _polish(command: Any) -> None:
    """Help that reads the same with every supported typer version.

    Each command's summary in its group's list is its whole first paragraph
    (wrapped, never cut with "..." at 80 columns), and no option shows an
    automatic ``[default: ...]``: the help text says the default in words
    where there is one, and an empty or placeholder default (``--output``
    required by the command, ``--dir`` meaning here) would only mislead.
    """
    for param in getattr(command, "params", []):
        if getattr(param, "param_type_name", "") == "option":
            param.show_default = False
    commands = getattr(command, "commands", None) or {}
    if isinstance(commands, _LazyCommands):
        return  # each is polished when it is built
    for sub in commands.values():
        if not sub.short_help:
            sub.short_help = _summary(sub.help)
        _polish(sub)


class _LazyGroup(TyperGroup):
    """A group whose sub-commands are built on first use (see :class:`_LazyCommands`).

    Its help lists them from their summaries, which need no building.
    """

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # the names only: TyperGroup's builds them all

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        # TyperGroup.format_commands, with the summaries known without building.
        commands = self.commands
        rows = []
        for name in self.list_commands(ctx):
            known = commands.describe(name) if isinstance(commands, _LazyCommands) else None
            if known is None:
                command = self.get_command(ctx, name)
                if command is None or command.hidden:
                    continue
                limit = formatter.width - 6 - max(len(n) for n in self.list_commands(ctx))
                rows.append((name, command.get_short_help_str(limit)))
            elif not known[0]:
                rows.append((name, known[1]))
        if rows:
            from gettext import gettext

            with formatter.section(gettext("Commands")):
                formatter.write_dl(rows)


class OfftrustGroup(_LazyGroup):
    """The root group: the single catch point for offtrust errors.

    Its commands are built only when used: its help lists them from
    :data:`COMMANDS`, without importing their modules.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _polish(self)
        sources = {
            name: _Source(functools.partial(build_command, name), (False, summary))
            for name, (_, summary) in COMMANDS.items()
        }
        self.commands = _LazyCommands(sources, missing=build_command)

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        # Usage errors of the root's own options (``offtrust --bogus``).
        try:
            return super().make_context(*args, **kwargs)
        except _CLICK_EXCEPTION as e:
            raise typer.Exit(report_usage_error(e)) from None

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except _CLICK_EXCEPTION as e:
            if _debugging(ctx):
                raise
            raise typer.Exit(report_usage_error(e)) from None
        except OfftrustError as e:
            if _debugging(ctx):
                raise
            sys.stderr.write(f"offtrust: error: {e.message}\n")
            if e.hint:
                from offtrust.cli._common import pasteable

                sys.stderr.write(f"hint: {pasteable(e.hint)}\n")
            raise typer.Exit(e.exit_code) from None
        except KeyboardInterrupt:
            sys.stderr.write("offtrust: interrupted\n")
            raise typer.Exit(130) from None
        except _PASS_THROUGH:
            raise
        except Exception as e:
            if _debugging(ctx):
                raise
            report_internal_error(e)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=OfftrustGroup,
    name="offtrust",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"offtrust {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    trust_dir: Annotated[
        Path | None,
        typer.Option(
            "--trust-dir",
            "-d",
            help="The exported Docker trust directory "
            "(default: $OFFTRUST_TRUST_DIR, $DOCKER_CONFIG/trust, ~/.docker/trust).",
            show_default=False,
        ),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks instead of one-line errors.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Manage Docker Content Trust (Notary / TUF) keys and metadata offline.

    Example: offtrust -d ./trust verify --all
    """
    global _debug_requested
    _debug_requested = debug
    ctx.obj = {"trust_dir": trust_dir, "debug": debug}
    from offtrust.cli._common import GIVEN_TRUST_DIR

    GIVEN_TRUST_DIR[0] = trust_dir


# -- the command tree, built lazily ---------------------------------------------
#
# Building click objects for every parameter of every command, and importing
# every command module, took most of the start-up time of `offtrust --help`.
# Commands are registered by *units* (each imports its modules and calls their
# `register` functions) on a registry app, not on the root: a unit is loaded
# the first time one of its commands is needed, and only that command is built.
# The root's help lists the commands from COMMANDS, without loading anything.


def _unit_keys(tree: typer.Typer) -> None:
    from offtrust.cli import keys

    tree.add_typer(keys.app, name="key")


def _unit_rotate(tree: typer.Typer) -> None:
    from offtrust.cli import keys, rotate

    rotate.register(keys.app)


def _unit_repo(tree: typer.Typer) -> None:
    from offtrust.cli import repo

    repo.register(tree)
    tree.add_typer(repo.delegation_app, name="delegation")


def _unit_edit(tree: typer.Typer) -> None:
    from offtrust.cli import edit, repo

    edit.register(tree, repo.delegation_app)


def _unit_bundle(tree: typer.Typer) -> None:
    from offtrust.cli import bundle

    bundle.register(tree)


#: Every unit, in registration order (the order of the root's help).
UNITS = {
    "keys": _unit_keys,
    "rotate": _unit_rotate,
    "repo": _unit_repo,
    "edit": _unit_edit,
    "bundle": _unit_bundle,
}

#: Every command of the root, in the order of its help: the units that make
#: it (the one that creates it and those that add sub-commands to it) and
#: its one-line summary, the first paragraph of its help. A test checks this
#: table against the commands the units make (tests/unit/cli/test_lazy_commands.py):
#: a new root command, or one a unit starts changing, goes in here.
COMMANDS: dict[str, tuple[tuple[str, ...], str]] = {
    "inspect": (
        ("repo",),
        "Show signed tags, signers and administrative keys, as `docker trust inspect`.",
    ),
    "verify": (("repo",), "Verify the whole TUF chain offline (all GUNs when none is named)."),
    "doctor": (
        ("repo",),
        "Audit the whole trust directory; name each problem and the command that fixes it.",
    ),
    "witness": (
        ("edit",),
        'Re-sign delegations with the valid local keys (fixes "no valid signatures").',
    ),
    "resign": (
        ("edit",),
        "Re-sign roles with the local keys: new version and expiry, same content.",
    ),
    "status": (
        ("bundle",),
        "List the staged edits of each GUN (default: every GUN with edits not yet published).",
    ),
    "diff": (
        ("bundle",),
        "Show the staged edits of a GUN against its published state (unified diff).",
    ),
    "reset": (("bundle",), "Drop the staged edits of the given GUNs."),
    "stage": (
        ("bundle",),
        "Pack the staged, signed metadata into one deterministic bundle; print its sha256.",
    ),
    "rebase": (
        ("bundle",),
        "Replay the staged edits of GUNs on their newer published state (after fetch).",
    ),
    "fetch": (
        ("bundle",),
        "Refresh published metadata from a Notary server, verified against the trusted root.",
    ),
    "publish": (
        ("bundle",),
        "Upload a bundle's metadata to a Notary server, GUN by GUN, and verify the result.",
    ),
    "key": (
        ("keys", "rotate"),
        "List, generate, load, export and remove local private keys.",
    ),
    "repo": (("repo",), "Whole repositories: delete one."),
    "delegation": (
        ("repo", "edit"),
        "List and edit delegations (like `notary delegation ...`).",
    ),
    "signer": (("edit",), "Add and remove signers (like `docker trust signer ...`)."),
    "target": (("edit",), "Sign and revoke tags offline (like `docker trust sign/revoke`)."),
    "bundle": (("bundle",), "Read and check bundles offline."),
}

#: Each loaded unit's registry: the app its commands are added to (never run).
_LOADED: dict[str, typer.Typer] = {}


def load_units(names: Any = None) -> typer.Typer:
    """Load these units (default: all), each once per process.

    Returns:
        An app holding the commands of every loaded unit, in registration
        order whatever order they were loaded in (never run itself).
    """
    wanted = set(UNITS if names is None else names)
    for name, unit in UNITS.items():
        if name in wanted and name not in _LOADED:
            _LOADED[name] = typer.Typer()
            unit(_LOADED[name])
    tree = typer.Typer()
    for name in UNITS:
        if name in _LOADED:
            tree.registered_commands += _LOADED[name].registered_commands
            tree.registered_groups += _LOADED[name].registered_groups
    return tree


def _registered(name: str) -> Any:
    """The click command *name* of the loaded units, built now, or None."""
    source = _sources(load_units(())).get(name)
    return None if source is None else source.build()


def build_command(name: str) -> Any:
    """The click command *name* of the root, or None when there is none.

    Only the units that make it are loaded (all of them for a name the table
    does not know, so a command missing from it still runs).
    """
    units = COMMANDS[name][0] if name in COMMANDS else None
    load_units(units)
    command = _registered(name)
    if command is None and units is not None:
        load_units()
        command = _registered(name)
    return command


class _Source:
    """How to build one sub-command, and (hidden, summary) when known without building."""

    __slots__ = ("build", "describe")

    def __init__(self, build: Callable[[], Any], describe: tuple[bool, str] | None) -> None:
        self.build = build
        self.describe = describe


def _short(short_help: str | None, help_text: str | None) -> str:
    """What ``get_short_help_str`` answers once :func:`_polish` set the summary."""
    import inspect

    return inspect.cleandoc(short_help or _summary(help_text)).strip()


def _sources(instance: typer.Typer) -> dict[str, _Source]:
    """The sub-commands of a Typer app, by name, in typer's order (commands, then groups)."""
    import inspect

    import typer.main

    options: dict[str, Any] = {
        "pretty_exceptions_short": app.pretty_exceptions_short,
        "rich_markup_mode": app.rich_markup_mode,
    }
    out: dict[str, _Source] = {}
    for info in instance.registered_commands:
        callback: Any = info.callback
        name = info.name or typer.main.get_command_name(callback.__name__)
        text = inspect.getdoc(callback) if info.help is None else inspect.cleandoc(info.help)
        described = None if info.deprecated else (bool(info.hidden), _short(info.short_help, text))
        out[name] = _Source(
            functools.partial(typer.main.get_command_from_info, info, **options), described
        )
    for group in instance.registered_groups:
        solved = typer.main.solve_typer_info_defaults(group)
        if not solved.name:
            continue  # merged into its parent by typer: not made by offtrust
        described = (
            None
            if solved.deprecated
            else (bool(solved.hidden), _short(solved.short_help, solved.help))
        )
        out[solved.name] = _Source(functools.partial(_group, group), described)
    return out


def _group(info: Any) -> Any:
    """The click group of a sub-app, its own sub-commands built on first use."""
    import copy

    import typer.main

    instance = info.typer_instance
    solved = typer.main.solve_typer_info_defaults(info)
    options: dict[str, Any] = {
        "pretty_exceptions_short": app.pretty_exceptions_short,
        "rich_markup_mode": app.rich_markup_mode,
        "suggest_commands": app.suggest_commands,
    }
    if solved.cls not in (None, TyperGroup) or any(
        not typer.main.solve_typer_info_defaults(g).name for g in instance.registered_groups
    ):
        return typer.main.get_group_from_info(info, **options)  # built as typer builds it
    shell = copy.copy(instance)
    shell.registered_commands = []
    shell.registered_groups = []
    shell_info = copy.copy(info)
    shell_info.typer_instance = shell
    shell_info.cls = _LazyGroup
    group = typer.main.get_group_from_info(shell_info, **options)
    group.commands = _LazyCommands(_sources(instance))
    return group


class _LazyCommands(MutableMapping[str, Any]):
    """The sub-commands of a group: known by name, each built (and polished) on first use.

    Args:
        sources: how to build each one, in the order of the group's help.
        missing: builds a command the sources do not name, or returns None.
    """

    def __init__(
        self, sources: dict[str, _Source], missing: Callable[[str], Any] | None = None
    ) -> None:
        self._sources = sources
        self._missing = missing
        self._built: dict[str, Any] = {}

    def describe(self, name: str) -> tuple[bool, str] | None:
        """(hidden, summary) of *name* without building it, or None when unknown."""
        source = self._sources.get(name)
        return None if name in self._built or source is None else source.describe

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            source = self._sources.get(name)
            if source is not None:
                command = source.build()
            elif self._missing is not None:
                command = self._missing(name)
            else:
                command = None
            if command is None:
                raise KeyError(name)
            if not command.short_help:
                command.short_help = _summary(command.help)
            _polish(command)
            self._built[name] = command
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        yield from self._sources
        yield from (name for name in self._built if name not in self._sources)

    def __len__(self) -> int:
        return len(self._sources) + sum(1 for n in self._built if n not in self._sources)

    def __contains__(self, name: object) -> bool:
        return name in self._sources or name in self._built


def main() -> None:
    """Console-script entry point: the last-resort handler of the module docstring."""
    # Text that is not UTF-8 (a file name given in another encoding) is shown
    # escaped rather than failing the command once its work is done.
    with contextlib.suppress(AttributeError, ValueError):
        sys.stdout.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    try:
        app()
    except BrokenPipeError:
        # Output piped into `head` and the like: not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
    except KeyboardInterrupt:
        sys.stderr.write("offtrust: interrupted\n")
        sys.exit(130)
    except Exception as e:
        # Raised outside the group's catch point (while parsing the command
        # line), or re-raised by it for --debug.
        if _debugging():
            raise
        report_internal_error(e)
        sys.exit(1)
