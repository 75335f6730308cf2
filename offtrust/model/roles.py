"""Role-name rules of notary 0.7 (``tuf/data/roles.go``).

The rules themselves live in :mod:`offtrust.model.names`, with the other name
rules; this module re-exports them and names Docker's releases role.
"""

from __future__ import annotations

from offtrust.model.names import is_delegation, is_valid_role, parent_of, signer_name

__all__ = ["RELEASES", "is_delegation", "is_valid_role", "parent_of", "signer_name"]

RELEASES = "targets/releases"
