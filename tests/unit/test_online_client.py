"""The Notary server client against a small real HTTP(S) server on 127.0.0.1.

The fake server is ``http.server`` in a thread; each test installs a handler
``(request) -> Response``. TLS tests use a throwaway CA made by
tests/interop/realtools.py; the interop tests at the end use the same module to
run the real ``notary-server``.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import hashlib
import importlib.util
import json
import socket
import ssl
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from offtrust.errors import (
    AuthError,
    BadResponseError,
    HashMismatchError,
    NetworkError,
    ServerRejectedError,
    UsageError,
)
from offtrust.model.keys import KEY_TYPES
from offtrust.online.client import (
    Auth,
    Challenge,
    NotaryClient,
    encode_multipart,
    parse_challenges,
)

GUN = "example.com/app"
PASSWORD = "s3cret-Pa55word-never-shown"  # TEST-ONLY
SERVER_KEY = {
    "keytype": "ecdsa",
    "keyval": {
        "private": None,
        "public": base64.b64encode(b"\x30\x59 not really DER but base64").decode(),
    },
}

# --------------------------------------------------------------------------- #
# A fake notary-server
# --------------------------------------------------------------------------- #


@dataclass
class Request:
    method: str
    path: str  # without the query
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    send_length: bool = True
    drop: bool = False  # close the connection without answering


def json_response(status: int, data: Any, **headers: str) -> Response:
    return Response(
        status,
        json.dumps(data).encode(),
        {"Content-Type": "application/json; charset=utf-8", **headers},
    )


def notary_error(status: int, code: str, message: str, detail: Any = None) -> Response:
    return json_response(status, {"errors": [{"code": code, "message": message, "detail": detail}]})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        req = Request(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        fake = self.server.fake
        fake.requests.append(req)
        resp = fake.handler(req)
        if resp.drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(resp.status)
        for name, value in resp.headers.items():
            self.send_header(name, value)
        if resp.send_length:
            self.send_header("Content-Length", str(len(resp.body)))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(resp.body)

    do_GET = do_POST = do_DELETE = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    fake: FakeNotary

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that abort (TLS failures, dropped connections) are expected here


class FakeNotary:
    """A real HTTP(S) server on 127.0.0.1 that records requests."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[Request] = []
        self.handler: Callable[[Request], Response] = lambda req: notary_error(
            404, "METADATA_NOT_FOUND", "You have requested metadata that does not exist."
        )
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]


@pytest.fixture
def fake() -> Iterator[FakeNotary]:
    server = FakeNotary()
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class TLSMaterial:
    ca_file: Path
    other_ca_file: Path
    server_context: ssl.SSLContext


