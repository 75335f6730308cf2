"""Shared pieces of the command layer: options, output helpers."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
AllOption = Annotated[bool, typer.Option("--all", help="Every GUN in the trust directory.")]
#: ``--yes``, with the words docker and notary users type for it (``--force``/``-f``).
YesOption = Annotated[
    bool, typer.Option("--yes", "-y", "--force", "-f", help="Do not ask for confirmation.")
]


def complete_gun(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion of a GUN: the GUNs of the trust directory given by -d, or the default.

    Never fails: a missing or unreadable trust directory completes nothing.
    """
    from offtrust.store.layout import TrustDir

    given = None
    node: Any = ctx
    while node is not None and given is None:
        given = (node.params or {}).get("trust_dir")
        node = node.parent
    try:
        guns = TrustDir(Path(given or default_trust_dir())).all_guns()
    except Exception:  # noqa: BLE001 - completion must never print a traceback
        return []
    return [gun for gun in guns if gun.startswith(incomplete)]


GunArgument = Annotated[
    str, typer.Argument(help="The GUN, e.g. example.com/app.", autocompletion=complete_gun)
]
GunsArgument = Annotated[
    list[str] | None,
    typer.Argument(help="GUNs, e.g. example.com/app.", autocompletion=complete_gun),
]


def default_trust_dir() -> Path:
    """``$OFFTRUST_TRUST_DIR``, else ``$DOCKER_CONFIG/trust``, else ``~/.docker/trust``."""
    if os.environ.get("OFFTRUST_TRUST_DIR"):
        return Path(os.environ["OFFTRUST_TRUST_DIR"])
    if os.environ.get("DOCKER_CONFIG"):
        return Path(os.environ["DOCKER_CONFIG"]) / "trust"
    return Path.home() / ".docker" / "trust"


def context(ctx: typer.Context, *, required: bool = True) -> Any:
    """The operations context for the trust directory chosen on the command line.

    Args:
        required: the command works on the trust directory, so it must exist
            (unless the command may create it, see :func:`writes`); a bundle
            command run on the networked side passes False.

    Raises:
        NotFoundError: no trust directory there (exit 2, not an empty success),
            with a hint when the path is a docker config directory.
    """
    from offtrust._entry import trust_dir_refusal
    from offtrust.errors import NotFoundError
    from offtrust.ops.context import Context

    obj = ctx.find_root().obj or {}
    path = Path(obj.get("trust_dir") or default_trust_dir())
    if required and not obj.get("may_create"):
        refused = trust_dir_refusal(path)
        if refused is not None:
            message, hint = refused
            raise NotFoundError(message, hint=hint)
    return Context.at(path)


P = ParamSpec("P")
R = TypeVar("R")


