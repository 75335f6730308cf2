"""The notary-server client, re-exported from where it lives now.

The client was split into :mod:`offtrust.online.transport` (pool, TLS, capped
reads), :mod:`offtrust.online.auth` (credentials and Docker's token flow) and
:mod:`offtrust.online.notary` (the endpoints); :mod:`offtrust.online.api`
holds the :class:`NotaryAPI` interface the operations use. This module keeps
the old import path working.
"""

from __future__ import annotations

from offtrust.online.api import NotaryAPI
from offtrust.online.auth import Auth, Challenge, parse_challenges
from offtrust.online.notary import (
    DEFAULT_USER_AGENT,
    MAX_KEY_SIZE,
    MAX_METADATA_SIZE,
    MAX_TIMESTAMP_SIZE,
    NotaryClient,
    encode_multipart,
)

__all__ = [
    "DEFAULT_USER_AGENT",
    "MAX_KEY_SIZE",
    "MAX_METADATA_SIZE",
    "MAX_TIMESTAMP_SIZE",
    "Auth",
    "Challenge",
    "NotaryAPI",
    "NotaryClient",
    "encode_multipart",
    "parse_challenges",
]
