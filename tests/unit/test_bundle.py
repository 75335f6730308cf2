"""The bundle format: deterministic writing, and reading that refuses anything unsafe."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import tarfile
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offtrust import bundle as bundle_module
from offtrust.bundle import (
    MANIFEST_NAME,
    Bundle,
    BundleFile,
    BundleGUN,
    member_name,
    read_bundle,
    write_bundle,
)
from offtrust.errors import BundleError

APP = "example.com/app"
NEW = "example.com/new"

# sha256 of write_bundle([_published_gun(), _new_gun()]). It changes only when
# the format does (or when tarfile starts writing different headers, which would
# break the promise that the same staged state gives the same bundle).
GOLDEN_SHA256 = "c5da37f3da95eaf45b8b58348891d4916be3938533ec513e84a90591bb7a70ba"


# --- builders ------------------------------------------------------------------


def _doc(role: str, version: int) -> bytes:
    """A small signed document, written as notary writes metadata."""
    kind = role.split("/")[0].capitalize()
    signed = {"_type": kind, "expires": "2030-01-01T00:00:00Z", "version": version}
    return json.dumps({"signed": signed, "signatures": []}, separators=(",", ":")).encode()


def _file(role: str, version: int, *, upload: bool = True) -> BundleFile:
    return BundleFile(role=role, data=_doc(role, version), version=version, upload=upload)


def _published_gun() -> BundleGUN:
    base = {"root": 1, "targets": 3, "snapshot": 5, "timestamp": 9, "targets/releases": 2}
    files = [
        _file("root", 1, upload=False),
        _file("targets", 4),
        _file("snapshot", 6),
        _file("timestamp", 10),
        _file("targets/releases", 2, upload=False),
        _file("targets/qa", 1),
    ]
    return BundleGUN(
        gun=APP,
        base=base,
        new_gun=False,
        files={f.role: f for f in files},
        trusted_root=_doc("root", 1),
    )


def _new_gun() -> BundleGUN:
    files = [_file("root", 1), _file("targets", 1)]
    return BundleGUN(gun=NEW, base={}, new_gun=True, files={f.role: f for f in files})


def _bundle() -> bytes:
    return write_bundle([_published_gun(), _new_gun()])


def _members(data: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
    """Every member of *data* with its content, in archive order."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        result = []
        for member in tar:
            stream = tar.extractfile(member)
            result.append((member, stream.read() if stream else b""))
        return result


def _info(name: str, content: bytes = b"", **attributes: Any) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(content)
    info.mode = 0o644
    for key, value in attributes.items():
        setattr(info, key, value)
    return info, content


def _pack(
    entries: list[tuple[tarfile.TarInfo, bytes]], *, tar_format: int = tarfile.PAX_FORMAT
) -> bytes:
    """A tar archive of *entries*, written by tarfile itself."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tar_format) as tar:
        for info, content in entries:
            info.size = len(content) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(content) if info.isreg() else None)
    return out.getvalue()


def _manifest_of(data: bytes) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(_members(data)[0][1])
    return result


def _pack_manifest(manifest: dict[str, Any], contents: dict[str, bytes]) -> bytes:
    """A bundle made by hand from *manifest* and member contents, in that order."""
    text = json.dumps(manifest, indent=2, sort_keys=True).encode()
    return _pack([_info(MANIFEST_NAME, text)] + [_info(n, c) for n, c in contents.items()])


def _one_gun_manifest(gun: str, files: dict[str, bytes], **entry: Any) -> dict[str, Any]:
    metas = {
        role: {
            "sha256": hashlib.sha256(data).hexdigest(),
            "length": len(data),
            "version": json.loads(data)["signed"]["version"],
            "upload": True,
        }
        for role, data in files.items()
    }
    gun_entry = {"base": {}, "new_gun": True, "trusted_root": None, "files": metas}
    gun_entry.update(entry)
    return {"format": "offtrust-bundle", "format_version": 2, "guns": {gun: gun_entry}}


def _refused(data: bytes) -> str:
    """The message read_bundle refuses *data* with; it must fit on one line."""
    with pytest.raises(BundleError) as caught:
        read_bundle(data, source="b.tar")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("b.tar: ")
    assert caught.value.exit_code == 1
    return message


def _flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1 :]


def _offset_of(data: bytes, name: str) -> int:
    """Where member *name*'s content starts in *data*."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        return tar.getmember(name).offset_data


