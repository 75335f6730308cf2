"""Docker's bearer-token auth against a real notary-server with ``auth.type = token``.

A second notary-server (its own workdir and port) is configured with
distribution's token access controller (formats doc 8.4). The token service at
its realm is a small HTTPS server run here on 127.0.0.1: it checks HTTP basic
credentials and issues ES256 JWTs whose ``x5c`` header carries a self-signed
certificate, the server's ``rootcertbundle``. Its TLS certificate comes from
another throwaway CA than the notary-server's, so ``--tls-ca`` is a bundle of
both.

Checked: ``fetch`` and ``publish`` follow the 401 challenge to the realm with
the user's credentials (or anonymously), present the token, and fail with one
line and a hint when credentials are missing or wrong; a preset
``OFFTRUST_TOKEN`` is sent directly, without asking the token service; the
password never shows in any output. The real notary CLI reads what offtrust
published through the same token service, so the service is not tailored to
offtrust.

Every credential here is a TEST-ONLY value.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import http.server
import json
import ssl
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from offtrust_helpers import run_offtrust
from realtools import (
    NotaryServer,
    copy_trust_dir,
    make_ca,
    make_tls_material,
    run_tool,
    tool_env,
    unique_gun,
    write_certificate,
)

pytestmark = pytest.mark.interop

#: TEST-ONLY credentials of the token service.
USERNAME = "tester"
PASSWORD = "offtrust-test-token-password-Q7"
WRONG_PASSWORD = "offtrust-test-wrong-password-Z3"

SERVICE = "notary-server-test"
ISSUER = "offtrust-test-issuer"
REALM_PATH = "/auth/token"


# --------------------------------------------------------------------------- #
# The token service
# --------------------------------------------------------------------------- #


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def scope_access(scope: str) -> dict[str, Any]:
    """``type:name:actions`` -> a JWT ``access`` entry granting exactly those actions."""
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    return {"type": kind, "name": name, "actions": actions.split(",")}


def repository_access(gun: str, *actions: str) -> list[dict[str, Any]]:
    return [{"type": "repository", "name": gun, "actions": list(actions)}]


@dataclass(frozen=True)
class TokenRequest:
    """One request the token service received."""

    path: str
    service: str | None
    scopes: list[str]
    account: str | None
    basic: tuple[str, str] | None  # (user, password) as sent, or None
    issued: bool  # a token was issued (for anonymous requests: one without access)


def _decode_basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    try:
        user, sep, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10
    server: _TokenHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        pass

    def _send(
        self, status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        issuer = self.server.issuer
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        basic = _decode_basic(self.headers.get("Authorization"))
        service = query.get("service", [None])[0]
        scopes = query.get("scope", [])
        anonymous = basic is None and issuer.anonymous_tokens
        issued = (
            url.path == REALM_PATH
            and service == SERVICE
            and (basic == (USERNAME, PASSWORD) or anonymous)
        )
        issuer.requests.append(
            TokenRequest(
                path=url.path,
                service=service,
                scopes=scopes,
                account=query.get("account", [None])[0],
                basic=basic,
                issued=issued,
            )
        )
        if url.path != REALM_PATH:
            self._send(404, {"error": "not found"})
        elif basic != (USERNAME, PASSWORD) and not anonymous:
            self._send(
                401,
                {"errors": [{"code": "UNAUTHORIZED", "message": "bad or missing credentials"}]},
                {"WWW-Authenticate": 'Basic realm="offtrust test token service"'},
            )
        elif service != SERVICE:
            self._send(400, {"errors": [{"code": "DENIED", "message": "unknown service"}]})
        else:
            # Like Docker Hub: anonymous users get a token that grants nothing
            # here, so the notary-server answers 401 insufficient_scope.
            access = [] if anonymous else [scope_access(s) for s in scopes]
            token = issuer.mint("" if anonymous else USERNAME, access)
            now = dt.datetime.now(dt.timezone.utc)
            self._send(
                200,
                {
                    "token": token,
                    "access_token": token,
                    "expires_in": 300,
                    "issued_at": now.isoformat().replace("+00:00", "Z"),
                },
            )


class _TokenHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, issuer: TokenService) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.issuer = issuer


@dataclass
class TokenService:
    """Docker-style token service: ``GET /auth/token?service=..&scope=..`` -> ``{"token": JWT}``.

    Grants exactly the scopes asked for, to USERNAME/PASSWORD only; the JWT is
    ES256, signed by ``key`` whose self-signed ``cert`` is notary-server's
    ``rootcertbundle``. A request without credentials gets a token without
    any access (as Docker Hub does), or with ``anonymous_tokens`` False a 401.
    """

    key: ec.EllipticCurvePrivateKey
    cert_der: bytes
    anonymous_tokens: bool = True
    requests: list[TokenRequest] = field(default_factory=list)
    _httpd: _TokenHTTPServer | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return int(self._httpd.server_address[1])

    @property
    def realm(self) -> str:
        return f"https://127.0.0.1:{self.port}{REALM_PATH}"

    def bind(self) -> None:
        """Take a port (so the realm is known before notary-server starts)."""
        self._httpd = _TokenHTTPServer(self)

    def serve(self, cert_file: Path, key_file: Path) -> None:
        """Start answering, over TLS with the given certificate."""
        assert self._httpd is not None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="token-service", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is None:
            return
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=10)
        self._httpd.server_close()
        self._httpd = None

    def mint(self, subject: str, access: Sequence[Mapping[str, Any]]) -> str:
        """A JWT the way distribution's token access controller verifies it."""
        header = {
            "typ": "JWT",
            "alg": "ES256",
            "x5c": [base64.b64encode(self.cert_der).decode("ascii")],
        }
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 5,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": list(access),
        }
        signing_input = ".".join(
            b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        der = self.key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return f"{signing_input}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


@dataclass(frozen=True)
class TokenAuthSetup:
    server: NotaryServer
    issuer: TokenService
    ca_bundle: Path  # the notary-server CA and the token service CA
    workdir: Path

    def server_args(self) -> list[str]:
        return ["--server", self.server.url, "--tls-ca", str(self.ca_bundle)]

    def get(self, path: str, token: str | None) -> tuple[int, dict[str, str], bytes]:
        """``GET path`` on the notary-server, with ``Authorization: Bearer token`` if given."""
        conn = http.client.HTTPSConnection(
            self.server.host, self.server.port, context=self.server.ssl_context(), timeout=10
        )
        try:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()


@pytest.fixture(scope="module")
def token_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenAuthSetup]:
    """A notary-server with token auth and its token service, for this module."""
    workdir = tmp_path_factory.mktemp("token-auth")
    signing_key, signing_cert = make_ca("offtrust test token issuer")
    bundle_file = write_certificate(workdir / "token-issuer.crt", signing_cert)
    issuer = TokenService(
        key=signing_key, cert_der=signing_cert.public_bytes(serialization.Encoding.DER)
    )
    issuer.bind()
    server: NotaryServer | None = None
    try:
        auth = {
            "type": "token",
            "options": {
                "realm": issuer.realm,
                "service": SERVICE,
                "issuer": ISSUER,
                "rootcertbundle": str(bundle_file),
            },
        }
        # "info" so that distribution's reasons for refusing a token reach the log.
        server = NotaryServer.start(
            workdir / "notary-server",
            extra_config={"auth": auth, "logging": {"level": "info"}},
        )
        token_ca, token_cert, token_key = make_tls_material(
            workdir / "token-tls", ca_name="offtrust token service test CA"
        )
        issuer.serve(token_cert, token_key)
        ca_bundle = workdir / "ca-bundle.pem"
        ca_bundle.write_bytes(server.ca_file.read_bytes() + token_ca.read_bytes())
        setup = TokenAuthSetup(server=server, issuer=issuer, ca_bundle=ca_bundle, workdir=workdir)
        # The server really demands a token, and names our realm.
        status, headers, _ = setup.get("/v2/", None)
        assert status == 401, server.log_tail()
        assert f'realm="{issuer.realm}"' in headers.get("Www-Authenticate", ""), headers
        yield setup
    finally:
        issuer.stop()
        if server is not None:
            server.stop()


