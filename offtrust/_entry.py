"""``python -m offtrust``: ``key list``, ``inspect`` and ``--help`` without the command framework.

Importing typer (and its click) costs more start-up time than listing 2,000
keys or inspecting 5,000 tags. The plainest forms of these read-only
commands, with the trust directory named, are run here directly::

    offtrust (-d DIR | --trust-dir DIR | --trust-dir=DIR) key list [--json] [--gun G | --gun=G]
    offtrust (-d DIR | ...) inspect GUN[:TAG] [--pretty]
    offtrust --help    (piped, at 80 columns: offtrust/_top_help.py)

(``--json`` and ``--gun`` in either order, each at most once). Everything else
(other commands, other spellings, ``--debug``, shell completion), an
``inspect`` with anything to say on stderr (a problem, staged edits, a
hidden role), and every failure of these forms goes to
:func:`offtrust.cli.main` unchanged, so usage errors, error messages and
exit statuses are typer's: a failed form has written nothing, and these
commands change nothing, so running them again there is safe. The output is
written with the same functions as the full path (:func:`key_rows_json`,
:func:`key_rows_table`, ``offtrust.ops.inspect``'s writers): a test runs
every form both ways (tests/unit/cli/test_quick_key_list.py).

This module is part of the command layer (it prints); it lives outside
:mod:`offtrust.cli` because importing that package imports typer.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

#: What ``key list`` prints when there is no key.
NO_KEYS = "No signing keys found.\n"


def go_escape(text: str) -> str:
    """*text* with ``<``, ``>`` and ``&`` escaped as Go's JSON encoder writes them.

    Every JSON document offtrust prints goes through it, so the output stays
    byte-comparable with Docker's and notary's.
    """
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _plain(value: str) -> bool:
    return bool(value) and not value.startswith("-")


def _trust_dir_argv(argv: list[str]) -> tuple[str, list[str]] | None:
    """The trust directory named first (``-d DIR``, ``--trust-dir DIR|=DIR``) and the rest."""
    args = list(argv)
    if len(args) >= 2 and args[0] in ("-d", "--trust-dir") and _plain(args[1]):
        return args[1], args[2:]
    if args and args[0].startswith("--trust-dir=") and _plain(args[0][len("--trust-dir=") :]):
        return args[0][len("--trust-dir=") :], args[1:]
    return None


def key_list_argv(argv: list[str]) -> tuple[str, str | None, bool] | None:
    """(trust directory, GUN or None, --json) of a plain ``key list`` command line, else None."""
    plain = _plain
    found = _trust_dir_argv(argv)
    if found is None:
        return None
    trust_dir, rest = found
    if rest[:2] != ["key", "list"]:
        return None
    rest = rest[2:]
    gun: str | None = None
    json_ = False
    while rest:
        arg = rest.pop(0)
        if arg == "--json" and not json_:
            json_ = True
        elif arg == "--gun" and gun is None and rest and plain(rest[0]):
            gun = rest.pop(0)
        elif arg.startswith("--gun=") and gun is None and plain(arg[len("--gun=") :]):
            gun = arg[len("--gun=") :]
        else:
            return None
    return trust_dir, gun, json_


class _Encoded(dict[Any, str]):
    """JSON text of strings, each encoded once (booleans and null given)."""

    def __missing__(self, value: Any) -> str:
        if type(value) is not str:
            raise TypeError(f"not a key list value: {type(value).__name__}")
        import json

        text = self[value] = json.encoder.encode_basestring(value)
        return text


def key_rows_json(rows: list[tuple[Any, ...]]) -> str:
    """``print_json({"keys": [...]})`` of ``key_rows`` rows with algorithms, byte for byte.

    No GUN (root and signer keys) is null, as in every --json output. 20,000
    keys make 160,000 values: one template per row, and each distinct role,
    GUN, type or algorithm encoded once, instead of the general writer's walk.
    """
    import json

    escape = json.encoder.encode_basestring
    encoded = _Encoded({True: "true", False: "false", None: "null"})
    string = encoded.__getitem__
    body = ",\n".join(
        [
            _ROW_TEMPLATE
            % (
                string(algorithm),
                string(encrypted),
                string(gun) if gun else "null",
                # Letters and digits need no escaping (a key ID is hex digits).
                f'"{keyid}"' if keyid.isalnum() else escape(keyid),
                string(legacy),
                escape(location),
                string(pem_type),
                string(role),
            )
            for role, gun, keyid, location, encrypted, pem_type, legacy, algorithm in rows
        ]
    )
    text = '{\n  "keys": [\n' + body + "\n  ]\n}" if rows else '{\n  "keys": []\n}'
    return go_escape(text) + "\n"


#: One ``key list --json`` row: its fields in the order ``print_json`` sorts
#: them (algorithm, encrypted, gun, keyid, legacy_layout, location, pem_type, role).
_ROW_TEMPLATE = (
    '    {\n      "algorithm": %s,\n      "encrypted": %s,\n      "gun": %s,\n'
    '      "keyid": %s,\n      "legacy_layout": %s,\n      "location": %s,\n'
    '      "pem_type": %s,\n      "role": %s\n    }'
)


def key_rows_table(rows: list[tuple[Any, ...]]) -> str:
    """``key list`` without --json: notary's table (``print_table``), or :data:`NO_KEYS`."""
    if not rows:
        return NO_KEYS
    header = ["ROLE", "GUN", "KEY ID", "LOCATION"]
    table = [header, ["-" * len(h) for h in header], *[list(r[:4]) for r in rows]]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    return "".join(
        "    ".join(
            [*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[3]]
        ).rstrip()
        + "\n"
        for row in table
    )