# --- writing -------------------------------------------------------------------


def test_round_trip() -> None:
    data = _bundle()
    result = read_bundle(data)

    assert isinstance(result, Bundle)
    assert list(result.guns) == [APP, NEW]
    assert result.guns[APP] == _published_gun()
    assert result.guns[NEW] == _new_gun()
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.manifest["format"] == "offtrust-bundle"
    assert result.manifest["format_version"] == 2
    assert result.manifest["guns"][APP]["base"]["timestamp"] == 9
    targets = result.manifest["guns"][APP]["files"]["targets"]
    assert targets == {
        "sha256": hashlib.sha256(_doc("targets", 4)).hexdigest(),
        "length": len(_doc("targets", 4)),
        "version": 4,
        "upload": True,
    }


def test_same_input_gives_the_same_bytes_in_any_order() -> None:
    first = _bundle()
    assert write_bundle([_published_gun(), _new_gun()]) == first
    assert write_bundle([_new_gun(), _published_gun()]) == first
    shuffled = _published_gun()
    shuffled = BundleGUN(
        gun=shuffled.gun,
        base=dict(reversed(shuffled.base.items())),
        new_gun=shuffled.new_gun,
        files=dict(reversed(shuffled.files.items())),
        trusted_root=shuffled.trusted_root,
    )
    assert write_bundle([_new_gun(), shuffled]) == first


def test_sha256_is_stable() -> None:
    data = _bundle()
    assert read_bundle(data).sha256 == hashlib.sha256(data).hexdigest() == GOLDEN_SHA256


def test_a_published_gun_carries_its_trusted_root() -> None:
    entry = read_bundle(_bundle()).guns[APP]
    assert entry.trusted_root == _doc("root", 1)
    assert read_bundle(_bundle()).guns[NEW].trusted_root is None


def test_a_published_gun_without_its_trusted_root_is_refused() -> None:
    import dataclasses

    with pytest.raises(BundleError, match="needs its trusted root"):
        write_bundle([dataclasses.replace(_published_gun(), trusted_root=None)])


def test_a_trusted_root_of_another_version_than_the_base_is_refused() -> None:
    import dataclasses

    entry = dataclasses.replace(_published_gun(), trusted_root=_doc("root", 2))
    with pytest.raises(BundleError, match="trusted root version 2 is not the base version 1"):
        write_bundle([entry])


def test_a_format_1_bundle_is_refused_with_a_clear_message() -> None:
    manifest = _one_gun_manifest(NEW, {"root": _doc("root", 1), "targets": _doc("targets", 1)})
    manifest["format_version"] = 1
    del manifest["guns"][NEW]["trusted_root"]
    data = _pack_manifest(
        manifest,
        {
            member_name(NEW, "root"): _doc("root", 1),
            member_name(NEW, "targets"): _doc("targets", 1),
        },
    )
    assert "bundle format 1" in _refused(data)


def test_rewriting_what_was_read_gives_the_same_bytes() -> None:
    data = _bundle()
    assert write_bundle(read_bundle(data).guns.values()) == data


