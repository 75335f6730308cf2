"""The bundle reader (``read_bundle``) and ``bundle verify`` on mutated real bundles.

The bundle is made by ``stage`` (``build_bundle``) after an edit of a copy of
the example. It is mutated three ways: its bytes (tar headers, padding,
members), its manifest as JSON (repacked as a valid tar, so the manifest
checks are reached), and one metadata member as JSON, rewritten by the
bundle writer with a manifest that matches it, so the reader accepts the
archive and the TUF checks of ``bundle verify`` are reached.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import tarfile
from pathlib import Path
from typing import Any

from builders import EXAMPLE_NOW
from fuzzkit import cases, check, mutate, mutate_json, real_bundle
from hypothesis import given
from hypothesis import strategies as st

from offtrust.bundle import MANIFEST_NAME, Bundle, BundleFile, read_bundle, write_bundle
from offtrust.ops.context import Context
from offtrust.ops.online import verify_bundle_gun
from offtrust.store.layout import TrustDir

BUNDLE = real_bundle()
PARSED: Bundle = read_bundle(BUNDLE)
MEMBERS = tuple((gun, role) for gun, entry in PARSED.guns.items() for role in entry.files)
# Only the clock and the crypto back-end are used: no trust directory is read.
CTX = Context(TrustDir(Path("/nonexistent/offtrust-fuzz")), clock=lambda: EXAMPLE_NOW)


def members(data: bytes) -> list[tuple[str, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        return [(m.name, tar.extractfile(m).read()) for m in tar]  # type: ignore[union-attr]


MEMBER_CONTENTS = members(BUNDLE)


def pack(entries: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, content in entries:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(content))
    return out.getvalue()


def read_and_verify(data: bytes, only: str | None = None) -> None:
    """``bundle verify``: read the bundle, then check the TUF chain of its GUNs (or one)."""
    bundle = check(read_bundle, data, source="fuzz.bundle")
    if bundle is None:
        return
    for gun, entry in bundle.guns.items():
        if only is None or gun == only:
            check(verify_bundle_gun, CTX, entry)


def test_the_real_bundle_verifies() -> None:
    """The starting point: every GUN of the unmutated bundle passes ``bundle verify``."""
    for entry in PARSED.guns.values():
        verify_bundle_gun(CTX, entry)


@cases(600)
@given(st.data())
def test_mutated_bundle_bytes(data: st.DataObject) -> None:
    read_and_verify(mutate(data.draw, BUNDLE, is_json=False))


@cases(400)
@given(st.data())
def test_mutated_manifest(data: st.DataObject) -> None:
    (name, manifest), *rest = MEMBER_CONTENTS
    assert name == MANIFEST_NAME
    mutated = mutate(data.draw, manifest)
    read_and_verify(pack([(name, mutated), *rest]))


@cases(250)
@given(st.data())
def test_mutated_member_with_a_matching_manifest(data: st.DataObject) -> None:
    gun, role = MEMBERS[data.draw(st.integers(0, len(MEMBERS) - 1))]
    entry = PARSED.guns[gun]
    old = entry.files[role]
    content = mutate_json(data.draw, old.data)
    version: Any = old.version
    # Keep the old version when there is no readable one: the writer refuses it.
    with contextlib.suppress(Exception):
        version = json.loads(content)["signed"]["version"]
    upload = data.draw(st.booleans()) if role != "root" else old.upload
    files = dict(entry.files)
    files[role] = BundleFile(role=role, data=content, version=version, upload=upload)
    guns = dict(PARSED.guns)
    guns[gun] = dataclasses.replace(entry, files=files)
    written = check(write_bundle, guns.values())
    if written is not None:
        read_and_verify(written, only=gun)
