"""What every operation works on: the trust directory, its stores and a clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from offtrust.store.keystore import KeyStore
from offtrust.store.layout import TrustDir
from offtrust.store.repo import RepoStore


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Context:
    trust: TrustDir
    clock: Callable[[], datetime] = field(default=utcnow)

    @classmethod
    def at(cls, path: Path | str) -> Context:
        return cls(TrustDir(Path(path)))

    @property
    def keys(self) -> KeyStore:
        return KeyStore(self.trust)

    @property
    def repos(self) -> RepoStore:
        return RepoStore(self.trust)

    def now(self) -> datetime:
        return self.clock()
