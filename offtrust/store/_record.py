"""An immutable record with value equality, as ``@dataclass(frozen=True)`` makes one.

Internal to :mod:`offtrust.store`. The key-list path (``offtrust._entry``)
must start without importing ``dataclasses`` (and ``inspect`` with it), so
the few records on that path derive from :class:`FrozenRecord` instead.
"""

from __future__ import annotations

from typing import ClassVar


class FrozenRecord:
    """Fields named in ``FIELDS``, set once by the subclass's ``__init__`` (:meth:`_set`).

    Compared and hashed by all the fields; shown by those in ``SHOWN``.
    Instances keep a ``__dict__`` (for ``functools.cached_property``).
    """

    FIELDS: ClassVar[tuple[str, ...]] = ()
    SHOWN: ClassVar[tuple[str, ...] | None] = None  # None: every field

    def _set(self, *values: object) -> None:
        for name, value in zip(self.FIELDS, values, strict=True):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.FIELDS)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, FrozenRecord)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        shown = self.FIELDS if self.SHOWN is None else self.SHOWN
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in shown)
        return f"{type(self).__name__}({fields})"
