"""Path rules of a Docker / Notary trust directory, and offtrust's additions to it.

```
<trust>/private/<keyid>.key                     keys (flat layout, notary >= 0.4)
<trust>/private/root_keys/<keyid>_root.key      legacy layout, read as is
<trust>/private/tuf_keys/<gun>/<keyid>_<role>.key
<trust>/tuf/<gun>/metadata/<role>.json          published state (notary's cache)
<trust>/offtrust/staged/<gun>/metadata/...      staged edits (never read by notary)
<trust>/offtrust/staged/<gun>/state.json        what the staged edits were built on
<trust>/offtrust/server/<gun>/<role>.key.json   server-held keys recorded by fetch
```
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from offtrust.errors import UsageError
from offtrust.model.names import check_gun

__all__ = ["METADATA", "TrustDir", "check_gun", "check_role_path"]

METADATA = "metadata"


def check_role_path(role: str) -> str:
    """Return *role* if it can name a file under ``metadata/``.

    Raises:
        UsageError: the role would escape its directory.
    """
    if (
        not role
        or role.startswith("/")
        or "\\" in role
        or any(part in ("", ".", "..") for part in role.split("/"))
    ):
        raise UsageError(f"invalid role name {role!r}")
    return role


@dataclass(frozen=True)
class TrustDir:
    path: Path

    @property
    def private(self) -> Path:
        return self.path / "private"

    @property
    def tuf(self) -> Path:
        return self.path / "tuf"

    @property
    def offtrust(self) -> Path:
        return self.path / "offtrust"

    def published_dir(self, gun: str) -> Path:
        return self.tuf / check_gun(gun) / METADATA

    def staged_root(self, gun: str) -> Path:
        return self.offtrust / "staged" / check_gun(gun)

    def staged_dir(self, gun: str) -> Path:
        return self.staged_root(gun) / METADATA

    def server_keys_dir(self, gun: str) -> Path:
        return self.offtrust / "server" / check_gun(gun)

    @staticmethod
    def role_file(directory: Path, role: str) -> Path:
        return directory / (check_role_path(role) + ".json")

    def relative(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.path))
        except ValueError:
            return str(path)

    def published_guns(self) -> list[str]:
        return _guns_under(self.tuf)

    def staged_guns(self) -> list[str]:
        return _guns_under(self.offtrust / "staged")

    def all_guns(self) -> list[str]:
        return sorted(set(self.published_guns()) | set(self.staged_guns()))


def _guns_under(base: Path) -> list[str]:
    """Every relative directory under *base* that holds a ``metadata/`` directory."""
    guns: list[str] = []
    if not base.is_dir():
        return guns
    for dirpath, dirnames, _ in os.walk(base):
        if METADATA in dirnames and Path(dirpath) != base:
            guns.append(Path(dirpath).relative_to(base).as_posix())
        # Never descend into metadata or changelist: they hold no GUNs.
        dirnames[:] = sorted(d for d in dirnames if d not in (METADATA, "changelist"))
    return sorted(guns)