def _realtools() -> ModuleType:
    """tests/interop/realtools.py, shared with the interop suite (one module object)."""
    module = sys.modules.get("realtools")
    if module is None:
        path = Path(__file__).resolve().parents[1] / "interop" / "realtools.py"
        spec = importlib.util.spec_from_file_location("realtools", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["realtools"] = module
        spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tls_material(tmp_path_factory: pytest.TempPathFactory) -> TLSMaterial:
    """A throwaway CA, a server certificate for IP 127.0.0.1 only, and an unrelated CA."""
    realtools = _realtools()
    directory = tmp_path_factory.mktemp("tls")
    ca_file, cert_file, key_file = realtools.make_tls_material(
        directory, ca_name="offtrust unit-test CA", dns_names=(), days=2
    )
    _, other_ca = realtools.make_ca("offtrust unrelated CA", days=2)
    other_ca_file = realtools.write_certificate(directory / "other-ca.crt", other_ca)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return TLSMaterial(ca_file=ca_file, other_ca_file=other_ca_file, server_context=context)


@pytest.fixture
def tls_fake(tls_material: TLSMaterial) -> Iterator[FakeNotary]:
    server = FakeNotary(tls_material.server_context)
    try:
        yield server
    finally:
        server.stop()


def make_client(fake: FakeNotary, **kwargs: Any) -> NotaryClient:
    kwargs.setdefault("backoff", 0.0)
    kwargs.setdefault("timeout", 5.0)
    if fake.scheme == "http":
        kwargs.setdefault("insecure", True)
    return NotaryClient(fake.url, **kwargs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def all_text(exc: BaseException) -> str:
    """Every string an error could show: message, hint, repr, and its whole chain."""
    parts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None:
        parts += [str(seen), repr(seen), str(getattr(seen, "hint", ""))]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


# --------------------------------------------------------------------------- #
# Construction and usage errors
# --------------------------------------------------------------------------- #


def test_plain_http_needs_insecure(fake: FakeNotary) -> None:
    with pytest.raises(UsageError, match="plain http needs --insecure"):
        NotaryClient(fake.url)


def test_insecure_http_warns_through_list_and_callback(fake: FakeNotary) -> None:
    seen: list[str] = []
    client = NotaryClient(fake.url, insecure=True, on_warning=seen.append)
    assert seen == client.warnings
    assert len(seen) == 1
    assert "plain http" in seen[0]
    with_password = NotaryClient(
        fake.url, insecure=True, auth=Auth(username="alice", password=PASSWORD)
    )
    assert "credentials travel unencrypted" in with_password.warnings[0]
    assert PASSWORD not in with_password.warnings[0]


@pytest.mark.parametrize(
    "server",
    [
        "127.0.0.1:4443",
        "ftp://127.0.0.1",
        "https://127.0.0.1:4443/v2/",
        "https://127.0.0.1:4443?x=1",
        "https://",
        "not a url at all",
    ],
    ids=["no-scheme", "ftp", "path", "query", "no-host", "garbage"],
)
def test_bad_server_url_is_usage_error(server: str) -> None:
    with pytest.raises(UsageError):
        NotaryClient(server)


def test_credentials_in_server_url_are_refused_without_echoing_them() -> None:
    with pytest.raises(UsageError) as info:
        NotaryClient(f"https://alice:{PASSWORD}@127.0.0.1:4443")
    assert PASSWORD not in all_text(info.value)


@pytest.mark.parametrize(
    "auth",
    [
        Auth(username="alice"),
        Auth(password=PASSWORD),
        Auth(username="alice", password=PASSWORD, token="tok"),
        Auth(username="al:ice", password=PASSWORD),
        Auth(token=""),
        Auth(token="tok\r\nX-Evil: 1"),
    ],
    ids=["user-only", "password-only", "both-kinds", "colon-user", "empty-token", "crlf-token"],
)
def test_inconsistent_auth_is_usage_error(auth: Auth) -> None:
    with pytest.raises(UsageError) as info:
        NotaryClient("https://127.0.0.1:4443", auth=auth)
    assert PASSWORD not in all_text(info.value)


def test_auth_repr_hides_password_and_token() -> None:
    text = repr(Auth(username="alice", password=PASSWORD)) + repr(Auth(token="tok-secret"))
    assert "alice" in text
    assert PASSWORD not in text
    assert "tok-secret" not in text


def test_unreadable_ca_file_is_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--tls-ca"):
        NotaryClient("https://127.0.0.1:4443", ca_file=tmp_path / "missing.crt")
    garbage = tmp_path / "garbage.crt"
    garbage.write_text("not a certificate\n")
    with pytest.raises(UsageError, match="--tls-ca"):
        NotaryClient("https://127.0.0.1:4443", ca_file=garbage)


@pytest.mark.parametrize(
    ("gun", "role"),
    [
        ("", "root"),
        ("/abs", "root"),
        ("a/../b", "root"),
        ("a//b", "root"),
        ("a*b", "root"),
        ("a b", "root"),
        ("a?b", "root"),
        (GUN, "Root"),
        (GUN, "targets/../root"),
        (GUN, "targets/"),
        (GUN, "root.json"),
    ],
)
def test_invalid_gun_or_role_is_usage_error(fake: FakeNotary, gun: str, role: str) -> None:
    client = make_client(fake)
    with pytest.raises(UsageError):
        client.get_metadata(gun, role)
    assert fake.requests == []


def test_argument_checks_for_hash_version_and_key_role(fake: FakeNotary) -> None:
    client = make_client(fake)
    with pytest.raises(UsageError):
        client.get_metadata_by_hash(GUN, "snapshot", "ABC")
    with pytest.raises(UsageError):
        client.get_metadata_version(GUN, "root", 0)
    with pytest.raises(UsageError):
        client.get_server_key(GUN, "targets")
    with pytest.raises(UsageError):
        client.publish(GUN, {})
    assert fake.requests == []


# --------------------------------------------------------------------------- #
# Metadata downloads
# --------------------------------------------------------------------------- #


def test_get_metadata_returns_exact_bytes_and_none_on_404(fake: FakeNotary) -> None:
    stored = b'{"signed":{"_type":"Timestamp"},"signatures":[]}\n\xff'

    def handler(req: Request) -> Response:
        if req.path == f"/v2/{GUN}/_trust/tuf/timestamp.json":
            return Response(200, stored, {"Content-Type": "text/plain; charset=utf-8"})
        return notary_error(
            404, "METADATA_NOT_FOUND", "You have requested metadata that does not exist.", {}
        )

    fake.handler = handler
    client = make_client(fake, user_agent="offtrust/test")
    assert client.get_metadata(GUN, "timestamp") == stored
    assert client.get_metadata(GUN, "root") is None
    assert fake.requests[0].method == "GET"
    assert fake.requests[0].headers["user-agent"] == "offtrust/test"
    assert "authorization" not in fake.requests[0].headers


def test_metadata_paths_for_delegations_hash_and_version(fake: FakeNotary) -> None:
    body = b"snapshot bytes"
    digest = hashlib.sha256(body).hexdigest()
    fake.handler = lambda req: Response(200, body)
    client = make_client(fake)
    client.get_metadata(GUN, "targets/releases")
    assert client.get_metadata_by_hash(GUN, "snapshot", digest) == body
    client.get_metadata_version(GUN, "root", 3)
    assert fake.paths() == [
        f"/v2/{GUN}/_trust/tuf/targets/releases.json",
        f"/v2/{GUN}/_trust/tuf/snapshot.{digest}.json",
        f"/v2/{GUN}/_trust/tuf/3.root.json",
    ]


def test_get_metadata_by_hash_checks_the_bytes(fake: FakeNotary) -> None:
    fake.handler = lambda req: Response(200, b"something else")
    client = make_client(fake)
    with pytest.raises(HashMismatchError):
        client.get_metadata_by_hash(GUN, "snapshot", hashlib.sha256(b"expected").hexdigest())


def test_get_retries_503_then_succeeds(fake: FakeNotary) -> None:
    answers = [Response(503, b"busy"), Response(503, b"busy"), Response(200, b"root bytes")]
    fake.handler = lambda req: answers.pop(0)
    client = make_client(fake, retries=3)
    assert client.get_metadata(GUN, "root") == b"root bytes"
    assert len(fake.requests) == 3


def test_get_gives_up_after_retries(fake: FakeNotary) -> None:
    fake.handler = lambda req: Response(503, b"busy", {"Retry-After": "3600"})
    client = make_client(fake, retries=2)
    with pytest.raises(NetworkError, match="503") as info:
        client.get_metadata(GUN, "root")
    assert not isinstance(info.value, ServerRejectedError)
    assert len(fake.requests) == 3


def test_get_retries_a_dropped_connection(fake: FakeNotary) -> None:
    answers = [Response(drop=True), Response(200, b"root bytes")]
    fake.handler = lambda req: answers.pop(0)
    client = make_client(fake, retries=2)
    assert client.get_metadata(GUN, "root") == b"root bytes"
    assert len(fake.requests) == 2


def test_500_is_not_retried(fake: FakeNotary) -> None:
    fake.handler = lambda req: Response(500, b"oops")
    client = make_client(fake, retries=3)
    with pytest.raises(NetworkError, match="HTTP 500"):
        client.get_metadata(GUN, "root")
    assert len(fake.requests) == 1


@pytest.mark.parametrize("send_length", [True, False], ids=["content-length", "until-close"])
def test_oversized_timestamp_is_refused(fake: FakeNotary, send_length: bool) -> None:
    fake.handler = lambda req: Response(200, b"x" * (1024 * 1024 + 1), send_length=send_length)
    client = make_client(fake)
    with pytest.raises(BadResponseError, match="more than"):
        client.get_metadata(GUN, "timestamp")


def test_redirects_are_not_followed(fake: FakeNotary) -> None:
    def handler(req: Request) -> Response:
        if req.path == "/elsewhere":
            return Response(200, b"followed")
        return Response(302, b"", {"Location": f"{fake.url}/elsewhere"})

    fake.handler = handler
    client = make_client(fake)
    with pytest.raises(BadResponseError, match="redirect"):
        client.get_metadata(GUN, "root")
    assert "/elsewhere" not in fake.paths()


def test_connection_refused_names_the_server() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    client = NotaryClient(url, insecure=True, retries=0)
    with pytest.raises(NetworkError) as info:
        client.get_metadata(GUN, "root")
    assert str(info.value) == f"cannot reach {url}: connection refused"


def test_publish_to_a_closed_port_is_a_plain_connection_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    client = NotaryClient(url, insecure=True, retries=1, backoff=0.0)
    with pytest.raises(NetworkError) as info:
        client.publish(GUN, {"root": b"{}"})
    # Nothing was sent, so the outcome is known: no "may or may not" warning.
    assert str(info.value) == f"cannot reach {url}: connection refused"


def test_plain_http_to_a_tls_port_hints_at_https(fake: FakeNotary) -> None:
    fake.handler = lambda req: Response(400, b"Client sent an HTTP request to an HTTPS server.\n")
    with pytest.raises(NetworkError) as info:
        make_client(fake).ping()
    assert info.value.hint == "use https:// in --server"


# --------------------------------------------------------------------------- #
# Server keys
# --------------------------------------------------------------------------- #


def test_get_server_key(fake: FakeNotary) -> None:
    fake.handler = lambda req: json_response(200, SERVER_KEY)
    client = make_client(fake)
    assert client.get_server_key(GUN, "timestamp") == SERVER_KEY
    assert client.get_server_key(GUN, "snapshot") == SERVER_KEY
    assert fake.paths() == [
        f"/v2/{GUN}/_trust/tuf/timestamp.key",
        f"/v2/{GUN}/_trust/tuf/snapshot.key",
    ]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"keytype":"ecdsa"}',
        b'{"keytype":"dsa","keyval":{"public":"AAAA","private":null}}',
        b'{"keytype":"ecdsa","keyval":{"public":"!!","private":null}}',
        b'{"keytype":"ecdsa","keyval":{"public":"AAAA","private":"AAAA"}}',
    ],
    ids=["not-json", "list", "no-keyval", "bad-type", "bad-base64", "private"],
)
def test_malformed_server_key_is_bad_response(fake: FakeNotary, body: bytes) -> None:
    fake.handler = lambda req: Response(200, body)
    client = make_client(fake)
    with pytest.raises(BadResponseError):
        client.get_server_key(GUN, "timestamp")


