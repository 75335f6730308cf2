"""The ``offtrust`` command line: a thin Typer layer over :mod:`offtrust.ops`.

Every :class:`~offtrust.errors.OfftrustError` is caught in one place
(:class:`OfftrustGroup`) and turned into one line on stderr and the contract's
exit status. Heavy modules are imported inside the commands so that the CLI
answers instantly.

Any other exception is a bug (every foreign exception is meant to be wrapped
where it enters). It still ends in one line, ``offtrust: error: internal
error: <ExceptionClass>``, and exit status 1: its message is not shown, since
it could quote a passphrase or a key. ``--debug`` (or ``OFFTRUST_DEBUG=1``)
shows the traceback instead, never with local variables.
"""

from __future__ import annotations

import contextlib
import os
import sys
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
    sys.stderr.write(f"hint: {_usage_hint(getattr(error, 'ctx', None))}\n")
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
    for sub in (getattr(command, "commands", None) or {}).values():
        if not sub.short_help:
            sub.short_help = _summary(sub.help)
        _polish(sub)


class OfftrustGroup(TyperGroup):
    """The root group: the single catch point for offtrust errors."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _polish(self)

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


def _register() -> None:
    from offtrust.cli import bundle, edit, keys, repo, rotate

    rotate.register(keys.app)
    app.add_typer(keys.app, name="key")
    repo.register(app)
    app.add_typer(repo.delegation_app, name="delegation")
    edit.register(app, repo.delegation_app)
    bundle.register(app)


_register()


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
