"""What the online operations need from a Notary server: :class:`NotaryAPI`.

``offtrust.ops.online`` works against this interface only, so it can run on
the real :class:`~offtrust.online.notary.NotaryClient` or on an in-memory fake
in tests. Every method returns the server's bytes untouched: callers verify.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol

__all__ = ["GUN_DEADLINE", "NotaryAPI"]

#: Seconds fetching or publishing one GUN may take in all, every request of it
#: included (each request also has its own deadline, 60 s): a server answering
#: each request just in time cannot keep a command going for hours.
GUN_DEADLINE = 300.0


class NotaryAPI(Protocol):
    """The notary-server endpoints ``fetch`` and ``publish`` use (formats doc 8)."""

    #: The server's URL, ``scheme://HOST[:PORT]``; only used in messages.
    server: str

    def deadline(self, seconds: float) -> AbstractContextManager[None]:
        """Every request made in the block ends within *seconds* of its start, in all
        (one GUN's fetch or publish: :data:`GUN_DEADLINE`)."""
        ...

    def get_metadata(self, gun: str, role: str) -> bytes | None:
        """``<role>.json``: the current version of *role*, or None if the server has none."""
        ...

    def get_metadata_by_hash(self, gun: str, role: str, sha256_hex: str) -> bytes | None:
        """``<role>.<sha256>.json``: the version of *role* with that checksum, or None."""
        ...

    def get_metadata_version(self, gun: str, role: str, version: int) -> bytes | None:
        """``<N>.<role>.json``: version *N* of *role*, or None."""
        ...

    def get_server_key(self, gun: str, role: str) -> dict[str, Any]:
        """The public key object the server holds for ``timestamp`` or ``snapshot``.

        For a GUN without a root, a new key on every call.
        """
        ...

    def delete_trust_data(self, gun: str) -> None:
        """``DELETE /v2/<gun>/_trust/tuf/``: remove every metadata file of *gun*
        (``notary delete GUN --remote``; the server answers 200 even for a GUN it lacks).

        Raises:
            ServerRejectedError: the server refused.
            NetworkError: transport failure.
        """
        ...

    def publish(self, gun: str, files: Mapping[str, bytes]) -> None:
        """One atomic update of *gun*: role name (no ``.json``) -> exact bytes.

        Raises:
            ServerRejectedError: the server refused the update.
            NetworkError: transport failure.
        """
        ...