# --------------------------------------------------------------------------- #
# Publish
# --------------------------------------------------------------------------- #


def _split_multipart(body: bytes, boundary: str) -> list[tuple[bytes, bytes]]:
    """Go mime/multipart framing, strictly: [(header block, content)]."""
    marker = b"--" + boundary.encode()
    assert body.startswith(marker + b"\r\n")
    assert body.endswith(b"\r\n" + marker + b"--\r\n")
    inner = body[len(marker) + 2 : -(len(marker) + 6)]
    parts = []
    for raw in inner.split(b"\r\n" + marker + b"\r\n"):
        head, _, content = raw.partition(b"\r\n\r\n")
        parts.append((head, content))
    return parts


def test_publish_sends_notary_multipart(fake: FakeNotary) -> None:
    files = {
        "targets/releases": b'{"signed":{},"signatures":[]}',
        "root": b'{"signed":{"x":"a\r\nb\n"},"signatures":[]}\xe2\x82\xac\x00',
        "targets": b"--not-a-boundary\r\n\r\n",
    }
    fake.handler = lambda req: Response(200, b"")
    client = make_client(fake)
    assert client.publish(GUN, files) is None

    (req,) = fake.requests
    assert req.method == "POST"
    assert req.path == f"/v2/{GUN}/_trust/tuf/"
    content_type = req.headers["content-type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    boundary = content_type.split("boundary=", 1)[1]

    # Strict framing check, byte for byte.
    parts = _split_multipart(req.body, boundary)
    assert [content for _, content in parts] == [
        files["root"],
        files["targets"],
        files["targets/releases"],
    ]
    assert [head for head, _ in parts] == [
        b'Content-Disposition: form-data; name="files"; filename="'
        + role.encode()
        + b'"\r\nContent-Type: application/octet-stream'
        for role in ("root", "targets", "targets/releases")
    ]

    # And an independent MIME parser agrees on field names and filenames.
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + req.body
    )
    seen = [
        (part.get_param("name", header="content-disposition"), part.get_filename())
        for part in message.iter_parts()  # type: ignore[attr-defined]
    ]
    assert seen == [("files", "root"), ("files", "targets"), ("files", "targets/releases")]