def trust_dir_refusal(path: Any) -> tuple[str, str] | None:
    """Why a command refuses *path* as its trust directory ((message, hint)), or None.

    The one rule for both entries (:func:`offtrust.cli._common.context`):
    it must exist, and not be a docker config directory.
    """
    if not os.path.lexists(path):
        return (
            f"no trust directory at {path}",
            "name it with --trust-dir (-d), $OFFTRUST_TRUST_DIR or $DOCKER_CONFIG",
        )
    if (
        (path / "trust").is_dir()
        and not (path / "private").exists()
        and not (path / "tuf").exists()
    ):
        return (
            f"{path} is a docker config directory, not a trust directory",
            f"use -d {path / 'trust'}",
        )
    return None


def inspect_argv(argv: list[str]) -> tuple[str, str, bool] | None:
    """(trust directory, GUN[:TAG], --pretty) of a plain one-GUN ``inspect``, else None."""
    found = _trust_dir_argv(argv)
    if found is None:
        return None
    trust_dir, rest = found
    if len(rest) == 2 and rest[0] == "inspect" and _plain(rest[1]):
        return trust_dir, rest[1], False
    if len(rest) == 3 and rest[0] == "inspect" and "--pretty" in rest[1:]:
        reference = rest[1] if rest[2] == "--pretty" else rest[2]
        return (trust_dir, reference, True) if _plain(reference) else None
    return None


def _run_inspect(trust_dir: str, reference: str, pretty: bool) -> str | None:
    """The output of ``inspect REFERENCE``, or None when the command line must take typer's path.

    Only a verified GUN with nothing to say on stderr (no problem, no staged
    edit, no hidden role) is answered here; anything else, and any error, is
    answered by typer's path, in its words (``inspect`` changes nothing).
    """
    from pathlib import Path

    path = Path(trust_dir)
    if trust_dir_refusal(path) is not None:
        return None
    try:
        from offtrust.model.names import gun_problem
        from offtrust.ops.context import Context
        from offtrust.ops.inspect import format_pretty, inspect_gun, json_chunks, split_reference

        gun, tag = split_reference(reference)
        if gun_problem(gun) is not None:
            return None
        seen = inspect_gun(Context.at(path), gun, tag=tag, reference=reference)
        if seen.staged or seen.hidden or seen.report.problems:
            return None
        if pretty:
            return format_pretty(seen.doc)
        return "".join(go_escape(chunk) for chunk in json_chunks([seen.doc])) + "\n"
    except Exception:  # noqa: BLE001 - reported, in typer's words, by the full path
        return None


