"""The name rules of offtrust: GUNs, roles, signers, key names and tags.

This is the one place these rules live; the trust store, the bundle, the HTTP
client and the ops layer all call it, so a name one of them accepts is never
refused by another later (a GUN staged and bundled, then refused at publish).

**GUN.** A GUN is the name Docker and notary give a trusted collection; it
becomes a directory (``tuf/<gun>/metadata``), a bundle member prefix and a URL
path (``/v2/<gun>/_trust/tuf/``). offtrust accepts the names the real tools
create, which is Docker's reference grammar (``docker/distribution``
``reference``) widened to what ``notary init`` is used with:

- at most 255 characters (Docker's ``NameTotalLengthMax``; notary-server
  stores the GUN in a ``varchar(255)`` column);
- ``/``-separated components, none empty, ``.`` or ``..`` (so no leading or
  trailing ``/`` and no absolute path);
- each component made of ASCII letters, digits, ``.``, ``_`` and ``-``.
  Docker wants lower case and an alphanumeric first and last character in the
  path, but ``notary init`` takes names such as ``MyTeam/app`` and writes them
  to disk, so offtrust reads and publishes them too;
- the first component may also be a registry host with a port
  (``localhost:5000``, ``127.0.0.1:4443``) or a bracketed IPv6 address
  (``[::1]:5000``), as Docker's domain grammar allows, when a path follows.

Everything else is refused: white space, control characters, ``#``, ``?``,
``%`` (they change the meaning of a URL), ``\\`` and ``*`` (notary-server
routes ``[^*]+``), ``@`` and a ``:`` after the host (``app@sha256:..`` and
``app:tag`` are references, not GUNs) and non-ASCII text.
"""

from __future__ import annotations

import functools
import posixpath
import re

from offtrust.errors import UsageError

# The base roles, as offtrust.model.metadata names them (a test checks they are
# equal). Not imported from there: the name rules serve commands that never
# parse metadata (`key list`), and the metadata classes take ~12 ms to import.
TARGETS = "targets"
BASE_ROLES = ("root", TARGETS, "snapshot", "timestamp")

#: Docker's ``NameTotalLengthMax``; also notary-server's column width.
MAX_GUN_LENGTH = 255

_COMPONENT = re.compile(r"[A-Za-z0-9._-]+")
_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_HOST = re.compile(rf"(?:{_HOST_LABEL}(?:\.{_HOST_LABEL})*|\[[0-9A-Fa-f:.]+\])(?::[0-9]+)?")
_BAD_CHARACTERS = (
    (re.compile(r"[\x00-\x1f\x7f]"), "a control character"),
    (re.compile(r"\s"), "white space"),
    (re.compile(r"[^\x00-\x7f]"), "a non-ASCII character"),
    (re.compile(r"[#?%]"), "'#', '?' or '%'"),
    (re.compile(r"\\"), "a backslash"),
    (re.compile(r"\*"), "'*'"),
    (re.compile(r"@"), "'@' (a digest reference is not a GUN)"),
)

# Every pattern below is used with fullmatch: ``$`` would also match before a
# trailing newline, letting ``"alice\n"`` through.
_DELEGATION_CHARS = re.compile(r"[-a-z0-9_/]+")
_SIGNER_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_KEY_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A surrogate code point: a byte of a command-line argument that was not UTF-8
# (PEP 383), or a lone UTF-16 half. Neither can be signed or written as JSON.
_SURROGATE = re.compile("[\ud800-\udfff]")


