"""The bundle file format: staged metadata packed to cross the air gap.

A bundle is an uncompressed POSIX ustar archive. Its first member is
``manifest.json`` (``schemas/bundle-manifest.json``); then comes one member per
metadata file, ``<gun>/<role>.json``, and per published GUN the root its edits
were built on, ``<gun>/trusted-root.json``, in sorted order. The manifest
lists, per GUN, the published versions the staged edits were built on, the
trusted root's sha256, length and version, and the sha256, length and version
of *every* metadata file of the resulting state (published files unchanged,
``upload: false``; staged ones, ``upload: true``), so a bundle alone is enough
to verify each GUN's TUF chain from the root its recipients already trust.

Writing is deterministic: every member is a regular file with mode 0644,
uid/gid 0, empty owner names and mtime 0, and a member whose name does not fit
a ustar header gets a pax ``path`` record, nothing else. The same input gives
the same bytes, whatever the order it came in.

Reading never touches the filesystem: members are read into memory (at most
:data:`MAX_BUNDLE_SIZE` bytes in all) and anything a writer of this module
would not produce and that could be unsafe to unpack, or any disagreement with
the manifest, raises :class:`~offtrust.errors.BundleError`. This module is pure:
bytes in, bytes out.
"""

from __future__ import annotations

import hashlib
import io
import json
import posixpath
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from offtrust.errors import BundleError, InvalidMetadataError
from offtrust.model.canonical import has_lone_surrogate
from offtrust.model.metadata import ROOT
from offtrust.model.names import gun_problem, is_valid_role
from offtrust.schema import loads_fast, validate

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "MAX_BUNDLE_SIZE",
    "Bundle",
    "BundleFile",
    "BundleGUN",
    "PackedGUN",
    "manifest_json",
    "member_name",
    "pack_gun",
    "read_bundle",
    "write_bundle",
]

FORMAT = "offtrust-bundle"
FORMAT_VERSION = 2
#: The format of a bundle that carries a GUN deletion (``repo delete``): 2
#: plus ``"delete": true`` GUN entries. A bundle without one is still written
#: as format 2, byte for byte as before; an older offtrust refuses format 3
#: rather than misread a deletion.
FORMAT_VERSION_DELETE = 3
TRUSTED_ROOT_MEMBER = "trusted-root.json"
MANIFEST_NAME = "manifest.json"
# Largest bundle read or written, and the most member bytes read from one.
MAX_BUNDLE_SIZE = 256 * 1024 * 1024

_SCHEMA = "bundle-manifest"
_MEMBER_MODE = 0o644
# Two zero blocks end an archive; like tarfile, we then pad to a whole record.
_END_OF_ARCHIVE = 2 * tarfile.BLOCKSIZE
_TYPE_NAMES = {
    tarfile.SYMTYPE: "symlink",
    tarfile.LNKTYPE: "hard link",
    tarfile.DIRTYPE: "directory",
    tarfile.CHRTYPE: "character device",
    tarfile.BLKTYPE: "block device",
    tarfile.FIFOTYPE: "FIFO",
    tarfile.CONTTYPE: "contiguous file",
    tarfile.GNUTYPE_SPARSE: "sparse file",
}


@dataclass(frozen=True)
class BundleFile:
    """One metadata file of a GUN's resulting state.

    Attributes:
        role: The role name (``targets/releases``).
        data: The file's bytes, exactly as signed; never re-serialized.
        version: The document's ``signed.version``.
        upload: True for a staged file to publish, False for a published file
            left unchanged.
    """

    role: str
    data: bytes
    version: int
    upload: bool


@dataclass(frozen=True)
class BundleGUN:
    """One GUN in a bundle.

    Attributes:
        gun: The GUN (``example.com/app``).
        base: Published version of each role the staged edits were built on;
            empty for a new GUN.
        new_gun: True when the GUN has never been published.
        files: Every metadata file of the resulting state, keyed by role.
        trusted_root: The bytes of the root the edits were built on (the
            published root); None for a new GUN. Every newer root, and the
            server's root at publish time, must chain from it.
        delete: True for a staged deletion of the GUN on the server (``repo
            delete``): no files; ``publish`` deletes the GUN only while the
            server's root is *trusted_root*.
    """

    gun: str
    base: dict[str, int]
    new_gun: bool
    files: dict[str, BundleFile]
    trusted_root: bytes | None = None
    delete: bool = False