@pytest.fixture
def auth(token_auth: TokenAuthSetup) -> TokenAuthSetup:
    """The module's setup, its token service's request log emptied, anonymous tokens on."""
    token_auth.issuer.requests.clear()
    token_auth.issuer.anonymous_tokens = True
    return token_auth


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #


def describe(proc: Any, setup: TokenAuthSetup | None = None) -> str:
    text = f"{proc.args!r} -> {proc.returncode}\n--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}"
    if setup is not None:
        text += f"--- notary-server log\n{setup.server.log_tail(15)}"
    return text


def assert_no_secret(proc: Any, *secrets: str) -> None:
    """No password (nor its basic-auth encoding) and no token in any output."""
    output = proc.stdout + proc.stderr
    for secret in secrets:
        assert secret not in output, describe(proc)
    for password in (PASSWORD, WRONG_PASSWORD):
        assert password not in output, describe(proc)
        encoded = base64.b64encode(f"{USERNAME}:{password}".encode()).decode()
        assert encoded not in output, describe(proc)


def one_error_line(proc: Any) -> str:
    """The single ``offtrust: error:`` line of a run that failed with exit 1."""
    assert proc.returncode == 1, describe(proc)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("offtrust: error:")]
    assert len(errors) == 1, describe(proc)
    return errors[0]


