"""The ``offtrust`` command line: a thin Typer layer over :mod:`offtrust.ops`.

Every :class:`~offtrust.errors.OfftrustError` is caught in one place
(:class:`OfftrustGroup`) and turned into one line on stderr and the contract's
exit status. Heavy modules are imported inside the commands so that the CLI
answers instantly.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from offtrust import __version__
from offtrust.errors import OfftrustError


class OfftrustGroup(TyperGroup):
    """The root group: the single catch point for offtrust errors."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except OfftrustError as e:
            if (ctx.obj or {}).get("debug") or os.environ.get("OFFTRUST_DEBUG") == "1":
                raise
            sys.stderr.write(f"offtrust: error: {e.message}\n")
            if e.hint:
                from offtrust.cli._common import pasteable

                sys.stderr.write(f"hint: {pasteable(e.hint)}\n")
            raise typer.Exit(e.exit_code) from None
        except KeyboardInterrupt:
            sys.stderr.write("offtrust: interrupted\n")
            raise typer.Exit(130) from None


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
    """Console-script entry point."""
    try:
        app()
    except BrokenPipeError:
        # Output piped into `head` and the like: not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