def test_layout_of_members() -> None:
    data = _bundle()
    members = _members(data)

    assert [m.name for m, _ in members] == [
        "manifest.json",
        "example.com/app/root.json",
        "example.com/app/snapshot.json",
        "example.com/app/targets.json",
        "example.com/app/targets/qa.json",
        "example.com/app/targets/releases.json",
        "example.com/app/timestamp.json",
        "example.com/app/trusted-root.json",
        "example.com/new/root.json",
        "example.com/new/targets.json",
    ]
    for member, _ in members:
        assert member.type == tarfile.REGTYPE
        assert (member.mode, member.uid, member.gid, member.mtime) == (0o644, 0, 0, 0)
        assert (member.uname, member.gname) == ("", "")
        assert member.pax_headers == {}
    manifest_text = members[0][1].decode()
    assert manifest_text == json.dumps(json.loads(manifest_text), indent=2, sort_keys=True) + "\n"
    assert len(data) % tarfile.RECORDSIZE == 0
    # Plain ustar: no pax or GNU extension headers for names that fit.
    assert b"PaxHeader" not in data
    assert b"././@LongLink" not in data


def test_long_names_use_a_pax_path_record() -> None:
    # Over ustar's 100-byte name field, within the 255 characters of a GUN.
    gun = "registry.example.com/" + "a" * 200 + "/cafe"
    files = {"root": _file("root", 1), "targets": _file("targets", 1)}
    data = write_bundle([BundleGUN(gun=gun, base={}, new_gun=True, files=files)])

    for member, _ in _members(data)[1:]:
        assert set(member.pax_headers) == {"path"}
    assert read_bundle(data).guns[gun].files == files


def test_member_name() -> None:
    assert member_name(APP, "targets/releases") == "example.com/app/targets/releases.json"


@pytest.mark.parametrize(
    ("guns", "message"),
    [
        ([], r"\$\.guns: \{\} should be non-empty"),
        ([_new_gun(), _new_gun()], "'example.com/new' is listed twice"),
        (
            [BundleGUN(gun="../evil", base={}, new_gun=True, files=_new_gun().files)],
            "'../evil' is not a valid GUN",
        ),
        (
            [
                BundleGUN(
                    gun=NEW,
                    base={},
                    new_gun=True,
                    files={**_new_gun().files, "targets/../x": _file("targets/../x", 1)},
                )
            ],
            "'targets/../x' is not a valid role name",
        ),
        (
            [
                BundleGUN(
                    gun=NEW,
                    base={},
                    new_gun=True,
                    files={"root": _file("root", 1), "targets": _file("targets/a", 1)},
                )
            ],
            "file 'targets' holds role 'targets/a'",
        ),
        (
            [
                BundleGUN(
                    gun=NEW,
                    base={},
                    new_gun=True,
                    files={
                        "root": _file("root", 1),
                        "targets": BundleFile("targets", _doc("targets", 2), 3, True),
                    },
                )
            ],
            "version mismatch: manifest says 3, signed.version is 2",
        ),
        (
            [
                BundleGUN(
                    gun=NEW,
                    base={},
                    new_gun=True,
                    files={
                        "root": _file("root", 1),
                        "targets": BundleFile("targets", b"not json", 1, True),
                    },
                )
            ],
            "not a JSON metadata document",
        ),
        (
            [BundleGUN(gun=NEW, base={"root": 1}, new_gun=True, files=_new_gun().files)],
            "a new GUN has no published base versions",
        ),
        (
            [
                BundleGUN(
                    gun=APP,
                    base={"root": 1},
                    new_gun=False,
                    files={"root": _file("root", 2, upload=False), "targets": _file("targets", 1)},
                    trusted_root=_doc("root", 1),
                )
            ],
            "'root' is not uploaded, so its version 2 must be the published one \\(1\\)",
        ),
    ],
    ids=[
        "no-gun",
        "gun-twice",
        "bad-gun",
        "bad-role",
        "role-key",
        "version",
        "not-json",
        "new-with-base",
        "stale-unchanged",
    ],
)
def test_write_refuses(guns: list[BundleGUN], message: str) -> None:
    with pytest.raises(BundleError, match=message) as caught:
        write_bundle(guns)
    assert "\n" not in str(caught.value)


