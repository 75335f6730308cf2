"""Shared test set-up: keep every test away from the real ~/.docker and ~/.notary."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("DOCKER_CONFIG", str(home / ".docker"))
    for name in (
        "OFFTRUST_TRUST_DIR",
        "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE",
        "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE",
        "NOTARY_ROOT_PASSPHRASE",
        "NOTARY_TARGETS_PASSPHRASE",
        "NOTARY_SNAPSHOT_PASSPHRASE",
        "NOTARY_DELEGATION_PASSPHRASE",
        "OFFTRUST_DEBUG",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fixture_path():
    """``fixture_path("example-trust")`` → the path of a shipped fixture."""

    def find(name: str) -> Path:
        path = FIXTURES / name
        assert path.exists(), f"missing fixture {path}"
        return path

    return find
