"""The metadata loader (``parse_metadata``) and what every command does with its result.

Every metadata file of the example trust directory, mutated; and documents
generated from scratch. A document that loads is then used the way commands
use it: its expiry read, its canonical bytes encoded for signing and for
verification, its file bytes written back, its keys' IDs computed.
"""

from __future__ import annotations

import json
from typing import Any

from builders import EXAMPLE_NOW
from fuzzkit import cases, check, json_values, metadata_files, mutate
from hypothesis import given
from hypothesis import strategies as st

from offtrust.model.canonical import encode_for_verification
from offtrust.model.metadata import Metadata
from offtrust.store.repo import parse_metadata

FILES = metadata_files()
ROLES = tuple(role for _, role, _ in FILES)
BY_ROLE = tuple((role, data) for _, role, data in FILES)


def use(md: Metadata[Any]) -> None:
    """What commands do with a loaded document; each step may refuse, none may crash."""
    signed = md.signed
    check(lambda: signed.is_expired(EXAMPLE_NOW))
    check(md.signed_bytes)
    check(lambda: encode_for_verification(signed.to_dict()))
    check(md.serialize)
    for key in getattr(signed, "keys", {}).values():
        check(lambda key=key: key.keyid)
    delegations = getattr(signed, "delegations", None)
    if delegations is not None:
        for key in delegations.keys.values():
            check(lambda key=key: key.keyid)
        for role in delegations.roles:
            check(role.matches, "v1.0")
    for entry in getattr(signed, "meta", {}).values():
        check(entry.mismatch, b"{}")
    for target in (getattr(signed, "targets", None) or {}).values():
        check(target.sha256_hex)


def load(data: bytes, role: str) -> None:
    md = check(parse_metadata, data, role, f"tuf/example.com/app/metadata/{role}.json")
    if md is not None:
        use(md)


@st.composite
def mutated_file(draw: st.DrawFn) -> tuple[str, bytes, str]:
    """(role, mutated bytes, another role) from a real metadata file."""
    role, data = BY_ROLE[draw(st.integers(0, len(BY_ROLE) - 1))]
    return role, mutate(draw, data), ROLES[draw(st.integers(0, len(ROLES) - 1))]


@cases(2500)
@given(mutated_file())
def test_mutated_real_metadata(case: tuple[str, bytes, str]) -> None:
    role, data, _ = case
    load(data, role)


@cases(400)
@given(mutated_file())
def test_mutated_metadata_read_as_another_role(case: tuple[str, bytes, str]) -> None:
    _, data, other_role = case
    load(data, other_role)


@cases(150)
@given(
    st.sampled_from(["root", "targets", "snapshot", "timestamp", "targets/releases"]),
    st.one_of(
        json_values,
        st.fixed_dictionaries({"signed": json_values, "signatures": json_values}),
        st.fixed_dictionaries(
            {
                "signed": st.fixed_dictionaries(
                    {
                        "_type": st.sampled_from(["Root", "Targets", "Snapshot", "Timestamp"]),
                        "version": st.integers(),
                        "expires": st.text(max_size=30),
                    },
                    optional={"keys": json_values, "roles": json_values, "meta": json_values},
                ),
                "signatures": st.lists(json_values, max_size=3),
            }
        ),
    ),
)
def test_generated_documents(role: str, document: object) -> None:
    load(json.dumps(document).encode(), role)


@cases(300)
@given(st.sampled_from(["root", "targets", "snapshot", "timestamp"]), st.binary(max_size=300))
def test_arbitrary_bytes(role: str, data: bytes) -> None:
    load(data, role)