def test_write_refuses_two_files_at_one_member_name() -> None:
    # GUN "x" role "targets/targets" and GUN "x/targets" role "targets" would
    # both be "x/targets/targets.json".
    clash = BundleGUN(
        gun="x",
        base={},
        new_gun=True,
        files={
            "root": _file("root", 1),
            "targets": _file("targets", 1),
            "targets/targets": _file("targets/targets", 1),
        },
    )
    other = BundleGUN(gun="x/targets", base={}, new_gun=True, files=_new_gun().files)
    with pytest.raises(BundleError, match="share the member name 'x/targets/targets.json'"):
        write_bundle([clash, other])


def test_write_refuses_a_trusted_root_at_a_role_member_name() -> None:
    # GUN "x/targets" keeps its trusted root at "x/targets/trusted-root.json",
    # where GUN "x" keeps its delegation "targets/trusted-root".
    clash = BundleGUN(
        gun="x",
        base={},
        new_gun=True,
        files={
            "root": _file("root", 1),
            "targets": _file("targets", 1),
            "targets/trusted-root": _file("targets/trusted-root", 1),
        },
    )
    other = BundleGUN(
        gun="x/targets",
        base={"root": 1},
        new_gun=False,
        files={"root": _file("root", 1, upload=False), "targets": _file("targets", 2)},
        trusted_root=_doc("root", 1),
    )
    with pytest.raises(BundleError, match="share the member name 'x/targets/trusted-root.json'"):
        write_bundle([clash, other])


def test_write_refuses_a_bundle_over_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundle_module, "MAX_BUNDLE_SIZE", 4096)
    with pytest.raises(BundleError, match="over the limit of 4096 bytes"):
        _bundle()


# --- reading: the archive --------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"hello world" * 100, b"PK\x03\x04" + b"\0" * 600],
    ids=["empty", "text", "zip"],
)
def test_read_refuses_what_is_not_a_tar(data: bytes) -> None:
    assert "not a tar archive or truncated" in _refused(data)


def test_read_refuses_a_gzipped_bundle() -> None:
    import gzip

    assert "not a tar archive" in _refused(gzip.compress(_bundle(), mtime=0))


def test_read_refuses_an_archive_without_members() -> None:
    assert "empty archive: no manifest.json" in _refused(b"\0" * tarfile.RECORDSIZE)


def test_read_refuses_a_bundle_truncated_inside_a_member() -> None:
    data = _bundle()
    cut = _offset_of(data, "example.com/app/targets.json") + 10
    message = _refused(data[:cut])
    assert "truncated" in message
    assert "example.com/app/targets.json" in message


def test_read_refuses_a_bundle_truncated_between_members() -> None:
    data = _bundle()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        cut = tar.getmember("example.com/app/timestamp.json").offset
    # Cut exactly at a member boundary: tarfile alone would see a shorter archive.
    assert "truncated: no end-of-archive marker" in _refused(data[:cut])


def test_read_refuses_a_bundle_without_its_end_marker() -> None:
    data = _bundle()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        list(tar)
        end = tar.offset
    assert "no end-of-archive marker" in _refused(data[:end])


def test_read_refuses_a_corrupt_header_in_the_middle() -> None:
    data = _bundle()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        header = tar.getmember("example.com/app/targets.json").offset
    # A flipped name byte breaks the header checksum; tarfile would stop there quietly.
    message = _refused(_flip(data, header + 3))
    assert f"unreadable data at offset {header}" in message


def test_read_refuses_trailing_data() -> None:
    assert "unreadable data at offset" in _refused(_bundle() + b"surprise" + b"\0" * 504)


def test_read_refuses_a_bundle_over_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _bundle()
    monkeypatch.setattr(bundle_module, "MAX_BUNDLE_SIZE", len(data) - 1)
    assert f"{len(data)} bytes is over the limit of {len(data) - 1} bytes" in _refused(data)


# --- reading: members ------------------------------------------------------------