def test_multipart_boundary_avoids_the_content() -> None:
    body, content_type = encode_multipart({"root": b"abc"})
    boundary = content_type.split("boundary=", 1)[1]
    assert len(boundary) == 60
    assert body.count(b"--" + boundary.encode()) == 2


def test_publish_rejection_becomes_one_line_with_code(fake: FakeNotary) -> None:
    detail = {
        "Name": "ErrBadTargets",
        "Error": {"Msg": "valid signatures did not meet threshold for targets"},
    }
    fake.handler = lambda req: notary_error(
        400, "INVALID_UPDATE", "Update sent by the client is invalid.", detail
    )
    client = make_client(fake)
    with pytest.raises(ServerRejectedError) as info:
        client.publish(GUN, {"targets": b"{}"})
    err = info.value
    assert str(err) == (
        "server rejected the update: INVALID_UPDATE: "
        "valid signatures did not meet threshold for targets (ErrBadTargets)"
    )
    assert (err.status, err.code, err.detail) == (400, "INVALID_UPDATE", detail)
    assert err.exit_code == 1
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            ("VERSION", "A newer version of metadata is already available.", {}),
            "VERSION: A newer version of metadata is already available",
        ),
        (
            ("INVALID_ROLE", "The role is not valid.", "foo"),
            "INVALID_ROLE: The role is not valid: foo",
        ),
        (
            (
                "INVALID_UPDATE",
                "Update sent by the client is invalid.",
                {
                    "Name": "ErrBadHierarchy",
                    "Error": {"Missing": "snapshot", "Msg": "no snapshot\nwas included"},
                },
            ),
            "INVALID_UPDATE: no snapshot was included (ErrBadHierarchy)",
        ),
        (
            ("MALFORMED_JSON", "JSON sent by the client could not be parsed", None),
            "MALFORMED_JSON: JSON sent by the client could not be parsed",
        ),
    ],
    ids=["version", "string-detail", "hierarchy-multiline", "no-detail"],
)
def test_server_error_bodies(fake: FakeNotary, error: tuple[str, str, Any], expected: str) -> None:
    fake.handler = lambda req: notary_error(400, *error)
    client = make_client(fake)
    with pytest.raises(ServerRejectedError) as info:
        client.publish(GUN, {"root": b"{}"})
    assert str(info.value) == f"server rejected the update: {expected}"
    assert info.value.code == error[0]


