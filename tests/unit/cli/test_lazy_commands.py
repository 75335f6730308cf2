"""The command tree is built lazily; its help must read exactly as typer's eager build.

``offtrust --help`` lists the root's commands from ``offtrust.cli.COMMANDS``
without importing their modules, and every group lists its sub-commands from
their docstrings without building their parameters. These tests build the
whole tree the way typer does (every command, at once) and compare every
help text, check the table against the units that make each command, and
check that start-up does not import the heavy modules.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.main
from typer.core import TyperGroup
from typer.testing import CliRunner

import offtrust.cli as cli

HEAVY = ("cryptography", "jsonschema", "urllib3", "rich")


class _EagerGroup(cli.OfftrustGroup):
    """The root as typer builds it (every command at once), with offtrust's error
    handling, polished as offtrust polishes every command."""

    list_commands = TyperGroup.list_commands
    format_commands = TyperGroup.format_commands

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        TyperGroup.__init__(self, *args, **kwargs)
        cli._polish(self)
        for command in self.commands.values():
            if not command.short_help:
                command.short_help = cli._summary(command.help)


def eager_app() -> typer.Typer:
    """The root app with every unit registered on it, built all at once by typer."""
    tree = cli.load_units()
    eager = copy.copy(cli.app)
    eager.info = copy.copy(cli.app.info)
    eager.info.cls = _EagerGroup
    eager.registered_commands = list(tree.registered_commands)
    eager.registered_groups = list(tree.registered_groups)
    return eager


def command_paths(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from command_paths(sub, (*path, name))


def help_text(application: typer.Typer, path: tuple[str, ...]) -> tuple[int, str]:
    result = CliRunner().invoke(application, [*path, "--help"], prog_name="offtrust")
    return result.exit_code, result.output


def test_every_help_reads_as_the_eager_tree() -> None:
    eager = eager_app()
    paths = list(command_paths(typer.main.get_command(eager)))
    # Every command of every group: the root, 6 groups and their commands.
    assert len(paths) > 30
    assert ("key", "list") in paths
    assert ("key", "rotate") in paths
    for path in paths:
        assert help_text(cli.app, path) == help_text(eager, path), path


def test_bare_groups_and_typos_read_as_the_eager_tree() -> None:
    eager = eager_app()
    for args in (["key"], ["delegation"], ["nosuch"], ["ke"], ["key", "lis"], []):
        ours = CliRunner().invoke(cli.app, args, prog_name="offtrust")
        theirs = CliRunner().invoke(eager, args, prog_name="offtrust")
        assert (ours.exit_code, ours.output) == (theirs.exit_code, theirs.output), args


def test_the_table_lists_every_command_in_help_order_with_its_summary() -> None:
    root = typer.main.get_command(eager_app())
    expected = {
        name: command.short_help
        for name, command in root.commands.items()  # type: ignore[attr-defined]
    }
    assert {name: summary for name, (_, summary) in cli.COMMANDS.items()} == expected
    assert list(cli.COMMANDS) == list(expected)


#: Loads the units one by one in a fresh interpreter and records, per root
#: command, which units created or changed it (its sub-commands, recursively).
_UNIT_PROBE = textwrap.dedent(
    """
    import json
    import offtrust.cli as cli

    def shape(info, seen=None):
        instance = info.typer_instance
        return {
            "commands": [c.name or c.callback.__name__ for c in instance.registered_commands],
            "groups": {g.name: shape(g) for g in instance.registered_groups},
        }

    def snapshot(tree):
        out = {}
        for c in tree.registered_commands:
            out[c.name or c.callback.__name__] = "command"
        for g in tree.registered_groups:
            out[g.name] = shape(g)
        return json.dumps(out, sort_keys=True)

    needs = {}
    before = {}
    for unit in cli.UNITS:
        tree = cli.load_units([unit])
        now = json.loads(snapshot(tree))
        for name, value in now.items():
            if before.get(name) != value:
                needs.setdefault(name, []).append(unit)
        before = now
    print(json.dumps(needs))
    """
)


def test_each_command_names_the_units_that_make_it() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _UNIT_PROBE], capture_output=True, text=True, check=True
    )
    needs = json.loads(proc.stdout)
    assert {name: list(units) for name, (units, _) in cli.COMMANDS.items()} == needs


def _imported_after(argv: list[str], cwd: Path) -> set[str]:
    code = textwrap.dedent(
        """
        import sys
        sys.argv = ["offtrust", *sys.argv[1:]]
        from offtrust.cli import main
        try:
            main()
        except SystemExit:
            pass
        sys.stderr.write("\\nMODULES " + " ".join(sorted(sys.modules)) + "\\n")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=cwd, check=True
    )
    line = proc.stderr.rsplit("MODULES ", 1)[1]
    return set(line.split())


def test_help_imports_no_command_module(tmp_path: Path) -> None:
    modules = _imported_after(["--help"], tmp_path)
    ours = {m for m in modules if m.split(".")[0] == "offtrust"}
    assert ours == {"offtrust", "offtrust.cli", "offtrust.errors"}
    assert not {m for m in modules if m.split(".")[0] in HEAVY}


def test_key_list_on_an_empty_store_imports_nothing_heavy(tmp_path: Path) -> None:
    trust = tmp_path / "trust"
    trust.mkdir(mode=0o700)
    for args in (["key", "list"], ["key", "list", "--json"]):
        modules = _imported_after(["-d", str(trust), *args], tmp_path)
        heavy = {m for m in modules if m.split(".")[0] in HEAVY}
        assert not heavy, (args, heavy)
        # Nor the metadata model, nor the other command modules.
        assert "offtrust.model.metadata" not in modules
        assert "offtrust.cli.bundle" not in modules


def test_a_command_missing_from_the_table_still_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(cli.COMMANDS, "verify")
    result = CliRunner().invoke(cli.app, ["verify", "--help"])
    assert result.exit_code == 0
    assert "Verify the whole TUF chain offline" in result.output