def _with_extra_member(extra: tuple[tarfile.TarInfo, bytes], *, position: int = 2) -> bytes:
    entries = _members(_bundle())
    entries.insert(position, extra)
    return _pack(entries)


@pytest.mark.parametrize(
    ("attributes", "kind"),
    [
        ({"type": tarfile.SYMTYPE, "linkname": "/etc/passwd"}, "symlink"),
        ({"type": tarfile.LNKTYPE, "linkname": "manifest.json"}, "hard link"),
        ({"type": tarfile.DIRTYPE}, "directory"),
        ({"type": tarfile.CHRTYPE, "devmajor": 1, "devminor": 3}, "character device"),
        ({"type": tarfile.BLKTYPE}, "block device"),
        ({"type": tarfile.FIFOTYPE}, "FIFO"),
    ],
    ids=["symlink", "hardlink", "directory", "chardev", "blockdev", "fifo"],
)
def test_read_refuses_members_that_are_not_regular_files(
    attributes: dict[str, Any], kind: str
) -> None:
    # The member takes the name of a listed file, so only its type is wrong.
    entries = _members(_bundle())
    name = "example.com/app/root.json"
    entries = [(i, c) for i, c in entries if i.name != name]
    entries.insert(1, _info(name, **attributes))
    message = _refused(_pack(entries))
    assert f"member {name!r}: not a regular file ({kind})" in message


def test_read_refuses_a_first_member_that_is_not_a_regular_manifest() -> None:
    entries = _members(_bundle())
    entries[0] = _info(MANIFEST_NAME, type=tarfile.SYMTYPE, linkname="/etc/passwd")
    assert "member 'manifest.json': not a regular file (symlink)" in _refused(_pack(entries))


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../evil.json", "unsafe path: contains '..'"),
        ("example.com/app/../../evil.json", "unsafe path: contains '..'"),
        ("/abs.json", "unsafe path: absolute path"),
        ("example.com\\app\\root.json", "unsafe path: contains a backslash"),
        ("./example.com/app/root.json", "unsafe path: not normalised"),
        ("example.com//app/root.json", "unsafe path: not normalised"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "backslash", "dot", "double-slash"],
)
def test_read_refuses_unsafe_member_paths(name: str, reason: str) -> None:
    message = _refused(_with_extra_member(_info(name, _doc("root", 1))))
    assert f"member {name!r}: {reason}" in message


def test_read_refuses_an_unsafe_manifest_path() -> None:
    entries = _members(_bundle())
    entries[0][0].name = "/manifest.json"
    assert "member '/manifest.json': unsafe path: absolute path" in _refused(_pack(entries))


def test_read_refuses_a_pax_header_that_renames_a_member_to_an_unsafe_path() -> None:
    entries = _members(_bundle())
    info, content = entries[1]
    # The ustar name is harmless; the pax record renames the member.
    info.pax_headers = {"path": "../evil.json"}
    data = _pack(entries)
    assert info.name.encode() in data
    assert "member '../evil.json': unsafe path: contains '..'" in _refused(data)


def test_read_refuses_a_pax_path_with_nul() -> None:
    entries = _members(_bundle())
    entries[1][0].pax_headers = {"path": "example.com/app/root.json\0.txt"}
    assert "unsafe path: contains NUL" in _refused(_pack(entries))


def test_read_refuses_pax_records_other_than_path() -> None:
    entries = _members(_bundle())
    entries[1][0].pax_headers = {"comment": "hello", "path": entries[1][0].name}
    assert "pax header fields not allowed: comment" in _refused(_pack(entries))


def test_read_refuses_a_global_pax_header() -> None:
    entries = _members(_bundle())
    out = io.BytesIO()
    with tarfile.open(
        fileobj=out, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"comment": "x"}
    ) as tar:
        for info, content in entries:
            tar.addfile(info, io.BytesIO(content))
    assert "global pax header (comment) not allowed" in _refused(out.getvalue())