def assert_auth_hint(line: str, proc: Any) -> None:
    for word in ("--username", "OFFTRUST_PASSWORD", "OFFTRUST_TOKEN"):
        assert word in line or word in proc.stderr, describe(proc)


def recorded_server_keys(trust_dir: Path, gun: str) -> dict[str, Any]:
    keys_dir = trust_dir / "offtrust" / "server" / gun
    return {p.name: json.loads(p.read_bytes()) for p in sorted(keys_dir.iterdir()) if p.is_file()}


def fetch_ok(
    setup: TokenAuthSetup, trust: Path, gun: str, *args: str, env: Mapping[str, str]
) -> Any:
    proc = run_offtrust(trust, "fetch", gun, *setup.server_args(), *args, env=env, check=False)
    assert proc.returncode == 0, describe(proc, setup)
    assert f"{gun}: new" in proc.stdout, describe(proc, setup)
    keys = recorded_server_keys(trust, gun)
    assert sorted(keys) == ["snapshot.key.json", "timestamp.key.json"], keys
    assert all(k["keyval"]["public"] for k in keys.values()), keys
    return proc


# --------------------------------------------------------------------------- #
# 1. No credentials
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "env",
    [{}, {"OFFTRUST_PASSWORD": PASSWORD}],
    ids=["clean-env", "password-without-username"],
)
@pytest.mark.parametrize("anonymous_tokens", [True, False], ids=["empty-token", "token-refused"])
def test_fetch_without_credentials_fails_with_a_hint(
    auth: TokenAuthSetup, tmp_path: Path, env: dict[str, str], anonymous_tokens: bool
) -> None:
    auth.issuer.anonymous_tokens = anonymous_tokens
    gun = unique_gun("tok-anon")
    trust = tmp_path / "trust"
    proc = run_offtrust(trust, "fetch", gun, *auth.server_args(), env=env, check=False)

    line = one_error_line(proc)
    if anonymous_tokens:
        # The token grants nothing: the notary-server itself refuses it, and
        # the message must not blame credentials that were never given.
        assert f"{auth.server.url} refused" in line, describe(proc)
        assert "for anonymous access" in line, describe(proc)
        assert f"lacks scope repository:{gun}:pull" in line, describe(proc)
        assert "credentials" not in line.partition("(hint:")[0], describe(proc)
    else:
        assert "token service" in line, describe(proc)
        assert "refused anonymous access" in line, describe(proc)
    assert_auth_hint(line, proc)
    assert_no_secret(proc)
    # offtrust followed the challenge: it asked the realm, without credentials.
    assert auth.issuer.requests, "the token service was never asked"
    for r in auth.issuer.requests:
        assert r.basic is None, r
        assert r.account is None, r
        assert r.service == SERVICE, r
        assert r.issued == anonymous_tokens, r
    assert not (trust / "offtrust" / "server" / gun).exists()