def test_get_error_body_and_plain_4xx(fake: FakeNotary) -> None:
    answers = [
        notary_error(400, "UNKNOWN", "unknown error", None),
        Response(413, b"<html>too big</html>", {"Content-Type": "text/html"}),
    ]
    fake.handler = lambda req: answers.pop(0)
    client = make_client(fake)
    with pytest.raises(ServerRejectedError, match="UNKNOWN: unknown error"):
        client.get_metadata(GUN, "root")
    with pytest.raises(ServerRejectedError, match="HTTP 413") as info:
        client.publish(GUN, {"root": b"{}"})
    assert info.value.code is None
    assert info.value.status == 413


def test_publish_is_never_retried(fake: FakeNotary) -> None:
    fake.handler = lambda req: Response(503, b"busy")
    client = make_client(fake, retries=3)
    with pytest.raises(NetworkError) as info:
        client.publish(GUN, {"root": b"{}"})
    assert info.value.hint is not None
    assert "fetch" in info.value.hint
    assert len(fake.requests) == 1


def test_publish_on_a_dropped_connection_is_not_retried(fake: FakeNotary) -> None:
    fake.handler = lambda req: Response(drop=True)
    client = make_client(fake, retries=3)
    with pytest.raises(NetworkError, match="may or may not have applied"):
        client.publish(GUN, {"root": b"{}"})
    assert len(fake.requests) == 1


# --------------------------------------------------------------------------- #
# Authentication
# --------------------------------------------------------------------------- #


def test_parse_challenges_handles_quotes_commas_and_several_schemes() -> None:
    header = (
        'Bearer realm="https://127.0.0.1:9/auth/token?x=1,2",service="notary, \\"test\\"",'
        'scope="repository:example.com/a:push,pull" , Basic realm=plain, Negotiate abc=='
    )
    assert parse_challenges(header) == [
        Challenge(
            "bearer",
            {
                "realm": "https://127.0.0.1:9/auth/token?x=1,2",
                "service": 'notary, "test"',
                "scope": "repository:example.com/a:push,pull",
            },
        ),
        Challenge("basic", {"realm": "plain"}),
        Challenge("negotiate", {}, token68="abc=="),
    ]
    assert parse_challenges("") == []
    assert parse_challenges('BEARER Realm="unterminated') == [
        Challenge("bearer", {"realm": "unterminated"})
    ]


def _token_server(
    fake: FakeNotary,
    *,
    token: str = "tok-1",
    token_field: str = "token",
    expect_basic: tuple[str, str] | None = ("alice", PASSWORD),
    realm: str | None = None,
) -> None:
    """Docker-style token auth: /v2/... need ``Bearer <token>``; /auth/token issues it."""
    realm = realm or f"{fake.url}/auth/token"

    def handler(req: Request) -> Response:
        if req.path == "/auth/token":
            scope = req.query.get("scope", [""])[0]
            ok = req.query.get("service") == ["notary-test"] and scope.startswith("repository:")
            if expect_basic is not None:
                want = base64.b64encode(":".join(expect_basic).encode()).decode()
                ok = ok and req.headers.get("authorization") == f"Basic {want}"
                ok = ok and req.query.get("account") == [expect_basic[0]]
            if not ok:
                return notary_error(401, "UNAUTHORIZED", "bad credentials")
            return json_response(200, {token_field: f"{token}:{scope}"})
        gun = req.path.split("/_trust/")[0].removeprefix("/v2/")
        scope = f"repository:{gun}:" + ("push,pull" if req.method == "POST" else "pull")
        if req.headers.get("authorization") != f"Bearer {token}:{scope}":
            challenge = f'Bearer realm="{realm}",service="notary-test",scope="{scope}"'
            resp = notary_error(401, "UNAUTHORIZED", "authentication required", [])
            resp.headers["WWW-Authenticate"] = challenge
            return resp
        if req.method == "POST":
            return Response(200, b"")
        return Response(200, b"metadata of " + gun.encode())

    fake.handler = handler


