"""An in-memory view of one GUN's metadata: published, with staged edits over it."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from offtrust.errors import NotFoundError
from offtrust.model.metadata import (
    ROOT,
    SNAPSHOT,
    TARGETS,
    TIMESTAMP,
    DelegatedRole,
    Metadata,
    Root,
    Snapshot,
    Targets,
    Timestamp,
)


@dataclass
class RepoState:
    """Every metadata document of a GUN that could be read, by role name.

    ``staged`` names the roles whose document is new (the staged layer, or a
    bundle's uploads); ``published`` keeps the published documents those
    staged ones replace, so rollback and root-rotation rules can be checked.

    The other fields tell the trust rules (:mod:`offtrust.model.verify`) what
    this state is checked against when it comes from outside the trust
    directory (a bundle, a server):

    Attributes:
        trusted_root: the root trusted before this state's root (the cached
            one for ``fetch``, the base root of a bundle). ``None``: the
            published root when root is staged, else the state's own root
            (trust on first use, as Docker).
        root_chain: the root versions between ``trusted_root`` and the state's
            root, oldest first (``fetch`` downloads them).
        floors: the lowest acceptable version of each role (the cached or
            base version); staged roles must also move past their published one.
        network: the documents come from a server: an expired timestamp or
            snapshot is fatal, as in notary's client.
        previous_roles: delegations that had a document before (``fetch``):
            a snapshot may not drop one its parent still lists.
    """

    gun: str
    roles: dict[str, Metadata[Any]] = field(default_factory=dict)
    staged: set[str] = field(default_factory=set)
    published: dict[str, Metadata[Any]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    trusted_root: Metadata[Any] | None = None
    root_chain: list[Metadata[Any]] = field(default_factory=list)
    floors: dict[str, int] = field(default_factory=dict)
    network: bool = False
    previous_roles: set[str] = field(default_factory=set)

    def get(self, role: str) -> Metadata[Any] | None:
        return self.roles.get(role)

    @property
    def root(self) -> Metadata[Root]:
        md = self.roles.get(ROOT)
        if md is None:
            raise NotFoundError(
                f"{self.gun}: no root.json", hint=f"run `offtrust fetch {self.gun} --server URL`"
            )
        return md

    @property
    def targets(self) -> Metadata[Targets]:
        md = self.roles.get(TARGETS)
        if md is None:
            raise NotFoundError(
                f"{self.gun}: no targets.json",
                hint=f"run `offtrust fetch {self.gun} --server URL`",
            )
        return md

    @property
    def snapshot(self) -> Metadata[Snapshot] | None:
        return self.roles.get(SNAPSHOT)

    @property
    def timestamp(self) -> Metadata[Timestamp] | None:
        return self.roles.get(TIMESTAMP)

    def walk_delegations(self) -> Iterator[tuple[str, DelegatedRole]]:
        """Breadth-first ``(parent, role entry)`` pairs from ``targets`` down.

        Follows only roles whose parent document is present, in the order
        parents list them (the order notary and Docker walk them in).
        """
        if TARGETS not in self.roles:
            return
        queue = deque([TARGETS])
        seen = {TARGETS}
        while queue:
            parent = queue.popleft()
            md = self.roles.get(parent)
            if md is None:
                continue
            for entry in md.signed.delegations.roles:
                yield parent, entry
                if entry.name not in seen and entry.name.startswith(parent + "/"):
                    seen.add(entry.name)
                    queue.append(entry.name)

    def delegation_entry(self, role: str) -> tuple[str, DelegatedRole] | None:
        for parent, entry in self.walk_delegations():
            if entry.name == role:
                return parent, entry
        return None

    def targets_roles(self) -> list[str]:
        """``targets`` and every delegated role with a document, walk order."""
        names = [TARGETS] if TARGETS in self.roles else []
        names += [e.name for _, e in self.walk_delegations() if e.name in self.roles]
        return list(dict.fromkeys(names))
