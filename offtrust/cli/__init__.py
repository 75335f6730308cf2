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


class OfftrustGroup(TyperGroup):
    """The root group: the single catch point for offtrust errors."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
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
    context_settings={"help_option_names": ["-h", "--help"]},
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
    from offtrust.cli import bundle, edit, keys, repo

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