def test_bearer_challenge_flow_with_credentials(
    tls_fake: FakeNotary, tls_material: TLSMaterial
) -> None:
    _token_server(tls_fake)
    client = make_client(
        tls_fake, ca_file=tls_material.ca_file, auth=Auth(username="alice", password=PASSWORD)
    )
    assert client.get_metadata(GUN, "root") == f"metadata of {GUN}".encode()
    assert [(r.method, r.path) for r in tls_fake.requests] == [
        ("GET", f"/v2/{GUN}/_trust/tuf/root.json"),
        ("GET", "/auth/token"),
        ("GET", f"/v2/{GUN}/_trust/tuf/root.json"),
    ]
    token_request = tls_fake.requests[1]
    assert token_request.query["scope"] == [f"repository:{GUN}:pull"]
    assert tls_fake.requests[2].headers["authorization"] == f"Bearer tok-1:repository:{GUN}:pull"

    # The token is cached per scope: no new token request for the same scope.
    client.get_metadata(GUN, "targets")
    assert tls_fake.paths().count("/auth/token") == 1

    # Publishing needs push,pull: the known realm gives a token up front, so the
    # upload is sent exactly once.
    client.publish(GUN, {"root": b"{}"})
    assert tls_fake.paths().count("/auth/token") == 2
    assert tls_fake.requests[-2].query["scope"] == [f"repository:{GUN}:push,pull"]
    assert [r.method for r in tls_fake.requests].count("POST") == 1


def test_bearer_anonymous_access_token(tls_fake: FakeNotary, tls_material: TLSMaterial) -> None:
    _token_server(tls_fake, token_field="access_token", expect_basic=None)
    client = make_client(tls_fake, ca_file=tls_material.ca_file)
    assert client.get_metadata(GUN, "root") == f"metadata of {GUN}".encode()
    assert "authorization" not in tls_fake.requests[1].headers
    assert "account" not in tls_fake.requests[1].query


def test_wrong_password_is_auth_error_without_the_password(
    tls_fake: FakeNotary, tls_material: TLSMaterial
) -> None:
    _token_server(tls_fake, expect_basic=("alice", "the-right-one"))
    client = make_client(
        tls_fake, ca_file=tls_material.ca_file, auth=Auth(username="alice", password=PASSWORD)
    )
    with pytest.raises(AuthError) as info:
        client.get_metadata(GUN, "root")
    assert "alice" in str(info.value)
    assert info.value.hint is not None
    assert "OFFTRUST_PASSWORD" in info.value.hint
    assert "OFFTRUST_TOKEN" in info.value.hint
    assert PASSWORD not in all_text(info.value)
    assert PASSWORD not in repr(client)


def test_401_after_auth_is_auth_error(fake: FakeNotary) -> None:
    """The token service hands out a token the server then refuses."""

    def handler(req: Request) -> Response:
        if req.path == "/auth/token":
            return json_response(200, {"token": "useless"})
        return Response(
            401,
            b"{}",
            {"WWW-Authenticate": f'Bearer realm="{fake.url}/auth/token",scope="x:y:pull"'},
        )

    fake.handler = handler
    client = make_client(fake, auth=Auth(username="alice", password=PASSWORD))
    with pytest.raises(AuthError, match="refused") as info:
        client.get_metadata(GUN, "root")
    assert PASSWORD not in all_text(info.value)
    # One attempt, one token, one retry with it: no loop.
    assert fake.paths().count("/auth/token") == 1
    assert len(fake.requests) == 3


@pytest.mark.parametrize(
    ("auth", "who"),
    [
        (None, "for anonymous access"),
        (Auth(username="alice", password=PASSWORD), "for user 'alice'"),
    ],
    ids=["anonymous", "user"],
)
def test_insufficient_scope_names_who_asked(fake: FakeNotary, auth: Auth | None, who: str) -> None:
    """Token services give anonymous users a token without access: say so plainly."""
    challenge = (
        f'Bearer realm="{fake.url}/auth/token",service="notary-test",'
        f'scope="repository:{GUN}:pull",error="insufficient_scope"'
    )

    def handler(req: Request) -> Response:
        if req.path == "/auth/token":
            return json_response(200, {"token": "no-access"})
        return Response(401, b"{}", {"WWW-Authenticate": challenge})

    fake.handler = handler
    client = make_client(fake, auth=auth)
    with pytest.raises(AuthError) as info:
        client.get_metadata(GUN, "root")
    message = str(info.value)
    assert who in message
    assert f"lacks scope repository:{GUN}:pull" in message
    assert PASSWORD not in all_text(info.value)