# --------------------------------------------------------------------------- #
# 2. User name and password
# --------------------------------------------------------------------------- #


def test_fetch_with_credentials_gets_a_token(auth: TokenAuthSetup, tmp_path: Path) -> None:
    gun = unique_gun("tok-user")
    trust = tmp_path / "trust"
    proc = fetch_ok(auth, trust, gun, "--username", USERNAME, env={"OFFTRUST_PASSWORD": PASSWORD})
    assert_no_secret(proc)

    requests = auth.issuer.requests
    assert requests, "the token service was never asked"
    for r in requests:
        assert r.path == REALM_PATH, r
        assert r.service == SERVICE, r
        assert r.basic == (USERNAME, PASSWORD), r
        assert r.account == USERNAME, r
        assert r.issued, r
    scopes = {s for r in requests for s in r.scopes}
    # Metadata reads need pull; the server keys of a new GUN need push,pull.
    assert f"repository:{gun}:pull" in scopes, scopes
    assert f"repository:{gun}:push,pull" in scopes, scopes
    assert all(s == "registry:catalog:*" or f":{gun}:" in s for s in scopes), scopes


# --------------------------------------------------------------------------- #
# 3. Wrong password
# --------------------------------------------------------------------------- #


def test_fetch_with_a_wrong_password_fails(auth: TokenAuthSetup, tmp_path: Path) -> None:
    gun = unique_gun("tok-wrong")
    trust = tmp_path / "trust"
    proc = run_offtrust(
        trust,
        "fetch",
        gun,
        *auth.server_args(),
        "--username",
        USERNAME,
        env={"OFFTRUST_PASSWORD": WRONG_PASSWORD},
        check=False,
    )
    line = one_error_line(proc)
    assert f"refused user {USERNAME!r}" in line, describe(proc)
    assert_auth_hint(line, proc)
    assert_no_secret(proc)
    assert auth.issuer.requests, "the token service was never asked"
    assert all(r.basic == (USERNAME, WRONG_PASSWORD) for r in auth.issuer.requests)
    assert not any(r.issued for r in auth.issuer.requests)
    assert not (trust / "offtrust" / "server" / gun).exists()


# --------------------------------------------------------------------------- #
# 4. Preset token
# --------------------------------------------------------------------------- #


def test_fetch_with_a_preset_token_skips_the_token_service(
    auth: TokenAuthSetup, tmp_path: Path
) -> None:
    gun = unique_gun("tok-preset")
    token = auth.issuer.mint(
        USERNAME,
        [
            *repository_access(gun, "push", "pull"),
            {"type": "registry", "name": "catalog", "actions": ["*"]},
        ],
    )
    # The server accepts this token on its own (no offtrust involved).
    status, _, body = auth.get(f"/v2/{gun}/_trust/tuf/timestamp.key", token)
    assert status == 200, (status, body, auth.server.log_tail(15))

    trust = tmp_path / "trust"
    proc = fetch_ok(auth, trust, gun, env={"OFFTRUST_TOKEN": token})
    assert_no_secret(proc, token)
    assert auth.issuer.requests == [], auth.issuer.requests