def test_read_refuses_a_gnu_sparse_member() -> None:
    entries = _members(_bundle())
    name = "example.com/app/root.json"
    entries = [(i, c) for i, c in entries if i.name != name]
    entries.insert(1, _info(name, type=tarfile.GNUTYPE_SPARSE))
    assert f"member {name!r}: not a regular file (sparse file)" in _refused(
        _pack(entries, tar_format=tarfile.GNU_FORMAT)
    )


def test_read_refuses_a_duplicate_member() -> None:
    entries = _members(_bundle())
    entries.append(entries[3])
    message = _refused(_pack(entries))
    assert f"member {entries[3][0].name!r}: duplicate member" in message


def test_read_refuses_a_second_manifest() -> None:
    entries = _members(_bundle())
    entries.append(entries[0])
    assert "member 'manifest.json': duplicate member" in _refused(_pack(entries))


def test_read_refuses_a_member_not_in_the_manifest() -> None:
    name = "example.com/app/targets/extra.json"
    message = _refused(_with_extra_member(_info(name, _doc("targets/extra", 1))))
    assert f"member {name!r}: not listed in manifest.json" in message


def test_read_refuses_a_missing_member() -> None:
    name = "example.com/app/snapshot.json"
    entries = [(i, c) for i, c in _members(_bundle()) if i.name != name]
    message = _refused(_pack(entries))
    assert f"member {name!r}: listed in manifest.json but missing" in message


def test_read_refuses_a_first_member_that_is_not_the_manifest() -> None:
    entries = _members(_bundle())
    entries[0], entries[1] = entries[1], entries[0]
    message = _refused(_pack(entries))
    assert "member 'example.com/app/root.json': the first member must be 'manifest.json'" in (
        message
    )


def test_read_refuses_a_flipped_byte_in_a_metadata_member() -> None:
    data = _bundle()
    name = "example.com/app/targets.json"
    tampered = _flip(data, _offset_of(data, name) + 20)
    message = _refused(tampered)
    expected = hashlib.sha256(_doc("targets", 4)).hexdigest()
    assert f"member {name!r}: sha256 mismatch: manifest says {expected}, member has " in message


def test_read_refuses_a_member_of_another_length() -> None:
    entries = _members(_bundle())
    info, content = entries[2]
    entries[2] = (info, content + b" ")
    message = _refused(_pack(entries))
    assert f"member {info.name!r}: length mismatch: manifest says {len(content)}, member has" in (
        message
    )


def test_read_refuses_a_member_whose_version_differs_from_the_manifest() -> None:
    files = {"root": _doc("root", 1), "targets": _doc("targets", 2)}
    manifest = _one_gun_manifest(NEW, files)
    manifest["guns"][NEW]["files"]["targets"]["version"] = 3
    data = _pack_manifest(manifest, {member_name(NEW, r): d for r, d in files.items()})
    message = _refused(data)
    assert "member 'example.com/new/targets.json': version mismatch: manifest says 3" in message


def test_read_refuses_a_valid_but_hand_made_archive() -> None:
    # Same content, other tar bytes: not what `stage` writes, so it was altered.
    files = {"root": _doc("root", 1), "targets": _doc("targets", 2)}
    data = _pack_manifest(
        _one_gun_manifest(NEW, files), {member_name(NEW, r): d for r, d in files.items()}
    )
    assert "not byte-identical to what its content produces" in _refused(data)


def test_read_refuses_a_flipped_byte_that_changes_no_member() -> None:
    data = _bundle()
    # Byte 155 of a ustar header ends the checksum field; tarfile ignores it,
    # so no member's name or content changes, yet the archive was altered.
    altered = data[:155] + (b" " if data[155:156] != b" " else b"\0") + data[156:]
    assert altered != data
    assert "not byte-identical" in _refused(altered)


# --- reading: the manifest ---------------------------------------------------------