def test_preset_token_is_sent_directly(fake: FakeNotary) -> None:
    fake.handler = lambda req: (
        Response(200, b"ok")
        if req.headers.get("authorization") == "Bearer preset-token"
        else Response(401, b"", {"WWW-Authenticate": f'Bearer realm="{fake.url}/auth/token"'})
    )
    client = make_client(fake, auth=Auth(token="preset-token"))
    assert client.get_metadata(GUN, "root") == b"ok"
    assert fake.paths() == [f"/v2/{GUN}/_trust/tuf/root.json"]

    refused = make_client(fake, auth=Auth(token="wrong-token"))
    with pytest.raises(AuthError) as info:
        refused.get_metadata(GUN, "root")
    assert info.value.hint == "check OFFTRUST_TOKEN"
    assert "/auth/token" not in fake.paths()


def test_basic_challenge(fake: FakeNotary) -> None:
    want = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    fake.handler = lambda req: (
        Response(200, b"ok")
        if req.headers.get("authorization") == want
        else Response(401, b"", {"WWW-Authenticate": 'Basic realm="notary"'})
    )
    client = make_client(fake, auth=Auth(username="alice", password=PASSWORD))
    assert client.get_metadata(GUN, "root") == b"ok"
    assert client.get_metadata(GUN, "targets") == b"ok"
    # After the first challenge the credentials are sent up front.
    assert len(fake.requests) == 3

    anonymous = make_client(fake)
    with pytest.raises(AuthError, match="user name and password"):
        anonymous.get_metadata(GUN, "root")


@pytest.mark.parametrize(
    "realm",
    ["file:///etc/passwd", "ftp://127.0.0.1/token", "", "https://user:pw@127.0.0.1/token"],
    ids=["file", "ftp", "empty", "userinfo"],
)
def test_unusable_realm_is_refused(fake: FakeNotary, realm: str) -> None:
    fake.handler = lambda req: Response(401, b"", {"WWW-Authenticate": f'Bearer realm="{realm}"'})
    client = make_client(fake, auth=Auth(username="alice", password=PASSWORD))
    with pytest.raises(AuthError, match="realm"):
        client.get_metadata(GUN, "root")
    assert len(fake.requests) == 1


def test_plain_http_realm_needs_insecure(tls_fake: FakeNotary, tls_material: TLSMaterial) -> None:
    http_realm = FakeNotary()
    try:
        _token_server(tls_fake, realm=f"{http_realm.url}/auth/token")
        client = make_client(
            tls_fake, ca_file=tls_material.ca_file, auth=Auth(username="alice", password=PASSWORD)
        )
        with pytest.raises(AuthError, match="plain-http token realm"):
            client.get_metadata(GUN, "root")
        assert http_realm.requests == []
    finally:
        http_realm.stop()


def test_ping_discovers_auth(fake: FakeNotary) -> None:
    def handler(req: Request) -> Response:
        if req.path == "/auth/token":
            assert req.query["scope"] == ["registry:catalog:*"]
            return json_response(200, {"token": "t"})
        if req.headers.get("authorization") != "Bearer t":
            return Response(
                401,
                b"",
                {
                    "WWW-Authenticate": f'Bearer realm="{fake.url}/auth/token",service="s",'
                    'scope="registry:catalog:*"'
                },
            )
        return json_response(200, {})

    fake.handler = handler
    make_client(fake).ping()
    assert fake.paths() == ["/v2/", "/auth/token", "/v2/"]


def test_ping_of_something_else(fake: FakeNotary) -> None:
    fake.handler = lambda req: Response(404, b"not here")
    with pytest.raises(BadResponseError, match="Notary server"):
        make_client(fake).ping()


# --------------------------------------------------------------------------- #
# TLS
# --------------------------------------------------------------------------- #


def test_tls_with_the_right_ca(tls_fake: FakeNotary, tls_material: TLSMaterial) -> None:
    tls_fake.handler = lambda req: Response(200, b"over tls")
    client = make_client(tls_fake, ca_file=tls_material.ca_file)
    assert client.warnings == []
    assert client.get_metadata(GUN, "root") == b"over tls"