def test_preset_token_for_another_gun_is_refused(auth: TokenAuthSetup, tmp_path: Path) -> None:
    gun = unique_gun("tok-other")
    token = auth.issuer.mint(USERNAME, repository_access(unique_gun("tok-elsewhere"), "pull"))
    trust = tmp_path / "trust"
    proc = run_offtrust(
        trust, "fetch", gun, *auth.server_args(), env={"OFFTRUST_TOKEN": token}, check=False
    )
    line = one_error_line(proc)
    assert "refused the bearer token" in line, describe(proc)
    # The hint is its own `hint:` line, after the one error line.
    assert "hint: check OFFTRUST_TOKEN" in proc.stderr, describe(proc)
    assert_no_secret(proc, token)
    assert auth.issuer.requests == [], auth.issuer.requests


# --------------------------------------------------------------------------- #
# 5. The whole flow: fetch, offline init, stage, publish -- all with auth
# --------------------------------------------------------------------------- #


def test_publish_a_new_gun_with_token_auth(auth: TokenAuthSetup, tmp_path: Path) -> None:
    gun = unique_gun("tok-publish")
    creds = {"OFFTRUST_PASSWORD": PASSWORD}
    online = tmp_path / "trust"
    fetch_ok(auth, online, gun, "--username", USERNAME, env=creds)
    recorded = recorded_server_keys(online, gun)

    # Offline: no server, no credentials.
    offline = copy_trust_dir(online, tmp_path / "offline")
    keys = tmp_path / "keys"
    keys.mkdir()
    for args in (
        ("key", "generate", "alice", "--dir", str(keys)),
        ("signer", "add", "alice", gun, "--key", str(keys / "alice.pub")),
        ("stage", "--output", str(tmp_path / "new.bundle")),
    ):
        run_offtrust(offline, *args)

    auth.issuer.requests.clear()
    proc = run_offtrust(
        offline,
        "publish",
        str(tmp_path / "new.bundle"),
        *auth.server_args(),
        "--username",
        USERNAME,
        env=creds,
        check=False,
    )
    assert proc.returncode == 0, describe(proc, auth)
    assert f"{gun}: published" in proc.stdout, describe(proc, auth)
    assert_no_secret(proc)
    requests = auth.issuer.requests
    assert requests, "the token service was never asked"
    for r in requests:
        assert r.issued, r
        assert r.basic == (USERNAME, PASSWORD), r
    scopes = {s for r in requests for s in r.scopes}
    assert f"repository:{gun}:push,pull" in scopes, scopes

    # The server holds the new root, with the server keys fetch recorded.
    pull = auth.issuer.mint(USERNAME, repository_access(gun, "pull"))
    status, _, body = auth.get(f"/v2/{gun}/_trust/tuf/root.json", None)
    assert status == 401, (status, body)
    status, _, body = auth.get(f"/v2/{gun}/_trust/tuf/root.json", pull)
    assert status == 200, (status, body)
    root = json.loads(body)["signed"]
    for role in ("snapshot", "timestamp"):
        (kid,) = root["roles"][role]["keyids"]
        assert root["keys"][kid] == recorded[f"{role}.key.json"], role

    # The real notary client reads it through the same token service
    # (NOTARY_AUTH = base64 "user:password"), starting from nothing.
    auth.issuer.requests.clear()
    notary_auth = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    listed = run_tool(
        [
            "notary",
            "-d",
            str(tmp_path / "notary-reader"),
            "-s",
            auth.server.url,
            "--tlscacert",
            str(auth.ca_bundle),
            "list",
            gun,
        ],
        env=tool_env(tmp_path / "home", {"NOTARY_AUTH": notary_auth}),
    )
    assert "No targets present" in listed.stdout + listed.stderr, listed
    # notary asks anonymously first, then with NOTARY_AUTH after the server's 401.
    assert any(
        r.issued and r.basic == (USERNAME, PASSWORD) and f"repository:{gun}:pull" in r.scopes
        for r in auth.issuer.requests
    ), auth.issuer.requests