@dataclass(frozen=True)
class Bundle:
    """A bundle read and checked by :func:`read_bundle`.

    Attributes:
        guns: Each GUN, keyed by name, in sorted order.
        manifest: The parsed ``manifest.json``.
        sha256: Hex SHA-256 of the whole bundle's bytes.
    """

    guns: dict[str, BundleGUN]
    manifest: dict[str, Any]
    sha256: str


def member_name(gun: str, role: str) -> str:
    """The archive member that holds *role*'s metadata of *gun*."""
    return f"{gun}/{role}.json"


def trusted_root_member(gun: str) -> str:
    """The archive member that holds the trusted (base) root of *gun*."""
    return f"{gun}/{TRUSTED_ROOT_MEMBER}"


@dataclass(frozen=True)
class PackedGUN:
    """One GUN made ready for :func:`write_bundle` by :func:`pack_gun`.

    Packing is the per-GUN part of writing a bundle (the checks, digests and
    archive members), so that it can be done for many GUNs apart (in worker
    processes) and only assembled at the end.

    Attributes:
        gun: The GUN.
        entry: Its entry in the manifest's ``guns``.
        members: Its archive members: name, then header and padded content.
    """

    gun: str
    entry: dict[str, Any]
    members: tuple[tuple[str, bytes], ...]


def pack_gun(entry: BundleGUN) -> PackedGUN:
    """Check one GUN and make its manifest entry and archive members.

    Raises:
        BundleError: a ``files`` key that differs from its file's role, or a
            version that differs from the file's ``signed.version``.
    """
    where = "bundle to write"
    gun = entry.gun
    files: dict[str, Any] = {}
    members: list[tuple[str, bytes]] = []
    for role, file in entry.files.items():
        if file.role != role:
            raise BundleError(f"{where}: GUN {gun!r}: file {role!r} holds role {file.role!r}")
        name = member_name(gun, role)
        _check_signed_version(file.data, file.version, where=f"{where}: member {name!r}")
        files[role] = {
            "sha256": hashlib.sha256(file.data).hexdigest(),
            "length": len(file.data),
            "version": file.version,
            "upload": file.upload,
        }
        members.append((name, _member_bytes(name, file.data)))
    trusted: dict[str, Any] | None = None
    if entry.trusted_root is not None:
        name = trusted_root_member(gun)
        data = entry.trusted_root
        trusted = {
            "sha256": hashlib.sha256(data).hexdigest(),
            "length": len(data),
            "version": _signed_version(data, where=f"{where}: member {name!r}"),
        }
        members.append((name, _member_bytes(name, data)))
    manifest_entry: dict[str, Any] = {
        "base": dict(entry.base),
        "new_gun": entry.new_gun,
        "trusted_root": trusted,
        "files": files,
    }
    if entry.delete:
        manifest_entry["delete"] = True
    return PackedGUN(gun, manifest_entry, tuple(members))


def write_bundle(guns: Iterable[BundleGUN | PackedGUN]) -> bytes:
    """Pack *guns* into bundle bytes, deterministically.

    Args:
        guns: The GUNs to pack, in any order; each at most once; each as it
            is, or already packed by :func:`pack_gun`.

    Returns:
        The bundle: the same GUNs always give the same bytes.

    Raises:
        BundleError: The input would not make a bundle :func:`read_bundle`
            accepts: no GUN, a GUN listed twice, an invalid GUN or role name, a
            ``files`` key that differs from its file's role, a version that
            differs from the file's ``signed.version``, two files at the same
            member name, or a bundle over :data:`MAX_BUNDLE_SIZE`.
    """
    where = "bundle to write"
    by_name: dict[str, PackedGUN] = {}
    for given in guns:
        if given.gun in by_name:
            raise BundleError(f"{where}: GUN {given.gun!r} is listed twice")
        by_name[given.gun] = given if isinstance(given, PackedGUN) else pack_gun(given)

    manifest_guns = {gun: packed.entry for gun, packed in by_name.items()}
    members = {name: part for packed in by_name.values() for name, part in packed.members}
    deletes = any(entry.get("delete") for entry in manifest_guns.values())
    version = FORMAT_VERSION_DELETE if deletes else FORMAT_VERSION
    manifest = {"format": FORMAT, "format_version": version, "guns": manifest_guns}
    # The same checks as on reading, so that nothing written is refused later;
    # they also catch two files that would share one member name.
    _check_manifest(manifest, where=f"{where}: {MANIFEST_NAME}")

    parts = [_member_bytes(MANIFEST_NAME, manifest_json(manifest))]
    parts.extend(members[name] for name in sorted(members))
    archive = b"".join(parts) + b"\0" * _END_OF_ARCHIVE
    archive += b"\0" * (-len(archive) % tarfile.RECORDSIZE)
    if len(archive) > MAX_BUNDLE_SIZE:
        raise BundleError(
            f"{where}: {len(archive)} bytes is over the limit of {MAX_BUNDLE_SIZE} bytes"
        )
    return archive


