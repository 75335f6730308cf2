"""Fixtures for interop tests against the real notary / notary-server / docker.

Every test here carries ``@pytest.mark.interop``. When a tool is missing the
test is skipped with the reason, except under ``CI=true`` where it fails: CI
must run them.

Fixtures (see ``realtools.py`` for the objects they return):

- ``notary_server`` (session): a running :class:`realtools.NotaryServer`
  (``.url``, ``.host_port``, ``.ca_file``, ``.get(path)``, ``.metadata(gun, role)``).
- ``notary_cli`` (session): ``notary_cli(trust_dir, *args, passphrases=DOCKER_PASSPHRASES,
  check=True, cwd=None, env=None)`` -> CompletedProcess.
- ``docker_cli`` (session): ``docker_cli(config_dir, *args, passphrases=DOCKER_PASSPHRASES,
  check=True, cwd=None, env=None)`` -> CompletedProcess.
- ``make_docker_repo`` / ``make_notary_repo`` (session): factories
  ``make_docker_repo(name="docker", **build_docker_repo_kwargs)`` -> TrustRepo with a
  fresh GUN ``example.com/<name>-<n>-<pid>`` and a fresh working directory.
- ``docker_repo`` / ``notary_repo`` (module): one default repo of each kind,
  shared by the tests of a module. Read-only: copy it first
  (``realtools.copy_trust_dir``) or make your own with the factories.

All passphrases are TEST-ONLY values (``realtools.DOCKER_PASSPHRASES`` and
``realtools.NOTARY_PASSPHRASES``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from realtools import (
    NotaryServer,
    TrustRepo,
    build_docker_repo,
    build_notary_repo,
    require_real_tools,
    run_docker,
    run_notary,
    unique_gun,
)


@pytest.fixture(autouse=True)
def _require_real_tools_for_interop(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("interop") is not None:
        require_real_tools()


@pytest.fixture(scope="session")
def interop_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty HOME for every tool run, so the real ~/.docker and ~/.notary stay untouched."""
    return tmp_path_factory.mktemp("interop-home")


@pytest.fixture(scope="session")
def notary_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NotaryServer]:
    """A notary-server on 127.0.0.1 for the whole session (memory storage, local signer)."""
    require_real_tools()
    server = NotaryServer.start(tmp_path_factory.mktemp("notary-server"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def notary_cli(notary_server: NotaryServer, interop_home: Path) -> Callable[..., Any]:
    """``notary_cli(trust_dir, *args, passphrases=..., check=True, cwd=None, env=None)``."""
    return functools.partial(run_notary, server=notary_server, home=interop_home)


@pytest.fixture(scope="session")
def docker_cli(notary_server: NotaryServer, interop_home: Path) -> Callable[..., Any]:
    """``docker_cli(config_dir, *args, passphrases=..., check=True, cwd=None, env=None)``.

    Sets DOCKER_CONFIG=config_dir, DOCKER_CONTENT_TRUST=1, the server URL and
    passphrases, and installs the CA as ``config_dir/tls/<host:port>/ca.crt``.
    """
    return functools.partial(run_docker, server=notary_server, home=interop_home)


@pytest.fixture(scope="session")
def make_docker_repo(
    notary_server: NotaryServer, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., TrustRepo]:
    """Factory: ``make_docker_repo(name="docker", **kwargs)`` -> a new Docker-made TrustRepo."""

    def make(name: str = "docker", **kwargs: Any) -> TrustRepo:
        kwargs.setdefault("gun", unique_gun(name))
        return build_docker_repo(notary_server, tmp_path_factory.mktemp(f"repo-{name}"), **kwargs)

    return make


@pytest.fixture(scope="session")
def make_notary_repo(
    notary_server: NotaryServer, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., TrustRepo]:
    """Factory: ``make_notary_repo(name="notary", **kwargs)`` -> a new notary-made TrustRepo."""

    def make(name: str = "notary", **kwargs: Any) -> TrustRepo:
        kwargs.setdefault("gun", unique_gun(name))
        return build_notary_repo(notary_server, tmp_path_factory.mktemp(f"repo-{name}"), **kwargs)

    return make


@pytest.fixture(scope="module")
def docker_repo(make_docker_repo: Callable[..., TrustRepo]) -> TrustRepo:
    """Default Docker repo: signers alice, bob (2 keys), carol (RSA cert); tags v1, v2."""
    return make_docker_repo("docker")


@pytest.fixture(scope="module")
def notary_repo(make_notary_repo: Callable[..., TrustRepo]) -> TrustRepo:
    """Default notary repo: client-managed snapshot, targets/releases, tag v1."""
    return make_notary_repo("notary")
