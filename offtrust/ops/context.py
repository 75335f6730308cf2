"""What every operation works on: the trust directory, its stores, a clock and one keyring."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from offtrust.store.keyring import Keyring
from offtrust.store.keystore import KeyStore, PassphraseSource
from offtrust.store.layout import TrustDir
from offtrust.store.lock import trust_lock

if TYPE_CHECKING:
    from datetime import datetime

    from offtrust.model.verify import Crypto
    from offtrust.store.repo import RepoStore


def utcnow() -> datetime:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


class Context:
    """The trust directory an operation works on, the clock it reads, and its keyrings.

    A plain class (not a dataclass): ``key list`` starts without importing
    ``dataclasses`` (and ``inspect`` with it).
    """

    def __init__(self, trust: TrustDir, clock: Callable[[], datetime] = utcnow) -> None:
        self.trust = trust
        self.clock = clock
        self._keyrings: dict[int, tuple[PassphraseSource, Keyring]] = {}

    def __repr__(self) -> str:
        return f"Context(trust={self.trust!r}, clock={self.clock!r})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Context)
        return (self.trust, self.clock) == (other.trust, other.clock)

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass was

    @classmethod
    def at(cls, path: Path | str) -> Context:
        return cls(TrustDir(Path(path)))

    @property
    def keys(self) -> KeyStore:
        return KeyStore(self.trust)

    @property
    def repos(self) -> RepoStore:
        # Imported here: the metadata model is not needed by key commands
        # (`key list` on an empty store starts in ~0.15 s).
        from offtrust.store.repo import RepoStore

        return RepoStore(self.trust)

    @contextlib.contextmanager
    def locked(self, *, create: bool = False, shared: bool = False) -> Iterator[Context]:
        """Hold the lock of the trust directory for the block (see :mod:`offtrust.store.lock`).

        A writing command holds it from loading the state it changes to
        committing it; taking it first finishes or undoes what a killed command
        left. Re-entrant within the process.

        Args:
            create: make the trust directory if it does not exist (``key
                generate``, ``fetch``); otherwise a missing one has nothing to lock.
            shared: a reader that needs one consistent view of several GUNs
                (``stage``): excludes writers, not other readers.

        Raises:
            ConflictError: another command holds the lock (named by its pid);
                by the CLI contract this fails at once, it does not wait.
            StoreError: the lock file cannot be created or is not a regular file.
        """
        with trust_lock(self.trust, create=create, shared=shared):
            yield self

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