def test_read_refuses_a_flipped_byte_that_breaks_the_manifest_json() -> None:
    data = _bundle()
    assert data[tarfile.BLOCKSIZE : tarfile.BLOCKSIZE + 1] == b"{"
    message = _refused(_flip(data, tarfile.BLOCKSIZE))
    assert "member 'manifest.json': malformed JSON: Expecting value (line 1 column 1)" in message


def _with_manifest(change: Any) -> bytes:
    """The test bundle with its manifest changed by *change*, members untouched."""
    entries = _members(_bundle())
    manifest = json.loads(entries[0][1])
    change(manifest)
    entries[0] = _info(MANIFEST_NAME, json.dumps(manifest, indent=2).encode())
    return _pack(entries)


def test_read_refuses_a_manifest_with_duplicate_keys() -> None:
    entries = _members(_bundle())
    text = entries[0][1].replace(
        b'"format": "offtrust-bundle",', b'"format": "offtrust-bundle", "format": "x",'
    )
    entries[0] = _info(MANIFEST_NAME, text)
    assert "malformed JSON: duplicate key 'format'" in _refused(_pack(entries))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\xff{}", "malformed JSON: invalid UTF-8 at byte 0"),
        (b"[]", "not a JSON object"),
        (b'{"format": NaN}', "malformed JSON: NaN is not a JSON value"),
        (b"[" * 100_000, "malformed JSON"),
    ],
    ids=["not-utf8", "array", "nan", "deep"],
)
def test_read_refuses_an_undecodable_manifest(content: bytes, reason: str) -> None:
    entries = _members(_bundle())
    entries[0] = _info(MANIFEST_NAME, content)
    assert f"member 'manifest.json': {reason}" in _refused(_pack(entries))


def _set(path: list[str], value: Any) -> Any:
    def change(manifest: dict[str, Any]) -> None:
        target = manifest
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _rename_gun(new: str) -> Any:
    def change(manifest: dict[str, Any]) -> None:
        manifest["guns"][new] = manifest["guns"].pop(NEW)

    return change