def manifest_json(manifest: dict[str, Any]) -> bytes:
    """``manifest.json``'s bytes: ``json.dumps(manifest, indent=2, sort_keys=True)`` and a newline.

    orjson writes the same bytes much faster whenever they are plain ASCII
    (it writes other characters unescaped, where ``json.dumps`` escapes them
    as ``\\uXXXX``); anything else goes the exact way.
    """
    try:
        import orjson

        fast: bytes | None = orjson.dumps(
            manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
        )
    except (ImportError, TypeError):
        fast = None
    if fast is not None and fast.isascii():
        return fast + b"\n"
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")


def read_bundle(data: bytes, *, source: str = "bundle") -> Bundle:
    """Parse and check bundle bytes, without touching the filesystem.

    Checks the archive's structure and every member against the manifest:
    names, types, sizes, sha256 digests and versions. It does not verify
    signatures or the TUF chain; that is ``bundle verify``'s job.

    Args:
        data: The bundle's bytes.
        source: Where the bytes came from, used to start every message.

    Returns:
        The bundle's GUNs, its parsed manifest and its sha256.

    Raises:
        BundleError: The bytes are not a complete tar archive or are over
            :data:`MAX_BUNDLE_SIZE`; the first member is not ``manifest.json``;
            the manifest is not UTF-8 JSON, fails its schema or names an invalid
            GUN or role; a member is not a regular file, has an unsafe or
            duplicate name, carries pax records other than ``path``, is not
            listed in the manifest, or differs from its manifest entry; or a
            listed file has no member. The one-line message names the member.
    """
    if len(data) > MAX_BUNDLE_SIZE:
        raise BundleError(
            f"{source}: {len(data)} bytes is over the limit of {MAX_BUNDLE_SIZE} bytes"
        )
    manifest: dict[str, Any] | None = None
    expected: dict[str, tuple[str, str]] = {}
    contents: dict[str, bytes] = {}
    seen: set[str] = set()
    budget = MAX_BUNDLE_SIZE
    try:
        with tarfile.open(
            fileobj=io.BytesIO(data), mode="r:", encoding="utf-8", errors="strict"
        ) as tar:
            for member in tar:
                name = member.name
                where = f"{source}: member {name!r}"
                _check_member(tar, member, where=where)
                if name in seen:
                    raise BundleError(f"{where}: duplicate member")
                seen.add(name)
                if manifest is None:
                    if name != MANIFEST_NAME:
                        raise BundleError(f"{where}: the first member must be {MANIFEST_NAME!r}")
                elif name not in expected:
                    raise BundleError(f"{where}: not listed in {MANIFEST_NAME}")
                # Members cannot outgrow the bytes checked above (sparse files
                # and pax size records are refused); this keeps that true.
                if member.size > budget:
                    raise BundleError(
                        f"{where}: members exceed the limit of {MAX_BUNDLE_SIZE} bytes"
                    )
                budget -= member.size
                content = _read_member(tar, member, where=where)
                if manifest is None:
                    manifest = _parse_manifest(content, where=where)
                    expected = _check_manifest(manifest, where=where)
                else:
                    gun, role = expected[name]
                    gun_entry = manifest["guns"][gun]
                    meta = (
                        gun_entry["trusted_root"]
                        if role == TRUSTED_ROOT_MEMBER
                        else gun_entry["files"][role]
                    )
                    _check_content(content, meta, where=where)
                    contents[name] = content
            end = tar.offset
    except (tarfile.TarError, EOFError, UnicodeError) as e:
        raise BundleError(f"{source}: not a tar archive or truncated: {_one_line(e)}") from e

    if manifest is None:
        raise BundleError(f"{source}: empty archive: no {MANIFEST_NAME}")
    _check_end(data, end, source=source)
    for name in sorted(expected):
        if name not in contents:
            raise BundleError(f"{source}: member {name!r}: listed in {MANIFEST_NAME} but missing")

    guns: dict[str, BundleGUN] = {}
    for gun in sorted(manifest["guns"]):
        entry = manifest["guns"][gun]
        files = {
            role: BundleFile(
                role=role,
                data=contents[member_name(gun, role)],
                version=meta["version"],
                upload=meta["upload"],
            )
            for role, meta in sorted(entry["files"].items())
        }
        trusted_root = (
            contents[trusted_root_member(gun)] if entry["trusted_root"] is not None else None
        )
        guns[gun] = BundleGUN(
            gun=gun,
            base=dict(entry["base"]),
            new_gun=entry["new_gun"],
            files=files,
            trusted_root=trusted_root,
            delete=entry.get("delete", False),
        )
    # A bundle is deterministic, so anything but the exact bytes its content
    # produces (padding, spare header bytes, reordered members) was altered.
    if write_bundle(guns.values()) != data:
        raise BundleError(
            f"{source}: the archive is not byte-identical to what its content produces "
            "(altered after staging?)"
        )
    return Bundle(guns=guns, manifest=manifest, sha256=hashlib.sha256(data).hexdigest())


