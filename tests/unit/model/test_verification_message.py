"""Signatures are checked over the canonical form of the ``signed`` member as
parsed, as notary's verifier does (not over the model rebuilt as a dict), with
the bytes computed once at parse time; an edited document uses its model."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from builders import delegation_key

from offtrust import crypto
from offtrust.errors import InvalidMetadataError
from offtrust.model.canonical import encode_canonical, encode_for_verification
from offtrust.model.metadata import Metadata
from offtrust.model.verify import count_valid_signatures
from offtrust.store.repo import parse_metadata

ROLE = "targets/releases"
KEY = delegation_key(1)
KEYS = {KEY.keyid: KEY.public_key()}
HASH = base64.b64encode(b"\x01" * 32).decode()


def _signed(targets: dict[str, Any]) -> dict[str, Any]:
    return {
        "_type": "Targets",
        "delegations": {"keys": {}, "roles": []},
        "expires": "2030-01-01T00:00:00Z",
        "targets": targets,
        "version": 1,
    }


def _envelope(signed: dict[str, Any], message: bytes) -> bytes:
    """File bytes holding *signed* with KEY's signature over *message*."""
    method, sig = KEY.sign(message)
    signature = {"keyid": KEY.keyid, "method": method, "sig": base64.b64encode(sig).decode()}
    return json.dumps({"signed": signed, "signatures": [signature]}).encode()


def _entry(**extra: Any) -> dict[str, Any]:
    return {"hashes": {"sha256": HASH}, "length": 3, **extra}


def test_a_signature_over_the_parsed_form_verifies_as_in_notary() -> None:
    # "custom": null is dropped by the model (notary never writes it), but it
    # is part of what was parsed, so notary's verifier signs and checks it.
    signed = _signed({"v1": _entry(custom=None)})
    md = parse_metadata(_envelope(signed, encode_canonical(signed)), ROLE, "x")
    assert b'"custom":null' in md.verification_message()
    assert count_valid_signatures(md, KEYS, crypto) == {KEY.keyid}


def test_a_signature_over_the_model_form_only_is_refused_as_in_notary() -> None:
    signed = _signed({"v1": _entry(custom=None)})
    without = _signed({"v1": _entry()})
    md = parse_metadata(_envelope(signed, encode_canonical(without)), ROLE, "x")
    assert count_valid_signatures(md, KEYS, crypto) == set()


def test_the_message_is_the_exact_canonical_form_computed_once() -> None:
    signed = _signed({f"v{i}": _entry() for i in range(50)})
    md = parse_metadata(_envelope(signed, encode_canonical(signed)), ROLE, "x")
    first = md.verification_message()
    assert first == encode_for_verification(signed)
    assert md.verification_message() is first
    assert count_valid_signatures(md, KEYS, crypto) == {KEY.keyid}


def test_an_edited_document_is_checked_over_its_model() -> None:
    signed = _signed({"v1": _entry()})
    md = parse_metadata(_envelope(signed, encode_canonical(signed)), ROLE, "x")
    md.signed.targets["v1"].length = 4
    md.changed()
    assert md.verification_message() == encode_for_verification(md.signed.to_dict())
    assert count_valid_signatures(md, KEYS, crypto) == set()
    # New bytes (as after signing or re-serializing) are not what was parsed either.
    md.raw = md.serialize()
    assert b'"length":4' in md.verification_message()


@pytest.mark.parametrize(
    "name", ['tag"quoted', "back\\slash", "big"], ids=["quote", "backslash", "big-int"]
)
def test_documents_only_the_exact_encoder_handles(name: str) -> None:
    entry = _entry(custom={"n": 2**60}) if name == "big" else _entry()
    signed = _signed({name: entry})
    message = encode_for_verification(signed)
    md = parse_metadata(_envelope(signed, message), ROLE, "x")
    assert md.verification_message() == message
    assert count_valid_signatures(md, KEYS, crypto) == {KEY.keyid}


def test_nesting_too_deep_to_encode_is_an_error_not_a_crash() -> None:
    custom: Any = 0
    for _ in range(600):  # orjson parses it; json.loads and the encoders cannot
        custom = [custom]
    signed = _signed({"v1": _entry(custom=custom)})
    data = json.dumps({"signed": signed, "signatures": []}).encode()
    try:
        md = parse_metadata(data, ROLE, "x")
    except InvalidMetadataError:
        return  # refused when read: as good
    with pytest.raises(InvalidMetadataError, match="nested too deeply"):
        md.verification_message()


def test_a_model_built_from_a_callers_dict_shares_nothing_with_it() -> None:
    data = {"signed": _signed({"v1": _entry()}), "signatures": []}
    md = Metadata.from_dict(data, ROLE)
    data["signed"]["targets"]["v1"]["hashes"]["sha256"] = "changed"
    assert md.signed.targets["v1"].hashes == {"sha256": HASH}