@pytest.mark.parametrize("which", ["system", "other", "insecure"])
def test_tls_without_the_ca_fails_with_a_hint(
    tls_fake: FakeNotary, tls_material: TLSMaterial, which: str
) -> None:
    kwargs: dict[str, Any] = {"retries": 3}
    if which == "other":
        kwargs["ca_file"] = tls_material.other_ca_file
    if which == "insecure":
        kwargs["insecure"] = True  # relaxes plain http only, never certificate checks
    client = make_client(tls_fake, **kwargs)
    with pytest.raises(NetworkError) as info:
        client.get_metadata(GUN, "root")
    assert str(info.value).startswith(f"cannot reach {tls_fake.url}: TLS certificate verification")
    assert info.value.hint is not None
    assert "--tls-ca FILE" in info.value.hint
    assert tls_fake.requests == []


def test_tls_hostname_is_checked(tls_fake: FakeNotary, tls_material: TLSMaterial) -> None:
    # The certificate names 127.0.0.1 only; "localhost" reaches the same socket.
    try:
        socket.getaddrinfo("localhost", tls_fake.port)
    except OSError:
        pytest.skip("localhost does not resolve here")
    client = NotaryClient(
        f"https://localhost:{tls_fake.port}", ca_file=tls_material.ca_file, retries=0
    )
    with pytest.raises(NetworkError, match="TLS certificate verification failed"):
        client.get_metadata(GUN, "root")


def test_tls_against_a_plain_http_server(fake: FakeNotary) -> None:
    client = NotaryClient(f"https://127.0.0.1:{fake.port}", retries=0, timeout=5)
    with pytest.raises(NetworkError, match="TLS"):
        client.get_metadata(GUN, "root")


# --------------------------------------------------------------------------- #
# Interop: the real notary-server
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real notary-server (memory storage, local signer, TLS) on 127.0.0.1."""
    realtools = _realtools()
    realtools.require_real_tools(("notary-server",))
    server = realtools.NotaryServer.start(tmp_path_factory.mktemp("notary-server"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def real_client(real_server: Any) -> Iterator[NotaryClient]:
    with NotaryClient(real_server.url, ca_file=real_server.ca_file, backoff=0.1) as client:
        yield client


@pytest.mark.interop
def test_real_server_unknown_gun(real_client: NotaryClient) -> None:
    real_client.ping()
    gun = f"example.com/unknown-{base64.b32encode(hashlib.sha256(b'x').digest()[:5]).decode()}"
    assert real_client.get_metadata(gun, "root") is None
    assert real_client.get_metadata(gun, "timestamp") is None
    assert real_client.get_metadata_version(gun, "root", 1) is None


@pytest.mark.interop
def test_real_server_keys_are_new_for_an_unknown_gun(real_client: NotaryClient) -> None:
    first = real_client.get_server_key("example.com/x", "timestamp")
    second = real_client.get_server_key("example.com/x", "timestamp")
    # The local trust service of notary-server 0.7 makes ed25519 keys (observed).
    assert first["keytype"] in KEY_TYPES
    assert first["keyval"]["private"] is None
    assert first["keyval"]["public"] != second["keyval"]["public"]


@pytest.mark.interop
def test_real_server_rejects_garbage(real_client: NotaryClient) -> None:
    with pytest.raises(ServerRejectedError) as info:
        real_client.publish("example.com/garbage", {"root": b"this is not json"})
    assert info.value.status == 400
    assert info.value.code == "MALFORMED_JSON"
    assert str(info.value).startswith("server rejected the update: MALFORMED_JSON")


@pytest.mark.interop
def test_real_server_accepts_what_notary_init_signed(
    real_server: Any, real_client: NotaryClient, tmp_path: Path
) -> None:
    """Our multipart upload of notary-made root/targets/snapshot is accepted byte for byte."""
    realtools = _realtools()
    realtools.require_real_tools(("notary",))
    gun = realtools.unique_gun("online-client")
    trust_dir = tmp_path / "trust"
    realtools.run_notary(
        trust_dir,
        "init",
        gun,
        server=real_server,
        passphrases=realtools.NOTARY_PASSPHRASES,
        home=tmp_path,
    )
    metadata = trust_dir / "tuf" / gun / "metadata"
    files = {
        role: (metadata / f"{role}.json").read_bytes() for role in ("root", "targets", "snapshot")
    }

    real_client.publish(gun, files)

    for role, data in files.items():
        assert real_client.get_metadata(gun, role) == data
        assert real_client.get_metadata_by_hash(gun, role, hashlib.sha256(data).hexdigest()) == data
        assert real_client.get_metadata_version(gun, role, 1) == data
    assert real_client.get_metadata(gun, "timestamp") is not None
    with pytest.raises(ServerRejectedError) as info:
        real_client.publish(gun, files)
    assert info.value.code == "VERSION"