# --- writing -----------------------------------------------------------------


def _member_bytes(name: str, content: bytes) -> bytes:
    """Header and padded content of one regular-file member."""
    header = _short_header(name, len(content))
    if header is None:
        header = _tarfile_header(name, len(content))
    return header + content + b"\0" * (-len(content) % tarfile.BLOCKSIZE)


# ustar fields this writer fills for each member (the rest never changes).
_NAME_FIELD = slice(0, 100)
_SIZE_FIELD = slice(124, 136)
_CHECKSUM_FIELD = slice(148, 156)


def _short_header(name: str, size: int) -> bytes | None:
    """:func:`_tarfile_header`, made from a template for a short ASCII name; else None.

    A bundle of 200 GUNs has some 1,200 members: ``TarInfo.tobuf`` took more
    time than everything else that packs them. The bytes are tarfile's
    (tests/unit/test_bundle.py compares them on generated names and sizes).
    """
    if len(name) > 100 or not name.isascii() or "\0" in name or size >= 8**11:
        return None
    header = bytearray(_HEADER_TEMPLATE)
    header[_NAME_FIELD] = name.encode("ascii").ljust(100, b"\0")
    header[_SIZE_FIELD] = b"%011o\0" % size
    header[_CHECKSUM_FIELD] = b"%06o\0 " % sum(header)
    return bytes(header)


def _tarfile_header(name: str, size: int) -> bytes:
    """The ustar header tarfile writes for a member (pax when the name needs it)."""
    info = tarfile.TarInfo(name)
    info.type = tarfile.REGTYPE
    info.size = size
    info.mode = _MEMBER_MODE
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    try:
        header = info.tobuf(tarfile.USTAR_FORMAT, "ascii", "strict")
    except ValueError:
        # Too long for ustar's name and prefix fields, or not ASCII: only then
        # does a pax record carry the name (as UTF-8).
        header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict")
    return header


# A member's header with an empty name, size 0 and the checksum field blank
# (eight spaces, as the checksum is computed).
_HEADER_TEMPLATE = bytearray(_tarfile_header("", 0))
_HEADER_TEMPLATE[_CHECKSUM_FIELD] = b" " * 8


# --- reading -----------------------------------------------------------------


def _check_member(tar: tarfile.TarFile, member: tarfile.TarInfo, *, where: str) -> None:
    """Refuse a member that is not a plain regular file at a safe relative path."""
    problem = _path_problem(member.name)
    if problem is not None:
        raise BundleError(f"{where}: unsafe path: {problem}")
    if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE) or member.sparse is not None:
        kind = _TYPE_NAMES.get(member.type, f"type {member.type!r}")
        if member.sparse is not None:
            kind = _TYPE_NAMES[tarfile.GNUTYPE_SPARSE]
        raise BundleError(f"{where}: not a regular file ({kind})")
    if tar.pax_headers:
        raise BundleError(
            f"{where}: global pax header ({', '.join(sorted(tar.pax_headers))}) not allowed"
        )
    # A writer of this module only ever puts a long or non-ASCII name in a pax
    # record; the name checked above is already the one the record set.
    extra = sorted(set(member.pax_headers) - {"path"})
    if extra:
        raise BundleError(f"{where}: pax header fields not allowed: {', '.join(extra)}")