# --- GUN ---------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def gun_problem(gun: str) -> str | None:
    """Why *gun* is not a GUN offtrust accepts, or None when it is.

    Memoised: a bulk command checks each GUN at every layer it crosses.

    Args:
        gun: The name to check.

    Returns:
        A short reason ("contains white space"), or None.

    Raises:
        Nothing.
    """
    if not gun:
        return "empty"
    if len(gun) > MAX_GUN_LENGTH:
        return f"{len(gun)} characters, over the limit of {MAX_GUN_LENGTH}"
    if gun.startswith("/"):
        return "absolute path"
    for pattern, description in _BAD_CHARACTERS:
        if pattern.search(gun):
            return f"contains {description}"
    parts = gun.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "empty, '.' or '..' path component"
    first, rest = parts[0], parts[1:]
    if not _COMPONENT.fullmatch(first) and not (rest and _HOST.fullmatch(first)):
        if ":" in first and not rest:
            return "a registry host:port needs a repository path after it"
        return f"invalid registry host {first!r}"
    for part in rest:
        if not _COMPONENT.fullmatch(part):
            if ":" in part:
                return "':' is only allowed in the registry host (is ':TAG' part of it?)"
            return f"invalid path component {part!r}"
    return None


def check_gun(gun: str) -> str:
    """Return *gun* if :func:`gun_problem` finds nothing wrong with it.

    Raises:
        UsageError: the GUN is refused; the message says why, on one line.
    """
    problem = gun_problem(gun)
    if problem is not None:
        shown = gun if len(gun) <= 80 else gun[:77] + "..."
        raise UsageError(
            f"invalid GUN {shown!r}: {problem}",
            hint="a GUN looks like docker.io/library/alpine or localhost:5000/app",
        )
    return gun


# --- roles (notary 0.7 tuf/data/roles.go) --------------------------------------


def is_delegation(name: str) -> bool:
    """True when *name* is a valid delegation role name for notary."""
    return (
        name.startswith(TARGETS + "/")
        and len(name.encode()) < 256
        and bool(_DELEGATION_CHARS.fullmatch(name))
        and posixpath.normpath(name) == name
    )


def is_valid_role(name: str) -> bool:
    """True for a base role (root, targets, snapshot, timestamp) or a delegation."""
    return name in BASE_ROLES or is_delegation(name)


def parent_of(name: str) -> str:
    """The role that delegates to *name* (``targets/a/b`` → ``targets/a``)."""
    return posixpath.dirname(name)


def signer_name(role: str) -> str:
    """Docker's name for a delegation: the role without ``targets/``."""
    return role[len(TARGETS) + 1 :] if role.startswith(TARGETS + "/") else role


# --- signers, keys, tags -------------------------------------------------------


def check_signer_name(name: str) -> str:
    """Docker's rule for signer names (``docker trust signer add``).

    Raises:
        UsageError: the name is invalid or reserved.
    """
    if not _SIGNER_NAME.fullmatch(name) or name == "releases":
        raise UsageError(
            f"signer name {name!r} is invalid: it must match [a-z0-9][a-z0-9_-]* "
            "and cannot be 'releases'"
        )
    return name


def check_key_name(name: str) -> str:
    """Docker's rule for key names (``docker trust key generate/load``).

    Raises:
        UsageError: the name does not match ``[a-z0-9][a-z0-9_-]*``.
    """
    if not _KEY_NAME.fullmatch(name):
        raise UsageError(f"key name {name!r} must match [a-z0-9][a-z0-9_-]*")
    return name


def check_tag(tag: str) -> str:
    """offtrust's rule for a target name: non-empty, no control characters.

    Docker's own tags match ``[\\w][\\w.-]{0,127}``, but notary targets may be
    any string (``notary add`` takes file names), so only what would break a
    terminal or a one-line message is refused.

    Raises:
        UsageError: the tag is empty, holds a control character or is not
            UTF-8 text.
    """
    if not tag or _CONTROL.search(tag):
        raise UsageError("the tag must be non-empty and hold no control characters")
    if _SURROGATE.search(tag):
        raise UsageError("the tag must be UTF-8 text (it holds bytes that are not UTF-8)")
    return tag


def check_path(path: str) -> str:
    """offtrust's rule for a delegation path prefix: text without control characters.

    ``""`` (every path) is allowed; notary takes any other string.

    Raises:
        UsageError: the path holds a control character or is not UTF-8 text.
    """
    if _CONTROL.search(path):
        raise UsageError("a --path must hold no control characters")
    if _SURROGATE.search(path):
        raise UsageError("a --path must be UTF-8 text (it holds bytes that are not UTF-8)")
    return path