def _rename_role(old: str, new: str) -> Any:
    def change(manifest: dict[str, Any]) -> None:
        files = manifest["guns"][APP]["files"]
        files[new] = files.pop(old)

    return change


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (_set(["format_version"], 4), "$.format_version: 4 is not one of [2, 3]"),
        (_set(["format"], "tarball"), "$.format: 'tarball' is not 'offtrust-bundle'"),
        (_set(["extra"], 1), "Additional properties are not allowed ('extra' was unexpected)"),
        (_set(["guns", APP, "files", "targets", "length"], "12"), "'12' is not of type 'integer'"),
        (_set(["guns", APP, "files", "targets", "version"], 1.0), "1.0 is not of type 'integer'"),
        (_set(["guns", APP, "files", "targets", "sha256"], "ABC"), "not a valid SHA-256 digest"),
        (_set(["guns", APP, "new_gun"], "no"), "'no' is not of type 'boolean'"),
        (_set(["guns", APP, "base", "root"], 0), "0 is less than the minimum of 1"),
        (_rename_role("targets/qa", "targets/../x"), "'targets/../x' is not a valid role name"),
        (_rename_role("targets/qa", "targets/QA"), "'targets/QA' is not a valid role name"),
        (_rename_role("targets/qa", "targets//qa"), "'targets//qa' is not a valid role name"),
        (_rename_role("targets/qa", "targets/qa/"), "'targets/qa/' is not a valid role name"),
        (_rename_role("targets/qa", "targets/" + "q" * 248), "is not a valid role name"),
        (_rename_role("targets", "delegation"), "'targets' is a required property"),
        (_rename_gun("example.com/../app"), "'example.com/../app' is not a valid GUN"),
        (_rename_gun("../app"), "'../app' is not a valid GUN"),
        (_rename_gun("/example.com/new"), "'/example.com/new' is not a valid GUN"),
        (_rename_gun("example.com//new"), "'example.com//new' is not a valid GUN"),
        (_rename_gun("example.com/new/"), "'example.com/new/' is not a valid GUN"),
        (_rename_gun("example.com/./new"), "'example.com/./new' is not a valid GUN"),
        (_rename_gun("example.com\\new"), "'example.com\\\\new' is not a valid GUN"),
        (_rename_gun("example.com/new\0"), "'example.com/new\\x00' is not a valid GUN"),
        (_rename_gun("example.com/\x1b[31mnew"), "is not a valid GUN"),
        (_set(["guns"], {}), "$.guns: {} should be non-empty"),
    ],
    ids=[
        "format-version",
        "format",
        "extra-field",
        "length-type",
        "float-version",
        "sha256",
        "new-gun-type",
        "base-zero",
        "role-dotdot",
        "role-upper",
        "role-double-slash",
        "role-trailing-slash",
        "role-too-long",
        "no-targets",
        "gun-dotdot-inside",
        "gun-dotdot",
        "gun-absolute",
        "gun-empty-component",
        "gun-trailing-slash",
        "gun-dot",
        "gun-backslash",
        "gun-nul",
        "gun-escape",
        "no-guns",
    ],
)
def test_read_refuses_a_manifest_failing_its_schema(change: Any, reason: str) -> None:
    message = _refused(_with_manifest(change))
    assert message.startswith("b.tar: member 'manifest.json': $")
    assert reason in message


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (_set(["guns", NEW, "base"], {"root": 1}), "a new GUN has no published base versions"),
        (_set(["guns", APP, "base"], {}), "a published GUN needs the base version of 'root'"),
        (
            _set(["guns", APP, "base", "targets/releases"], 1),
            "'targets/releases' is not uploaded, so its version 2 must be the published one (1)",
        ),
    ],
    ids=["new-with-base", "published-without-base", "unchanged-not-published"],
)
def test_read_refuses_an_inconsistent_manifest(change: Any, reason: str) -> None:
    message = _refused(_with_manifest(change))
    assert "member 'manifest.json': GUN " in message
    assert reason in message


def test_read_refuses_two_files_at_one_member_name() -> None:
    clash = {
        "root": _doc("root", 1),
        "targets": _doc("targets", 1),
        "targets/targets": _doc("targets/targets", 1),
    }
    manifest = _one_gun_manifest("x", clash)
    manifest["guns"]["x/targets"] = copy.deepcopy(manifest["guns"]["x"])
    del manifest["guns"]["x/targets"]["files"]["targets/targets"]
    data = _pack_manifest(manifest, {member_name("x", r): d for r, d in clash.items()})
    assert "share the member name 'x/targets/targets.json'" in _refused(data)


def test_read_names_the_source() -> None:
    with pytest.raises(BundleError, match=r"^/media/usb/stage\.bundle: not a tar archive"):
        read_bundle(b"junk", source="/media/usb/stage.bundle")


_HEADER_NAMES = st.one_of(
    st.text(st.characters(min_codepoint=1, max_codepoint=127), max_size=130),
    st.text(max_size=110),  # non-ASCII and NUL: tarfile's own path (ustar or pax)
    st.sampled_from(["manifest.json", "guns/example.com%2Fapp/root.json", "a" * 100, "b" * 101]),
)


@settings(max_examples=2000, derandomize=True, database=None, deadline=None)
@given(
    name=_HEADER_NAMES,
    size=st.one_of(st.integers(0, 4096), st.integers(0, 8**11 + 8), st.just(8**11 - 1)),
)
def test_member_headers_are_tarfiles_byte_for_byte(name: str, size: int) -> None:
    """The template-made header of a short ASCII name is tarfile's; other names go to tarfile."""
    made = bundle_module._short_header(name, size)
    short = len(name) <= 100 and name.isascii() and "\0" not in name and size < 8**11
    assert (made is not None) == short
    if made is not None:
        assert made == bundle_module._tarfile_header(name, size)
