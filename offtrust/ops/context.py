"""What every operation works on: the trust directory, its stores, a clock and one keyring."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from offtrust.store.keyring import Keyring
from offtrust.store.keystore import KeyStore, PassphraseSource
from offtrust.store.layout import TrustDir
from offtrust.store.repo import RepoStore

if TYPE_CHECKING:
    from offtrust.model.verify import Crypto


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Context:
    trust: TrustDir
    clock: Callable[[], datetime] = field(default=utcnow)
    _keyrings: dict[int, tuple[PassphraseSource, Keyring]] = field(
        default_factory=dict, repr=False, compare=False
    )

    @classmethod
    def at(cls, path: Path | str) -> Context:
        return cls(TrustDir(Path(path)))

    @property
    def keys(self) -> KeyStore:
        return KeyStore(self.trust)

    @property
    def repos(self) -> RepoStore:
        return RepoStore(self.trust)

    def keyring(self, passphrases: PassphraseSource) -> Keyring:
        """The one keyring of this command for *passphrases*: each key is decrypted once."""
        entry = self._keyrings.get(id(passphrases))
        if entry is None or entry[0] is not passphrases:
            entry = (passphrases, Keyring(self.keys, passphrases))
            self._keyrings[id(passphrases)] = entry
        return entry[1]

    @property
    def crypto(self) -> Crypto:
        """The signature and certificate back-end the trust rules use."""
        from offtrust import crypto

        return crypto

    def now(self) -> datetime:
        return self.clock()
