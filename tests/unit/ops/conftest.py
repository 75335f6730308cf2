"""Fixtures shared by the ops tests: a copy of the example trust dir and its passphrases."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import EXAMPLE_NOW, REPOSITORY_PASSPHRASE, ROOT_PASSPHRASE, copy_example

from offtrust.ops.context import Context
from offtrust.passphrase import Passphrases
from offtrust.store.layout import TrustDir


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    """A Context on a fresh copy of the example trust dir, its clock at EXAMPLE_NOW."""
    return Context(TrustDir(copy_example(tmp_path / "trust")), clock=lambda: EXAMPLE_NOW)


@pytest.fixture
def passphrases(monkeypatch: pytest.MonkeyPatch) -> Passphrases:
    """Non-interactive Passphrases reading the example's root and repository passphrases."""
    monkeypatch.setenv("DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE", ROOT_PASSPHRASE)
    monkeypatch.setenv("DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE", REPOSITORY_PASSPHRASE)
    return Passphrases(interactive=False)
