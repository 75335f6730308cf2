"""Fixtures of the crash suite (``pytest -m crash tests/crash``, ``nox -s crash``).

- ``crash_scratch`` (session): a directory for the suite's runs (HOME, outputs).
- ``forkserver`` (session): a :class:`crashkit.ForkServer`, a warm interpreter
  that forks each offtrust command as a real process.
- ``crash_reference`` (session): ``crash_reference(name)`` -> the
  :class:`crashkit.Reference` of scenario *name* (built once: pristine tree, old
  and new state, run time).
- ``mounts``: mounts made by a test (tmpfs, read-only binds), undone at teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from crashkit import SCENARIOS, ForkServer, Mounts, Reference, build_reference, command_env


@pytest.fixture(scope="session")
def crash_scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("crash")


@pytest.fixture(scope="session")
def crash_env(crash_scratch: Path) -> dict[str, str]:
    home = crash_scratch / "home"
    home.mkdir(exist_ok=True)
    return command_env(home)


@pytest.fixture(scope="session")
def forkserver(crash_scratch: Path, crash_env: dict[str, str]) -> Iterator[ForkServer]:
    server = ForkServer(crash_scratch / "forkserver", crash_env)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def crash_reference(crash_scratch: Path, forkserver: ForkServer) -> Callable[[str], Reference]:
    cache: dict[str, Reference] = {}

    def get(name: str) -> Reference:
        if name not in cache:
            cache[name] = build_reference(
                SCENARIOS[name], crash_scratch / "scenarios" / name, forkserver
            )
        return cache[name]

    return get


@pytest.fixture
def mounts() -> Iterator[Mounts]:
    m = Mounts()
    try:
        yield m
    finally:
        m.undo_all()