def _run_key_list(trust_dir: str, gun: str | None, json_: bool) -> str | None:
    """The output of ``key list``, or None when the command line must take typer's path.

    None where :func:`offtrust.cli._common.context` would refuse the trust
    directory, and on any error (typer's path reports it, in its words).
    """
    from pathlib import Path

    path = Path(trust_dir)
    if trust_dir_refusal(path) is not None:
        return None  # context() refuses it: its message is typer's path's
    try:
        from offtrust.ops.context import Context
        from offtrust.ops.keys import key_rows

        rows = key_rows(Context.at(path), gun, with_algorithm=json_)
        return key_rows_json(rows) if json_ else key_rows_table(rows)
    except Exception:  # noqa: BLE001 - reported, in typer's words, by the full path
        return None


def program_name() -> str | None:
    """The name click shows in ``Usage:``, for the two ways offtrust is started, else None."""
    main = sys.modules.get("__main__")
    package = getattr(main, "__package__", None)
    base = os.path.basename(sys.argv[0]) if sys.argv else ""
    if not package:
        return base if base == "offtrust" else None  # the console script
    if package == "offtrust" and os.path.splitext(base)[0] == "__main__":
        return "python -m offtrust"
    return None


def quick_help(argv: list[str]) -> str | None:
    """The top-level help for ``--help`` (or ``-h``) alone, when its rendering is known.

    That is on a stream that is not a terminal with no ``COLUMNS`` set (click
    then formats for 80 columns), for the console script or ``python -m offtrust``.
    """
    if argv not in (["--help"], ["-h"]) or os.environ.get("COLUMNS", "80") != "80":
        return None
    try:
        os.get_terminal_size(sys.__stdout__.fileno())  # type: ignore[union-attr]
        return None  # a terminal: its width decides
    except (AttributeError, ValueError, OSError):
        pass
    prog = program_name()
    if prog is None:
        return None
    from offtrust._top_help import TOP_HELP

    return TOP_HELP.replace("<PROG>", prog, 1)


def quick(argv: list[str]) -> bool:
    """Run a plain ``key list`` command line (or the top-level help) here; False when it
    is not one, or failed."""
    if any(name.startswith("_") and name.endswith("_COMPLETE") for name in os.environ):
        return False  # shell completion: click's business
    text = quick_help(argv)
    if text is None:
        form = key_list_argv(argv)
        if form is not None:
            text = _run_key_list(*form)
    if text is None:
        seen = inspect_argv(argv)
        if seen is not None:
            text = _run_inspect(*seen)
    if text is None:
        return False
    sys.stdout.write(text)
    sys.stdout.flush()
    return True


def main() -> None:
    """``python -m offtrust``: :func:`quick`, else the full command line."""
    with contextlib.suppress(AttributeError, ValueError):
        sys.stdout.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    try:
        try:
            if quick(sys.argv[1:]):
                sys.exit(0)
        except BrokenPipeError:
            # Output piped into `head` and the like, as offtrust.cli.main handles it.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(0)
        except KeyboardInterrupt:
            sys.stderr.write("offtrust: interrupted\n")
            sys.exit(130)
        from offtrust.cli import main as full

        full()
    except SystemExit as e:
        exit_at_once(e.code)


def exit_at_once(code: str | int | None) -> None:
    """End the process as ``sys.exit(code)`` would, without tearing the interpreter down.

    By then every file offtrust writes is closed (and synced where it must
    be), the lock is released and worker processes are reaped; what is left
    is memory. Tearing it down (a full collection, then every module freed)
    took 30-70 ms after a bulk edit of 200 GUNs. The exit handlers still
    run and the standard streams are flushed; anything unusual (another
    thread still running, a stream that cannot be flushed) takes the normal
    way out.
    """
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        sys.exit(code)
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        sys.exit(code)  # a message: Python prints it, as it always has
    import atexit

    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(code)
    os._exit(status)
