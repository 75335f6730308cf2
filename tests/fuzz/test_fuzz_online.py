"""The server-answer parsers of ``offtrust/online``: what a hostile server can send.

Error bodies (notary's ``{"errors": [...]}``), key answers (``<role>.key``),
``WWW-Authenticate`` challenges and token answers, redirects and reason
phrases, and the metadata itself (the example's, served with one document
mutated, then checked by the trust rules as ``fetch`` does). The client runs
for real; only the transport is replaced by one that answers from memory.

Besides the general property, every message built from server text must be
printable: no terminal escape, no lone surrogate, no line break.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

import urllib3
from builders import EXAMPLE_NOW
from fuzzkit import APP, cases, check, check_error, json_values, metadata_files, mutate
from hypothesis import given
from hypothesis import strategies as st

from offtrust import crypto
from offtrust.errors import OfftrustError
from offtrust.model.keys import PublicKey
from offtrust.model.verify import verify_repository
from offtrust.online.auth import Auth, parse_challenges
from offtrust.online.client import NotaryClient
from offtrust.online.transport import Reply
from offtrust.ops.online import download_state
from offtrust.store.repo import parse_metadata

SERVER = "https://notary.invalid"
REALM = "https://auth.invalid/token"
APP_FILES = {role: data for gun, role, data in metadata_files() if gun == APP}
TRUSTED_ROOT = parse_metadata(APP_FILES["root"], "root", "root.json")
_TIMESTAMP_KEY = json.loads(APP_FILES["root"])["signed"]["keys"]
KEY_ANSWERS = tuple(
    json.dumps(key, separators=(",", ":")).encode()
    for key in _TIMESTAMP_KEY.values()
    if not key["keytype"].endswith("x509")
)
ERROR_BODIES = (
    b'{"errors":[{"code":"INVALID_UPDATE","message":"update is invalid","detail":'
    b'{"Name":"ErrBadTargets","Error":{"Msg":"targets/releases: bad signature"}}}]}',
    b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":'
    b'[{"Type":"repository","Name":"example.com/app","Action":"push"}]}]}',
    b'{"errors":[{"code":"METADATA_NOT_FOUND","message":"not found","detail":"x"}]}',
)
TOKEN_BODIES = (b'{"token":"abc.def-ghi","expires_in":300}', b'{"access_token":"t0k"}')
CHALLENGES = (
    f'Bearer realm="{REALM}",service="notary",scope="repository:{APP}:pull"',
    'Basic realm="notary"',
    f'Bearer realm="{REALM}", error="insufficient_scope", scope="repository:{APP}:push,pull"',
)


class ScriptedTransport:
    """Answers requests in order from *replies*; then 404 to everything."""

    def __init__(self, replies: list[Reply]) -> None:
        self.replies = list(replies)

    def request(self, method: str, url: str, **kwargs: Any) -> Reply:
        if self.replies:
            return self.replies.pop(0)
        return Reply(404, "Not Found", urllib3.HTTPHeaderDict(), b"")

    def close(self) -> None:
        pass


class ServingTransport:
    """Serves ``/_trust/tuf/<name>`` from a dict of file name -> bytes."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files

    def request(self, method: str, url: str, **kwargs: Any) -> Reply:
        name = url.rsplit("/_trust/tuf/", 1)[-1]
        data = self.files.get(name)
        if data is None:
            return Reply(404, "Not Found", urllib3.HTTPHeaderDict(), b"")
        return Reply(200, "OK", urllib3.HTTPHeaderDict(), data)

    def close(self) -> None:
        pass


def client_with(transport: Any) -> NotaryClient:
    client = NotaryClient(SERVER, retries=0)
    client._transport = transport
    client._session._transport = transport
    return client


def printable(call: Callable[..., Any], *args: Any) -> Any:
    """As fuzzkit.check, and the message (built from server text) must be printable."""
    try:
        return call(*args)
    except OfftrustError as e:
        error = e
    check_error(error)
    assert error.message.isprintable(), error.message
    return None


def reply(status: int, body: bytes, **headers: str) -> Reply:
    return Reply(status, "Reason", urllib3.HTTPHeaderDict(headers), body)


body_text = st.text(max_size=60)
header_value = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=120)


@st.composite
def mutated_from(draw: st.DrawFn, items: tuple[bytes, ...]) -> bytes:
    return mutate(draw, items[draw(st.integers(0, len(items) - 1))])


