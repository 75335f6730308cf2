"""Role-name rules of notary 0.7 (``tuf/data/roles.go``)."""

from __future__ import annotations

import posixpath
import re

from offtrust.model.metadata import BASE_ROLES, TARGETS

_DELEGATION_CHARS = re.compile(r"^[-a-z0-9_/]+$")
RELEASES = "targets/releases"


def is_delegation(name: str) -> bool:
    """True when *name* is a valid delegation role name for notary."""
    return (
        name.startswith(TARGETS + "/")
        and len(name.encode()) < 256
        and bool(_DELEGATION_CHARS.match(name))
        and posixpath.normpath(name) == name
    )


def is_valid_role(name: str) -> bool:
    return name in BASE_ROLES or is_delegation(name)


def parent_of(name: str) -> str:
    """The role that delegates to *name* (``targets/a/b`` → ``targets/a``)."""
    return posixpath.dirname(name)


def signer_name(role: str) -> str:
    """Docker's name for a delegation: the role without ``targets/``."""
    return role[len(TARGETS) + 1 :] if role.startswith(TARGETS + "/") else role