def _path_problem(name: str) -> str | None:
    """Why *name* is not a safe, normalised relative member path, or None."""
    if not name:
        return "empty name"
    if "\0" in name:
        return "contains NUL"
    if "\\" in name:
        return "contains a backslash"
    if name.startswith("/"):
        return "absolute path"
    if ".." in name.split("/"):
        return "contains '..'"
    if posixpath.normpath(name) != name:
        return f"not normalised (would be {posixpath.normpath(name)!r})"
    return None


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo, *, where: str) -> bytes:
    """All of *member*'s bytes, from memory."""
    stream = tar.extractfile(member)
    if stream is None:  # Not reached: _check_member admits regular files only.
        raise BundleError(f"{where}: not a regular file")
    try:
        content = stream.read()
    except (tarfile.TarError, EOFError) as e:
        raise BundleError(f"{where}: truncated: {_one_line(e)}") from e
    if len(content) != member.size:
        raise BundleError(f"{where}: truncated: {len(content)} of {member.size} bytes")
    return content


def _check_end(data: bytes, end: int, *, source: str) -> None:
    """After the last member, only the zero blocks that end an archive may follow.

    tarfile stops quietly at a header it cannot read, so without this check a
    corrupt header in the middle, or a cut between two members, would go unseen.
    """
    trailer = data[end:]
    if trailer.strip(b"\0"):
        raise BundleError(
            f"{source}: unreadable data at offset {end}: corrupt tar header or trailing data"
        )
    if len(trailer) < _END_OF_ARCHIVE:
        raise BundleError(f"{source}: truncated: no end-of-archive marker after offset {end}")


# --- manifest ------------------------------------------------------------------