def writes(
    *, creates: bool = False, shared: bool = False
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Run the decorated command holding the lock of the trust directory.

    Every command that writes to the trust directory is decorated (under its
    ``@app.command``), so it holds the lock from loading to committing and a
    second one fails at once naming the holder's pid (see
    :meth:`offtrust.ops.context.Context.locked`). Reading commands take none.

    Args:
        creates: the command may create the trust directory (``key generate``,
            ``key load``, ``fetch``).
        shared: the command only needs a consistent view (``stage``).
    """

    def decorate(command: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(command)
        def locked(*args: P.args, **kwargs: P.kwargs) -> R:
            # Typer passes every parameter by name, the context included.
            ctx = kwargs.get("ctx", args[0] if args else None)
            if creates:
                root = ctx.find_root()  # type: ignore[attr-defined]
                root.obj = {**(root.obj or {}), "may_create": True}
            with context(ctx).locked(create=creates, shared=shared):  # type: ignore[arg-type]
                return command(*args, **kwargs)

        return locked

    return decorate


def dumps_indented(value: Any, indent: int = 4, sort_keys: bool = False) -> str:
    """``json.dumps(value, indent=indent, ensure_ascii=False)``, several times faster.

    The standard library falls back to its pure-Python encoder whenever
    ``indent`` is set; this walks containers itself and lets the C encoder
    write the leaves, which matters for 100,000 signed tags.
    """
    leaf = json.JSONEncoder(ensure_ascii=False).encode
    # What ``leaf`` writes for the common scalars, without its Python-level
    # dispatch (a key list of 20,000 rows has 160,000 of them).
    string = json.encoder.encode_basestring
    constants = {True: "true", False: "false", None: "null"}
    pads = ["\n" + " " * (indent * level) for level in range(64)]

    def encode(node: Any, level: int) -> str:
        kind = type(node)
        if kind is str:
            return string(node)
        if kind is bool or node is None:
            return constants[node]
        if kind is int:
            return int.__repr__(node)
        if not isinstance(node, (dict, list, tuple)):
            return leaf(node)
        if not node:
            return "{}" if isinstance(node, dict) else "[]"
        if level + 1 >= len(pads):
            pads.append("\n" + " " * (indent * len(pads)))
        inner, outer = pads[level + 1], pads[level]
        if isinstance(node, dict):
            items = sorted(node.items()) if sort_keys else node.items()
            body = [string(str(key)) + ": " + encode(item, level + 1) for key, item in items]
            return "{" + inner + ("," + inner).join(body) + outer + "}"
        return "[" + inner + ("," + inner).join([encode(i, level + 1) for i in node]) + outer + "]"

    return encode(value, 0)


def print_json(data: Any, *, indent: int = 2, sort_keys: bool = True) -> None:
    from offtrust._entry import go_escape

    sys.stdout.write(go_escape(dumps_indented(data, indent=indent, sort_keys=sort_keys)) + "\n")


#: A command in a hint, except one another key holder runs in their own
#: trust directory (written "... runs `offtrust ...`").
_COMMAND = re.compile(r"(?<![\w./-])(?<!runs `)offtrust (?=[a-z])")


#: The ``-d DIR`` the user gave on this command line (set by the root callback).
GIVEN_TRUST_DIR: list[Path | None] = [None]


def pasteable(text: str) -> str:
    """*text* with every ``offtrust COMMAND`` it names carrying the user's ``-d DIR``.

    A hint is meant to be pasted: when the user named the trust directory, the
    command in the hint must name the same one.
    """
    trust_dir = GIVEN_TRUST_DIR[0]
    if not trust_dir:
        return text
    import shlex

    return _COMMAND.sub(f"offtrust -d {shlex.quote(str(trust_dir))} ", text)


def warn(message: str) -> None:
    sys.stderr.write(f"offtrust: warning: {pasteable(message)}\n")


def info(message: str) -> None:
    sys.stderr.write(message + "\n")


def resolve_guns(
    ctx: typer.Context, guns: list[str] | None, all_guns: bool, *, required: bool = True
) -> list[str]:
    """The GUNs a command works on: the ones named, or every GUN with ``--all``.

    Raises:
        UsageError: neither GUNs nor ``--all`` when *required*, or both.
    """
    from offtrust.errors import UsageError
    from offtrust.store.layout import check_gun

    if guns and all_guns:
        raise UsageError("give GUNs or --all, not both")
    if all_guns or (not guns and not required):
        return list(context(ctx).trust.all_guns())
    if not guns:
        raise UsageError("name at least one GUN, or use --all")
    return [check_gun(g) for g in guns]


def passphrases() -> Any:
    """The passphrase source of the contract: variables, then a hidden prompt.

    The prompt and what is said between prompts pause the progress bar.
    """
    from offtrust.passphrase import Passphrases

    def prompt(text: str) -> str:
        import getpass

        with paused():
            return getpass.getpass(text, stream=sys.stderr)

    def say(line: str) -> None:
        with paused():
            sys.stderr.write(line + "\n")

    source = Passphrases(prompt=prompt)
    source.say = say
    return source


def is_interactive() -> bool:
    from offtrust.passphrase import is_interactive as terminal

    return terminal()


def confirm(question: str, *, yes: bool, hint: str = "use --yes") -> None:
    """Ask on a terminal unless *yes*; refuse without a terminal.

    Raises:
        UsageError: no terminal and no --yes, or the user said no.
    """
    from offtrust.errors import UsageError

    if yes:
        return
    if not is_interactive():
        raise UsageError(f"{question} (no terminal to confirm on)", hint=hint)
    with paused():
        answer = typer.confirm(question, default=False, err=True)
    if not answer:
        raise UsageError("cancelled")


def read_public_keys(files: list[Path]) -> list[Any]:
    """Public keys from PEM public-key or certificate files.

    Raises:
        UnreadableInputError: a file cannot be read.
        InvalidKeyError: a file holds no usable public key.
    """
    from offtrust import crypto
    from offtrust.errors import InvalidKeyError
    from offtrust.ops.keys import MAX_KEY_FILE_SIZE
    from offtrust.store.output import read_user_file

    keys = []
    for path in files:
        # Bounded and never blocking: a FIFO or /dev/zero named as a key is refused.
        data = read_user_file(path, limit=MAX_KEY_FILE_SIZE, what="public key file")
        try:
            keys.append(crypto.load_public_key_pem(data))
        except InvalidKeyError as e:
            raise InvalidKeyError(f"{path}: {e.message}") from e
    return keys


#: The progress bars on screen now (one at most in practice), for :func:`paused`.
_ACTIVE_BARS: list[Any] = []


def progress(items: list[Any], label: str) -> Any:
    """Iterate *items*, with a progress bar on a terminal for long runs; quiet when piped.

    The bar says what it does and how far it is (``signer remove jeff: 12/200``);
    lines written to stderr meanwhile appear above it, and :func:`paused` takes
    it off the screen while a prompt is shown.
    """
    if len(items) < 2 or not sys.stderr.isatty():
        return iter(items)
    return _tracked(items, label)


def _tracked(items: list[Any], label: str) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(
        TextColumn("{task.description}:"),
        MofNCompleteColumn(),
        BarColumn(),
        transient=True,
        console=_stderr_console(),
    )
    task = bar.add_task(label, total=len(items))
    _ACTIVE_BARS.append(bar)
    try:
        with bar:
            for item in items:
                yield item
                bar.advance(task)
    finally:
        _ACTIVE_BARS.remove(bar)


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """Take the progress bar off the screen for a prompt, and put it back after."""
    bars = [bar for bar in _ACTIVE_BARS if bar.live.is_started]
    for bar in bars:
        bar.stop()
    try:
        yield
    finally:
        for bar in bars:
            bar.start()


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def done_line(batch: Any, *, changed: str = "changed") -> str:
    """The last line of a batch: ``done: N changed, M skipped, K failed``."""
    return (
        f"done: {len(batch.ok)} {changed}, {len(batch.skipped)} skipped, {len(batch.failed)} failed"
    )


def gun_failure(gun: str, error: Any) -> str:
    """One failed GUN's line for stderr, naming the GUN once."""
    message = str(error.message)
    if re.search(rf"(?<![\w./-]){re.escape(gun)}(?![\w./-])", message):
        return f"offtrust: error: {message}"
    return f"offtrust: error: {gun}: {message}"


