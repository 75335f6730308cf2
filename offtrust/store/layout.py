"""Path rules of a Docker / Notary trust directory, and offtrust's additions to it.

```
<trust>/private/<keyid>.key                     keys (flat layout, notary >= 0.4)
<trust>/private/root_keys/<keyid>_root.key      legacy layout, read as is
<trust>/private/tuf_keys/<gun>/<keyid>_<role>.key
<trust>/tuf/<gun>/metadata/<role>.json          published state (notary's cache)
<trust>/offtrust/staged/<gun>/metadata/...      staged edits (never read by notary)
<trust>/offtrust/staged/<gun>/metadata/state.json  what the staged edits were built on
<trust>/offtrust/server/<gun>/<role>.key.json   server-held keys recorded by fetch
<trust>/offtrust/lock                           the write lock (holder's pid)
```

A GUN's ``metadata`` directory, published or staged, is one generation: it is
replaced as a whole, in one rename, never file by file (see
:mod:`offtrust.store._fs`), which is why the staged state lives inside it
(earlier versions kept it in ``staged/<gun>/state.json``, still read).

Only directories are walked to find GUNs, never links; a directory whose name
is not a valid GUN (:func:`offtrust.model.names.gun_problem`), such as one
holding a newline, is not a GUN and is skipped.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from offtrust.errors import StoreError, UsageError
from offtrust.model.names import check_gun, gun_problem
from offtrust.store import _fs
from offtrust.store._record import FrozenRecord

__all__ = ["METADATA", "TrustDir", "check_gun", "check_role_path"]

METADATA = _fs.CURRENT

#: Paths below the trust directory, as components.
OFFTRUST = "offtrust"
TUF = ("tuf",)
PRIVATE = ("private",)
STAGED = (OFFTRUST, "staged")
SERVER = (OFFTRUST, "server")


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


class TrustDir(FrozenRecord):
    """A trust directory (``~/.docker/trust``), as named on the command line.

    Immutable, compared and hashed by :attr:`path` (a :class:`FrozenRecord`,
    not a dataclass: ``key list`` starts without importing ``dataclasses``).
    """

    FIELDS = ("path",)
    path: Path

    def __init__(self, path: Path) -> None:
        self._set(path)

    @functools.cached_property
    def root(self) -> Path:
        """:attr:`path` with the links in it resolved, once: ``-d`` may name a link on
        purpose, and every operation then works on the directory it led to, even if
        the link changes meanwhile. Nothing below it is ever followed."""
        return Path(os.path.realpath(self.path))

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
        return _guns_under(self.root, TUF)

    def staged_guns(self) -> list[str]:
        return _guns_under(self.root, STAGED)

    def staged_guns_marked(self, marker: str) -> tuple[list[str], list[str]]:
        """:meth:`staged_guns`, and the staged GUNs whose directory holds a regular file *marker*.

        One walk of the staged layer for both (``stage`` packs edits and deletions).
        """
        marked: list[str] = []
        return _guns_under(self.root, STAGED, marker, marked), sorted(marked)

    def all_guns(self) -> list[str]:
        return sorted(set(self.published_guns()) | set(self.staged_guns()))


def gun_parts(gun: str) -> tuple[str, ...]:
    """The path components of a GUN's directory.

    Raises:
        UsageError: not a valid GUN.
    """
    return tuple(check_gun(gun).split("/"))


def _guns_under(
    root: Path, base: tuple[str, ...], marker: str | None = None, marked: list[str] | None = None
) -> list[str]:
    """Every valid GUN below *base* whose directory holds a metadata generation.

    With *marker*, every valid GUN whose directory holds a regular file of that
    name is added to *marked* too. Links are never followed; unreadable parts
    of the tree are skipped.
    """
    guns: list[str] = []
    try:
        top = _fs.open_root(root)
        if top is None:
            return guns
        with top:
            start = top.walk(base)
            if start is None:
                return guns
            with start:
                _collect(start, (), guns, marker, marked)
    except StoreError:
        pass
    return sorted(guns)


def _collect(
    directory: _fs.Dir,
    parts: tuple[str, ...],
    guns: list[str],
    marker: str | None = None,
    marked: list[str] | None = None,
) -> None:
    try:
        entries = directory.entries()
    except StoreError:
        return
    gun = "/".join(parts)
    names = {name for name, kind in entries if kind == _fs.DIR}
    if parts and gun_problem(gun) is None:
        committed = METADATA in names or any(
            n.startswith(_fs.OLD_PREFIX) and _fs.is_leftover(n) for n in names
        )
        if committed:
            guns.append(gun)
        if marker is not None and marked is not None and (marker, _fs.FILE) in entries:
            marked.append(gun)
    if len(parts) >= _fs.MAX_DEPTH:
        return
    for name in sorted(names):
        # Never descend into metadata or changelist, or offtrust's leftovers:
        # they hold no GUNs.
        if name in (METADATA, "changelist") or _fs.is_leftover(name):
            continue
        try:
            sub = directory.open_dir(name)
        except StoreError:
            continue
        if sub is None:
            continue
        with sub:
            _collect(sub, (*parts, name), guns, marker, marked)