def _parse_manifest(content: bytes, *, where: str) -> dict[str, Any]:
    """Decode the manifest: strict UTF-8 JSON without duplicate keys or NaN."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BundleError(f"{where}: malformed JSON: invalid UTF-8 at byte {e.start}") from e

    def refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        document = dict(pairs)
        if len(document) != len(pairs):
            keys = [key for key, _ in pairs]
            duplicate = next(key for key in keys if keys.count(key) > 1)
            raise BundleError(f"{where}: malformed JSON: duplicate key {duplicate!r}")
        return document

    def refuse_constant(name: str) -> Any:
        raise BundleError(f"{where}: malformed JSON: {name} is not a JSON value")

    try:
        document = json.loads(
            text, object_pairs_hook=refuse_duplicates, parse_constant=refuse_constant
        )
    except json.JSONDecodeError as e:
        raise BundleError(
            f"{where}: malformed JSON: {e.msg} (line {e.lineno} column {e.colno})"
        ) from e
    except RecursionError as e:
        raise BundleError(f"{where}: malformed JSON: nested too deeply") from e
    except ValueError as e:
        # int() refuses to convert more digits than sys.get_int_max_str_digits().
        raise BundleError(f"{where}: malformed JSON: a number has too many digits") from e
    if has_lone_surrogate(text, document):
        raise BundleError(f"{where}: malformed JSON: a string holds a lone surrogate escape")
    if not isinstance(document, dict):
        raise BundleError(f"{where}: not a JSON object")
    return document


def _check_manifest(manifest: dict[str, Any], *, where: str) -> dict[str, tuple[str, str]]:
    """Check *manifest* against its schema and its own rules.

    Returns:
        The member name of every listed file, mapped to its GUN and role.
    """
    if manifest.get("format_version") == 1 and manifest.get("format") == FORMAT:
        raise BundleError(
            f"{where}: bundle format 1 (from an older offtrust) does not carry the trusted "
            "root; stage the edits again with this version"
        )
    try:
        validate(_SCHEMA, manifest, source=where)
    except InvalidMetadataError as e:
        raise BundleError(e.message) from e

    members: dict[str, tuple[str, str]] = {}
    for gun, entry in manifest["guns"].items():
        at = f"{where}: GUN {gun!r}"
        problem = _gun_problem(gun)
        if problem is not None:
            raise BundleError(f"{at}: invalid GUN: {problem}")
        base: dict[str, int] = entry["base"]
        for role in (*base, *entry["files"]):
            # The schema's pattern already says so; this keeps one source of
            # truth with the model should either ever change.
            if not is_valid_role(role):
                raise BundleError(f"{at}: invalid role name {role!r}")
        if entry["new_gun"] and base:
            raise BundleError(f"{at}: a new GUN has no published base versions")
        if entry.get("delete") and manifest["format_version"] != FORMAT_VERSION_DELETE:
            raise BundleError(
                f"{at}: a deletion needs bundle format {FORMAT_VERSION_DELETE}, "
                f"not {manifest['format_version']}"
            )
        if entry.get("delete") and (entry["new_gun"] or entry["files"]):
            raise BundleError(f"{at}: a deletion carries no files and no new GUN")
        if not entry["new_gun"] and ROOT not in base:
            raise BundleError(f"{at}: a published GUN needs the base version of {ROOT!r}")
        trusted = entry["trusted_root"]
        if entry["new_gun"] != (trusted is None):
            raise BundleError(
                f"{at}: a published GUN needs its trusted root, and a new GUN has none"
            )
        if trusted is not None:
            if trusted["version"] != base[ROOT]:
                raise BundleError(
                    f"{at}: trusted root version {trusted['version']} is not the base "
                    f"version {base[ROOT]}"
                )
            _claim(members, trusted_root_member(gun), gun, TRUSTED_ROOT_MEMBER, at)
        for role, meta in entry["files"].items():
            if not meta["upload"] and base.get(role) != meta["version"]:
                raise BundleError(
                    f"{at}: {role!r} is not uploaded, so its version {meta['version']} "
                    f"must be the published one ({base.get(role, 'none')})"
                )
            _claim(members, member_name(gun, role), gun, role, at)
    return members


def _claim(members: dict[str, tuple[str, str]], name: str, gun: str, role: str, at: str) -> None:
    """Record member *name* as *gun*'s *role*, refusing a name two files would share."""
    if name in members:
        other_gun, other_role = members[name]
        raise BundleError(
            f"{at}: role {role!r} and GUN {other_gun!r} role {other_role!r} "
            f"share the member name {name!r}"
        )
    members[name] = (gun, role)


def _gun_problem(gun: str) -> str | None:
    """Why *gun* cannot name a GUN in a bundle, or None: the one GUN rule."""
    return gun_problem(gun)


def _check_content(content: bytes, meta: dict[str, Any], *, where: str) -> None:
    """Refuse a member whose bytes differ from its manifest entry."""
    if len(content) != meta["length"]:
        raise BundleError(
            f"{where}: length mismatch: manifest says {meta['length']}, member has {len(content)}"
        )
    digest = hashlib.sha256(content).hexdigest()
    if digest != meta["sha256"]:
        raise BundleError(
            f"{where}: sha256 mismatch: manifest says {meta['sha256']}, member has {digest}"
        )
    _check_signed_version(content, meta["version"], where=where)


def _check_signed_version(data: bytes, version: int, *, where: str) -> None:
    """Refuse *data* unless it is signed metadata whose ``signed.version`` is *version*."""
    actual = _signed_version(data, where=where)
    if actual != version:
        raise BundleError(
            f"{where}: version mismatch: manifest says {version}, signed.version is {actual}"
        )


def _signed_version(data: bytes, *, where: str) -> int:
    """The ``signed.version`` of metadata bytes."""
    parsed, document = loads_fast(data)
    try:
        if not parsed:
            document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise BundleError(f"{where}: not a JSON metadata document: {_one_line(e)}") from e
    except ValueError as e:
        # int() refuses to convert more digits than sys.get_int_max_str_digits().
        raise BundleError(f"{where}: not a JSON metadata document: a number is too long") from e
    signed = document.get("signed") if isinstance(document, dict) else None
    actual = signed.get("version") if isinstance(signed, dict) else None
    if not isinstance(actual, int) or isinstance(actual, bool):
        raise BundleError(f"{where}: no integer signed.version")
    return actual


def _one_line(error: BaseException) -> str:
    """*error*'s text, or its class name when it has none."""
    text = " ".join(str(error).split())
    return text or type(error).__name__