def per_gun(
    guns: list[Any],
    action: Any,
    describe: Any,
    *,
    skip_absent: bool = False,
    label: str = "working",
) -> None:
    """Run *action(gun)* for each GUN; report failures at the end, not on the first.

    The exit status is decided by :mod:`offtrust.ops.batch`, the same rule for
    every command. With several GUNs each failed one gets one line on stderr,
    and a last line counts them (:func:`done_line`).

    Args:
        guns: the GUNs to work on (or items with a ``gun`` attribute, such
            as ``target add``'s GUN:TAG references).
        action: ``action(gun)`` does the work and returns what *describe* prints.
        describe: ``describe(gun, result)`` reports one GUN's success.
        skip_absent: with ``--all``, a GUN that has nothing to change (no such
            signer, key not listed) is skipped rather than failed.
        label: what the progress bar says it does (``signer remove jeff``).

    Raises:
        OfftrustError: the failure of the only GUN, or a summary of several.
    """
    from offtrust.ops.batch import FAILED, OK, run_batch

    def report(outcome: Any) -> None:
        if outcome.status == OK:
            describe(outcome.gun, outcome.value)
        elif outcome.status == FAILED:
            if len(guns) > 1:
                sys.stderr.write(gun_failure(outcome.gun, outcome.error) + "\n")
        else:
            info(f"{outcome.gun}: skipped: {outcome.error.message}")

    # One durability barrier for many GUNs' edits: each GUN's line is printed
    # once its edit is switched in (a few GUNs later; see run_batch).
    batch = run_batch(
        progress(guns, label),
        action,
        skip_nothing_to_do=skip_absent,
        on_outcome=report,
        one_barrier=len(guns) > 1,
        ahead=guns,
    )
    if len(guns) > 1:
        info(done_line(batch))
    error = batch.error()
    if error is not None:
        raise error


def describe_commit(gun: str, result: Any) -> None:
    roles = ", ".join(f"{r} v{v}" for r, v in result.versions.items())
    info(f"{gun}: staged {roles}")
    if result.snapshot_by_server:
        info(f"{gun}: the snapshot will be signed by the server on publish")
    for w in result.warnings:
        warn(f"{gun}: {w}")


def print_table(rows: list[list[str]]) -> None:
    """Columns padded like notary's tables: header, dashes, rows."""
    if not rows:
        return
    header, body = rows[0], rows[1:]
    table = [header, ["-" * len(h) for h in header], *body]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    for row in table:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        sys.stdout.write(("    ".join([*cells, row[-1]])).rstrip() + "\n")