@cases(400)
@given(
    st.sampled_from((400, 401, 403, 404, 409, 500, 502, 503, 301)),
    st.one_of(mutated_from(ERROR_BODIES), json_values.map(lambda v: json.dumps(v).encode())),
    st.sampled_from(("GET", "POST")),
    header_value,
)
def test_error_bodies(status: int, body: bytes, method: str, location: str) -> None:
    transport = ScriptedTransport(
        [Reply(status, "Reason\x1b[2J", urllib3.HTTPHeaderDict({"Location": location}), body)]
    )
    client = client_with(transport)
    if method == "GET":
        printable(client.get_metadata, APP, "root")
    else:
        printable(client.publish, APP, {"targets": b"{}"})


@cases(400)
@given(
    st.one_of(mutated_from(KEY_ANSWERS), json_values.map(lambda v: json.dumps(v).encode())),
    st.sampled_from(("timestamp", "snapshot")),
)
def test_key_answers(body: bytes, role: str) -> None:
    key = printable(client_with(ScriptedTransport([reply(200, body)])).get_server_key, APP, role)
    if key is not None:
        assert set(key) == {"keytype", "keyval"}
        # What fetch records, and the ID it prints, for a new GUN.
        json.dumps(key, sort_keys=True)
        check(lambda: PublicKey.from_dict(key).keyid)


@cases(500)
@given(st.one_of(st.sampled_from(CHALLENGES), header_value, st.text(max_size=80)))
def test_challenge_headers_never_raise(header: str) -> None:
    for challenge in parse_challenges(header):
        assert challenge.scheme == challenge.scheme.lower()


@cases(400)
@given(
    st.one_of(st.sampled_from(CHALLENGES), header_value),
    st.sampled_from((200, 401, 403, 500)),
    st.one_of(mutated_from(TOKEN_BODIES), st.binary(max_size=40)),
    st.booleans(),
)
def test_the_token_flow(header: str, token_status: int, token_body: bytes, user: bool) -> None:
    replies = [
        reply(401, b"", **{"WWW-Authenticate": header}),
        reply(token_status, token_body),
        reply(200, b"{}"),
        reply(401, b"", **{"WWW-Authenticate": header}),
    ]
    auth = Auth(username="fuzz", password="pw-never-shown") if user else Auth()
    client = NotaryClient(SERVER, retries=0, auth=auth)
    transport = ScriptedTransport(replies)
    client._transport = transport  # type: ignore[assignment]
    client._session._transport = transport  # type: ignore[assignment]
    printable(client.get_metadata, APP, "root")
    # Insecure clients take plain-http realms: the other branch of the realm checks.
    insecure = NotaryClient("http://notary.invalid", retries=0, insecure=True, auth=auth)
    insecure._transport = insecure._session._transport = ScriptedTransport(replies)  # type: ignore[assignment]
    printable(insecure.get_metadata, APP, "root")


ROLES = tuple(sorted(APP_FILES))


@cases(500)
@given(st.data())
def test_served_metadata(data: st.DataObject) -> None:
    """``fetch``: a server serving the example with one document mutated."""
    role = ROLES[data.draw(st.integers(0, len(ROLES) - 1))]
    files = {f"{r}.json": d for r, d in APP_FILES.items()}
    files[f"{role}.json"] = mutate(data.draw, APP_FILES[role])
    # Served by checksum too, as the server does; the client checks the hash.
    for name, content in list(files.items()):
        files[f"{name[:-5]}.{hashlib.sha256(content).hexdigest()}.json"] = content
    if data.draw(st.booleans()):
        files["2.root.json"] = files["root.json"]
    client = client_with(ServingTransport(files))
    trusted = TRUSTED_ROOT if data.draw(st.booleans()) else None
    state = check(download_state, client, APP, trusted_root=trusted)
    if state is None:
        return
    report = check(verify_repository, state, EXAMPLE_NOW, crypto=crypto)
    if report is not None:
        check(report.raise_for, report.blocking(strict_expiry=True), "refusing ")


def test_the_real_metadata_is_served_and_verifies() -> None:
    files = {f"{r}.json": d for r, d in APP_FILES.items()}
    state = download_state(client_with(ServingTransport(files)), APP, trusted_root=TRUSTED_ROOT)
    assert state is not None
    report = verify_repository(state, EXAMPLE_NOW, crypto=crypto)
    assert report.blocking(strict_expiry=True) == []


def test_base64_of_keys_round_trip() -> None:
    for answer in KEY_ANSWERS:
        key = json.loads(answer)
        assert base64.b64decode(key["keyval"]["public"])
