"""A thin client for the notary-server HTTP API (formats doc, section 8).

:class:`NotaryClient` downloads metadata and server-held keys and sends the
atomic multipart update, byte for byte as notary's own client does. It does not
interpret TUF documents: callers verify what it returns.

Transport rules:

- TLS is always verified, against the system CAs or only the ``ca_file`` given
  (like notary's ``--tlscacert``). ``insecure`` only allows a plain ``http://``
  server (and token realm); it never turns certificate checks off.
- GET requests are retried a few times, with exponential backoff, on connection
  and read failures and on 502/503/504. The publish POST is never retried once
  it may have reached the server; only a connection that could not be opened
  at all is tried again.
- Redirects are not followed, so credentials and tokens only go to the server
  named by the user (and to the token realm that server names).
- Response bodies are size-capped; proxies from the environment are not used.

Authentication follows Docker (formats doc 8.4): a preset bearer token is sent
as is; otherwise a ``401`` with ``WWW-Authenticate: Bearer realm=...`` makes
the client fetch a token from the realm (with HTTP basic credentials if given),
cache it per scope and repeat the request; a ``Basic`` challenge makes it send
the credentials directly. The password never appears in a message or repr.
"""

from __future__ import annotations

import base64
import errno
import functools
import hashlib
import json
import re
import secrets
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote, urlencode

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    LocationParseError,
    MaxRetryError,
    NameResolutionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.util import Retry, Timeout, parse_url

from offtrust import __version__
from offtrust.errors import (
    AuthError,
    BadResponseError,
    HashMismatchError,
    InvalidMetadataError,
    NetworkError,
    ServerRejectedError,
    UsageError,
)
from offtrust.model.keys import KEY_TYPES, PublicKey
from offtrust.model.roles import is_valid_role

__all__ = [
    "DEFAULT_USER_AGENT",
    "MAX_KEY_SIZE",
    "MAX_METADATA_SIZE",
    "MAX_TIMESTAMP_SIZE",
    "Auth",
    "Challenge",
    "NotaryClient",
    "encode_multipart",
    "parse_challenges",
]

DEFAULT_USER_AGENT = f"offtrust/{__version__}"

KiB = 1024
MiB = 1024 * KiB

#: Size caps for response bodies. The timestamp is fetched first and without a
#: known length, so it gets a small cap; other roles may be large (many targets).
MAX_TIMESTAMP_SIZE = 1 * MiB
MAX_METADATA_SIZE = 100 * MiB
MAX_KEY_SIZE = 64 * KiB
MAX_TOKEN_RESPONSE_SIZE = 1 * MiB
MAX_ERROR_BODY_SIZE = 64 * KiB
MAX_PING_SIZE = 64 * KiB

#: Statuses after which an idempotent GET is tried again.
RETRY_STATUSES = frozenset({502, 503, 504})

_SERVER_KEY_ROLES = ("timestamp", "snapshot")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# A bearer token goes into a header: visible ASCII only, so a hostile token
# service cannot inject header lines.
_HEADER_SAFE = re.compile(r"^[\x21-\x7e]+$")
_GUN_FORBIDDEN = re.compile(r"[\x00-\x20\x7f\\*?#%]")


# --------------------------------------------------------------------------- #
# Credentials
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Auth:
    """Credentials for the Notary server.

    Either ``username`` and ``password`` (sent as HTTP basic auth to a token
    realm or to a server that asks for ``Basic``), or a preset bearer ``token``
    (``OFFTRUST_TOKEN``), or nothing (anonymous tokens are still fetched). The
    password and the token are kept out of the repr.
    """

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)

    @property
    def has_credentials(self) -> bool:
        return self.username is not None and self.password is not None

    def basic_header(self) -> str:
        """The ``Authorization`` value for HTTP basic auth."""
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


def _check_auth(auth: Auth) -> None:
    if auth.token is not None:
        if auth.username is not None or auth.password is not None:
            raise UsageError("give either --username with a password or OFFTRUST_TOKEN, not both")
        if not _HEADER_SAFE.match(auth.token):
            raise UsageError("the bearer token (OFFTRUST_TOKEN) is empty or has invalid characters")
        return
    if auth.username is not None and auth.password is None:
        raise UsageError("--username needs a password from OFFTRUST_PASSWORD or --password-stdin")
    if auth.password is not None and auth.username is None:
        raise UsageError("a password was given without --username")
    if auth.username is not None:
        if not auth.username or ":" in auth.username or not auth.username.isprintable():
            raise UsageError(f"invalid --username {auth.username!r}: it must not contain ':'")
        assert auth.password is not None
        if not auth.password.isprintable():
            raise UsageError("the password contains control characters")


# --------------------------------------------------------------------------- #
# WWW-Authenticate
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Challenge:
    """One challenge of a ``WWW-Authenticate`` header (RFC 7235).

    ``scheme`` and the parameter names are lower-cased; values are unquoted.
    """

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)
    token68: str | None = None


def _skip(text: str, pos: int, chars: str) -> int:
    while pos < len(text) and text[pos] in chars:
        pos += 1
    return pos


def _read_token(text: str, pos: int) -> tuple[str, int]:
    start = pos
    while pos < len(text) and text[pos] in _TOKEN_CHARS:
        pos += 1
    return text[start:pos], pos


def _read_quoted(text: str, pos: int) -> tuple[str, int]:
    """Read a quoted-string starting at the opening quote; tolerate a missing close."""
    out: list[str] = []
    pos += 1
    while pos < len(text):
        ch = text[pos]
        if ch == "\\" and pos + 1 < len(text):
            out.append(text[pos + 1])
            pos += 2
            continue
        if ch == '"':
            return "".join(out), pos + 1
        out.append(ch)
        pos += 1
    return "".join(out), pos


def _is_list_end(text: str, pos: int) -> bool:
    pos = _skip(text, pos, " \t")
    return pos >= len(text) or text[pos] == ","


def parse_challenges(header: str) -> list[Challenge]:
    """Parse a ``WWW-Authenticate`` value into its challenges.

    Handles several challenges in one header, quoted values containing commas
    and escaped quotes, and ``token68`` credentials. Malformed trailing input is
    ignored rather than raising: a broken header just yields fewer challenges.
    """
    challenges: list[Challenge] = []
    pos = 0
    n = len(header)
    while True:
        pos = _skip(header, pos, " \t,")
        if pos >= n:
            return challenges
        scheme, pos = _read_token(header, pos)
        if not scheme:
            return challenges
        params: dict[str, str] = {}
        token68: str | None = None
        after = _skip(header, pos, " \t")
        if after > pos:  # a scheme is followed by a space before its token68/params
            match = _TOKEN68.match(header, after)
            if match and _is_list_end(header, match.end()):
                token68 = match.group(0)
                pos = match.end()
        if token68 is None:
            while True:
                start = _skip(header, pos, " \t,")
                name, name_end = _read_token(header, start)
                if not name:
                    pos = start
                    break
                eq = _skip(header, name_end, " \t")
                if eq >= n or header[eq] != "=":
                    pos = start  # the next challenge's scheme
                    break
                value_start = _skip(header, eq + 1, " \t")
                if value_start < n and header[value_start] == '"':
                    value, pos = _read_quoted(header, value_start)
                else:
                    value, pos = _read_token(header, value_start)
                params.setdefault(name.lower(), value)
        challenges.append(Challenge(scheme=scheme.lower(), params=params, token68=token68))
        if pos < n and header[pos] not in " \t," and not header[pos].isalnum():
            return challenges  # garbage we cannot tokenise: stop here


# --------------------------------------------------------------------------- #
# Multipart
# --------------------------------------------------------------------------- #


def encode_multipart(files: Mapping[str, bytes], boundary: str | None = None) -> tuple[bytes, str]:
    """The publish body exactly as notary's ``NewMultiPartMetaRequest`` builds it.

    One part per role, in sorted role order, each with field name ``files``,
    filename = the role name and type ``application/octet-stream``; framing as
    Go's ``mime/multipart`` writes it.

    Args:
        files: role name (without ``.json``) -> the exact document bytes.
        boundary: fixed boundary for tests; by default 30 random bytes in hex,
            as Go uses.

    Returns:
        (body, content type header value).
    """
    while True:
        bound = boundary or secrets.token_hex(30)
        marker = f"--{bound}".encode("ascii")
        if boundary is not None or not any(marker in data for data in files.values()):
            break
    chunks: list[bytes] = []
    for i, role in enumerate(sorted(files)):
        chunks.append((b"\r\n" if i else b"") + marker + b"\r\n")
        chunks.append(
            f'Content-Disposition: form-data; name="files"; filename="{role}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
        )
        chunks.append(files[role])
    chunks.append(b"\r\n" + marker + b"--\r\n")
    return b"".join(chunks), f"multipart/form-data; boundary={bound}"


# --------------------------------------------------------------------------- #
# Server error bodies
# --------------------------------------------------------------------------- #


def _server_errors(body: bytes) -> list[dict[str, Any]]:
    """The entries of ``{"errors": [...]}``, or [] when the body is something else."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return []
    if not isinstance(data, dict) or not isinstance(data.get("errors"), list):
        return []
    return [e for e in data["errors"] if isinstance(e, dict)]


def _clip(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe_server_error(entry: Mapping[str, Any]) -> str:
    """``CODE: text`` for one server error entry (formats doc 8.3)."""
    code = entry.get("code")
    message = entry.get("message")
    message = message.strip().rstrip(".") if isinstance(message, str) else ""
    detail = entry.get("detail")
    text = ""
    if isinstance(detail, dict):
        # Validation errors: {"Name": "ErrBadTargets", "Error": {"Msg": "..."}}.
        inner = detail.get("Error")
        msg = inner.get("Msg") if isinstance(inner, dict) else detail.get("Msg")
        name = detail.get("Name")
        if isinstance(msg, str) and msg.strip():
            text = msg.strip().rstrip(".")
            if isinstance(name, str) and name:
                text += f" ({name})"
    elif isinstance(detail, str) and detail:
        text = f"{message}: {detail}" if message else detail
    if not text:
        text = message or "no message"
    return f"{code}: {_clip(text)}" if isinstance(code, str) and code else _clip(text)


# --------------------------------------------------------------------------- #
# Transport failures
# --------------------------------------------------------------------------- #

_UNREACHABLE = {
    errno.ENETUNREACH: "the network is unreachable",
    errno.EHOSTUNREACH: "no route to the host",
}

_TLS_HINT = "pass the CA certificate that signed the server's certificate with --tls-ca FILE"


def _exception_chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        nxt = [getattr(e, "reason", None), e.__cause__, e.__context__]
        nxt += [a for a in e.args if isinstance(a, BaseException)]
        todo.extend(x for x in nxt if isinstance(x, BaseException))


def _describe_failure(exc: BaseException, timeout: float) -> tuple[str, str | None]:
    """(one-line reason, hint) for a transport exception from urllib3 or ssl."""
    chain = list(_exception_chain(exc))
    for e in chain:
        if isinstance(e, ssl.SSLCertVerificationError):
            why = e.verify_message or e.reason or "certificate verify failed"
            return f"TLS certificate verification failed: {why}", _TLS_HINT
    for e in chain:
        if isinstance(e, ssl.SSLError):
            reason = e.reason or str(e)
            hint = None
            if "WRONG_VERSION_NUMBER" in str(reason).upper():
                hint = "the server may not speak TLS; check the URL scheme"
            return f"TLS handshake failed: {_clip(str(reason), 200)}", hint
    checks: list[tuple[type[BaseException] | tuple[type[BaseException], ...], str]] = [
        (ConnectionRefusedError, "connection refused"),
        ((NameResolutionError, socket.gaierror), "the host name could not be resolved"),
        (ConnectionResetError, "the connection was reset"),
        (ReadTimeoutError, f"no answer within {timeout:g}s"),
    ]
    for kind, text in checks:
        if any(isinstance(e, kind) for e in chain):
            return text, None
    # NewConnectionError derives from ConnectTimeoutError, but a socket that
    # fails at once (no route, no interface up) did not time out.
    for e in chain:
        if isinstance(e, OSError) and e.errno in _UNREACHABLE:
            return _UNREACHABLE[e.errno], None
    if any(isinstance(e, (ConnectTimeoutError, TimeoutError)) for e in chain):
        return f"could not connect within {timeout:g}s", None
    for e in chain:
        if isinstance(e, ProtocolError):
            return "the connection closed unexpectedly", None
    last = chain[-1]
    return _clip(str(last) or type(last).__name__, 200), None


# --------------------------------------------------------------------------- #
# The client
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class _Reply:
    status: int
    reason: str
    headers: urllib3.HTTPHeaderDict
    body: bytes


def _parse_server(server: str, insecure: bool) -> str:
    shown = re.sub(r"//[^/@]*@", "//***@", server)
    try:
        url = parse_url(server.strip())
    except LocationParseError:
        raise UsageError(f"--server {shown!r} is not a URL like https://HOST[:PORT]") from None
    if url.auth:
        raise UsageError(
            "put the user name in --username and the password in OFFTRUST_PASSWORD, "
            "not in the --server URL"
        )
    scheme = (url.scheme or "").lower()
    if "://" not in server:
        raise UsageError(f"--server {shown!r} needs a scheme, as in https://{shown}")
    if scheme not in ("http", "https") or not url.host:
        raise UsageError(f"--server {shown!r} must be a URL like https://HOST[:PORT]")
    if url.path not in (None, "", "/") or url.query or url.fragment:
        raise UsageError(
            f"--server {shown!r} must be scheme://HOST[:PORT] only (no path, query or fragment)"
        )
    if scheme == "http" and not insecure:
        raise UsageError("plain http needs --insecure", hint="use https://, or add --insecure")
    port = f":{url.port}" if url.port is not None else ""
    return f"{scheme}://{url.host}{port}"


def _check_gun(gun: str) -> str:
    if (
        not gun
        or len(gun) > 255
        or gun.startswith("/")
        or _GUN_FORBIDDEN.search(gun)
        or any(part in ("", ".", "..") for part in gun.split("/"))
    ):
        raise UsageError(f"invalid GUN {gun!r}")
    return gun


def _check_role(role: str) -> str:
    if not is_valid_role(role):
        raise UsageError(f"invalid role name {role!r}")
    return role


class NotaryClient:
    """A client for one notary-server.

    Args:
        server: ``https://HOST[:PORT]`` (``http://`` only with ``insecure``).
        ca_file: PEM file of the CA(s) to trust instead of the system CAs.
        insecure: allow a plain-http server or token realm (with a warning).
            TLS certificates are verified regardless.
        auth: credentials; see :class:`Auth`.
        timeout: seconds for connecting and for each read.
        user_agent: the ``User-Agent`` header.
        on_warning: called with each warning; warnings are also kept in
            :attr:`warnings`.
        retries: how many times a GET is tried again after a transient failure.
        backoff: base of the exponential backoff between those tries, seconds.

    Raises:
        UsageError: bad server URL, plain http without ``insecure``, an
            unreadable ``ca_file`` or inconsistent credentials.
    """

    def __init__(
        self,
        server: str,
        *,
        ca_file: Path | None = None,
        insecure: bool = False,
        auth: Auth | None = None,
        timeout: float = 30.0,
        user_agent: str = DEFAULT_USER_AGENT,
        on_warning: Callable[[str], None] | None = None,
        retries: int = 3,
        backoff: float = 0.5,
    ) -> None:
        self.server = _parse_server(server, insecure)
        self.insecure = insecure
        self.warnings: list[str] = []
        self._on_warning = on_warning
        self._auth = auth if auth is not None else Auth()
        _check_auth(self._auth)
        if not _HEADER_SAFE.match(user_agent.replace(" ", "!")):
            raise UsageError(f"invalid user agent {user_agent!r}")
        self._user_agent = user_agent
        self._timeout_s = timeout
        self._timeout = Timeout(connect=timeout, read=timeout)
        self._retries = max(0, retries)
        self._backoff = max(0.0, backoff)
        self._get_retry = Retry(
            total=self._retries,
            connect=self._retries,
            read=self._retries,
            status=self._retries,
            other=0,
            redirect=0,
            backoff_factor=self._backoff,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=frozenset({"GET"}),
            raise_on_status=False,
            raise_on_redirect=False,
            # A hostile or broken server could ask for an hour's wait.
            respect_retry_after_header=False,
        )
        # A POST is only tried again when the connection could not even be
        # opened: the server cannot have seen the update then.
        self._post_retry = Retry(
            total=self._retries,
            connect=self._retries,
            read=False,
            status=0,
            other=0,
            redirect=0,
            backoff_factor=self._backoff,
            # Read and status retries are off; connect retries ignore the
            # method. (An empty set would mean "every method" to urllib3.)
            allowed_methods=frozenset({"GET"}),
            raise_on_status=False,
            raise_on_redirect=False,
        )
        self._pool = urllib3.PoolManager(
            num_pools=4,
            ssl_context=_ssl_context(ca_file),
            cert_reqs="CERT_REQUIRED",
        )
        self._bearer: Challenge | None = None  # the last Bearer challenge (realm, service)
        self._tokens: dict[str, str] = {}  # scope -> bearer token
        self._send_basic = False
        if self.server.startswith("http://"):
            sent = "metadata travels"
            if self._auth.has_credentials or self._auth.token is not None:
                sent = "metadata and credentials travel"
            self._warn(f"plain http to {self.server} (--insecure): {sent} unencrypted")

    # -- life cycle --------------------------------------------------------- #

    def close(self) -> None:
        """Close pooled connections."""
        self._pool.clear()

    def __enter__(self) -> NotaryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"NotaryClient({self.server!r})"

    def _warn(self, text: str) -> None:
        self.warnings.append(text)
        if self._on_warning is not None:
            self._on_warning(text)

    # -- public API --------------------------------------------------------- #

    def ping(self) -> None:
        """``GET /v2/``: check that the server answers, and discover its auth.

        Raises:
            NetworkError: unreachable, TLS failure, or not a Notary server.
            AuthError: the server refused the credentials.
        """
        reply = self._request(
            "GET", "/v2/", scope="registry:catalog:*", limit=MAX_PING_SIZE, what="the ping"
        )
        if reply.status == 404:
            raise BadResponseError(
                f"{self.server} answered 404 to GET /v2/: it does not look like a Notary server"
            )
        if not 200 <= reply.status < 300:
            self._raise_for(reply, "the ping")

    def get_metadata(self, gun: str, role: str) -> bytes | None:
        """The current ``<role>.json`` of ``gun``, byte for byte; None if the server has none.

        Raises:
            UsageError: invalid GUN or role name.
            NetworkError: transport failure, error status or oversized answer.
        """
        _check_role(role)
        limit = MAX_TIMESTAMP_SIZE if role == "timestamp" else MAX_METADATA_SIZE
        return self._get_metadata(gun, role, f"{role}.json", limit)

    def get_metadata_by_hash(self, gun: str, role: str, sha256_hex: str) -> bytes | None:
        """``<role>.<sha256>.json``: the version of ``role`` with that checksum, or None.

        Raises:
            UsageError: invalid GUN, role or checksum.
            HashMismatchError: the server sent bytes with another checksum.
            NetworkError: transport failure, error status or oversized answer.
        """
        _check_role(role)
        if not _SHA256_HEX.match(sha256_hex):
            raise UsageError(f"invalid sha256 checksum {sha256_hex!r}")
        limit = MAX_TIMESTAMP_SIZE if role == "timestamp" else MAX_METADATA_SIZE
        data = self._get_metadata(gun, role, f"{role}.{sha256_hex}.json", limit)
        if data is not None and hashlib.sha256(data).hexdigest() != sha256_hex:
            raise HashMismatchError(
                f"{self.server} sent {gun} {role} with sha256 "
                f"{hashlib.sha256(data).hexdigest()} for checksum {sha256_hex}"
            )
        return data

    def get_metadata_version(self, gun: str, role: str, version: int) -> bytes | None:
        """``<N>.<role>.json``: version ``N`` of ``role``, or None if the server has none.

        Raises:
            UsageError: invalid GUN, role or version.
            NetworkError: transport failure, error status or oversized answer.
        """
        _check_role(role)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise UsageError(f"invalid metadata version {version!r}")
        limit = MAX_TIMESTAMP_SIZE if role == "timestamp" else MAX_METADATA_SIZE
        return self._get_metadata(gun, role, f"{version}.{role}.json", limit)

    def get_server_key(self, gun: str, role: str) -> dict[str, Any]:
        """The public key the server holds for ``role`` (``timestamp`` or ``snapshot``).

        For a GUN without a root the server makes a new key on every call
        (formats doc 8.2).

        Returns:
            The key object ``{"keytype": T, "keyval": {"public": B64, "private": None}}``
            as the server sent it.

        Raises:
            UsageError: invalid GUN, or a role the server holds no key for.
            BadResponseError: the answer is not a public key object.
            NetworkError: transport failure or error status.
        """
        if role not in _SERVER_KEY_ROLES:
            raise UsageError(f"the server only holds timestamp and snapshot keys, not {role!r}")
        path = self._tuf_path(gun, f"{role}.key")
        what = f"the request for {gun} {role}.key"
        reply = self._request(
            "GET", path, scope=f"repository:{gun}:push,pull", limit=MAX_KEY_SIZE, what=what
        )
        if reply.status != 200:
            self._raise_for(reply, what)
        return self._parse_key(reply.body, gun, role)

    def publish(self, gun: str, files: Mapping[str, bytes]) -> None:
        """Send one atomic update of ``gun``: ``POST /v2/<gun>/_trust/tuf/``.

        Args:
            gun: the repository.
            files: role name (``root``, ``targets/releases``; no ``.json``) ->
                the exact bytes to store.

        Raises:
            UsageError: invalid GUN or role name, or nothing to send.
            ServerRejectedError: the server refused the update (``code`` and
                ``detail`` carry its reason).
            AuthError: the server refused the credentials.
            NetworkError: transport failure; the outcome may then be unknown.
        """
        if not files:
            raise UsageError(f"nothing to publish for {gun}")
        for role in files:
            _check_role(role)
        for role, data in files.items():
            if not isinstance(data, bytes | bytearray):
                raise TypeError(f"publish: the content of {role} must be bytes")
        body, content_type = encode_multipart(files)
        reply = self._request(
            "POST",
            self._tuf_path(gun, ""),
            body=body,
            headers={"Content-Type": content_type},
            scope=f"repository:{gun}:push,pull",
            limit=MAX_ERROR_BODY_SIZE,
            what=f"the update of {gun}",
        )
        if not 200 <= reply.status < 300:
            self._raise_for(reply, "the update", uncertain=True)

    # -- helpers ------------------------------------------------------------ #

    def _tuf_path(self, gun: str, name: str) -> str:
        return f"/v2/{quote(_check_gun(gun), safe='/:')}/_trust/tuf/{quote(name, safe='/')}"

    def _get_metadata(self, gun: str, role: str, name: str, limit: int) -> bytes | None:
        what = f"the request for {gun} {name}"
        reply = self._request(
            "GET", self._tuf_path(gun, name), scope=f"repository:{gun}:pull", limit=limit, what=what
        )
        if reply.status == 404:
            return None
        if reply.status != 200:
            self._raise_for(reply, what)
        return reply.body

    def _parse_key(self, body: bytes, gun: str, role: str) -> dict[str, Any]:
        where = f"{self.server} sent a malformed {role} key for {gun}"
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            raise BadResponseError(f"{where}: not JSON") from e
        if not isinstance(data, dict):
            raise BadResponseError(f"{where}: not a JSON object")
        try:
            key = PublicKey.from_dict(data)
            key.public_bytes  # noqa: B018 - decodes the base64, raising if broken
        except InvalidMetadataError as e:
            raise BadResponseError(f"{where}: {e.message}") from e
        if key.keytype not in KEY_TYPES:
            raise BadResponseError(f"{where}: unknown key type {key.keytype!r}")
        if not key.public or data["keyval"].get("private") is not None:
            raise BadResponseError(f"{where}: it must hold a public value and no private one")
        return data

    def _authorization(self, scope: str) -> str | None:
        """The ``Authorization`` value to send first, fetching a token if one is due."""
        if self._auth.token is not None:
            return f"Bearer {self._auth.token}"
        if self._bearer is not None:
            token = self._tokens.get(scope)
            if token is None:
                # The server told us its realm before: get a token for this
                # scope now instead of sending the request to be refused.
                token = self._fetch_token(self._bearer, scope)
            return f"Bearer {token}"
        if self._send_basic:
            return self._auth.basic_header()
        return None

    def _request(
        self,
        method: str,
        path: str,
        *,
        scope: str,
        limit: int,
        what: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> _Reply:
        """Send a request to the server, answering at most one auth challenge."""
        url = self.server + path
        answered = False
        while True:
            hdrs = {"User-Agent": self._user_agent, **(headers or {})}
            authorization = self._authorization(scope)
            if authorization is not None:
                hdrs["Authorization"] = authorization
            reply = self._http(
                method, url, headers=hdrs, body=body, limit=limit, what=what, origin=self.server
            )
            if reply.status != 401:
                return reply
            if self._auth.token is not None:
                raise AuthError(
                    f"{self.server} refused the bearer token for {what}",
                    hint="check OFFTRUST_TOKEN",
                )
            if answered:
                self._raise_unauthorized(reply, what)
            challenge = self._pick_challenge(reply)
            if challenge is None:
                raise AuthError(
                    f"{self.server} requires authentication for {what} "
                    "but offers no Bearer or Basic challenge"
                )
            if challenge.scheme == "bearer":
                self._bearer = challenge
                scope = challenge.params.get("scope") or scope
                self._tokens[scope] = self._fetch_token(challenge, scope)
            else:
                if not self._auth.has_credentials:
                    raise AuthError(f"{self.server} requires a user name and password for {what}")
                self._send_basic = True
            answered = True

    def _pick_challenge(self, reply: _Reply) -> Challenge | None:
        found: list[Challenge] = []
        for value in reply.headers.getlist("WWW-Authenticate"):
            found.extend(parse_challenges(value))
        for scheme in ("bearer", "basic"):
            for c in found:
                if c.scheme == scheme:
                    return c
        return None

    def _raise_unauthorized(self, reply: _Reply, what: str) -> NoReturn:
        challenge = self._pick_challenge(reply)
        who = f"user {self._auth.username!r}" if self._auth.has_credentials else "anonymous access"
        if challenge is not None and challenge.params.get("error") == "insufficient_scope":
            # Token services commonly give anonymous users a token without
            # access, so this is not only about credentials that were given.
            scope = challenge.params.get("scope", "")
            raise AuthError(
                f"{self.server} refused {what} for {who}: the token lacks scope {scope}"
            )
        raise AuthError(f"{self.server} refused {what} for {who} (HTTP 401)")

    def _fetch_token(self, challenge: Challenge, scope: str) -> str:
        """Docker's token flow: ``GET realm?service=..&scope=..`` -> ``token``."""
        realm = challenge.params.get("realm", "")
        try:
            url = parse_url(realm)
        except LocationParseError:
            url = None
        scheme = (url.scheme or "").lower() if url is not None else ""
        if url is None or scheme not in ("http", "https") or not url.host or url.auth:
            raise AuthError(f"{self.server} named an unusable token realm {_clip(realm, 100)!r}")
        origin = f"{scheme}://{url.host}" + (f":{url.port}" if url.port is not None else "")
        if scheme == "http":
            if not self.insecure:
                raise AuthError(
                    f"refusing the plain-http token realm {origin} named by {self.server}",
                    hint="use --insecure to allow plain http",
                )
            self._warn(f"plain http to the token realm {origin}: tokens travel unencrypted")
        params: list[tuple[str, str]] = []
        if challenge.params.get("service"):
            params.append(("service", challenge.params["service"]))
        params.extend(("scope", s) for s in scope.split())
        if self._auth.has_credentials:
            params.append(("account", str(self._auth.username)))
        query = "&".join(x for x in (url.query, urlencode(params)) if x)
        target = url._replace(scheme=scheme, query=query or None, fragment=None).url
        headers = {"User-Agent": self._user_agent}
        if self._auth.has_credentials:
            headers["Authorization"] = self._auth.basic_header()
        what = f"a token for {scope}"
        reply = self._http(
            "GET",
            target,
            headers=headers,
            body=None,
            limit=MAX_TOKEN_RESPONSE_SIZE,
            what=what,
            origin=origin,
        )
        if reply.status in (401, 403):
            who = (
                f"user {self._auth.username!r}"
                if self._auth.has_credentials
                else "anonymous access"
            )
            raise AuthError(f"the token service {origin} refused {who} for scope {scope}")
        if reply.status != 200:
            raise NetworkError(
                f"the token service {origin} answered HTTP {reply.status} {reply.reason}".strip()
            )
        try:
            data = json.loads(reply.body)
        except (ValueError, UnicodeDecodeError):
            data = None
        token = None
        if isinstance(data, dict):
            token = data.get("token") or data.get("access_token")
        if not isinstance(token, str) or not _HEADER_SAFE.match(token):
            raise BadResponseError(f"the token service {origin} sent no usable token")
        return token

    def _http(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        limit: int,
        what: str,
        origin: str,
    ) -> _Reply:
        """One request with urllib3's retries; the body read under a size cap."""
        is_get = method == "GET"
        attempts = 1 + self._retries if is_get else 1
        for attempt in range(attempts):
            try:
                resp = self._pool.request(
                    method,
                    url,
                    body=body,
                    headers=dict(headers),
                    retries=self._get_retry if is_get else self._post_retry,
                    redirect=False,
                    preload_content=False,
                    timeout=self._timeout,
                )
            except HTTPError as e:
                self._raise_transport(e, method, what, origin)
            try:
                ok = 200 <= resp.status < 300
                data = _read_capped(resp, limit if ok else MAX_ERROR_BODY_SIZE, truncate=not ok)
            except (ProtocolError, ReadTimeoutError) as e:
                resp.release_conn()
                if attempt + 1 < attempts:
                    time.sleep(self._backoff * (2**attempt))
                    continue
                self._raise_transport(e, method, what, origin)
            except _TooLarge:
                raise BadResponseError(
                    f"{origin} sent more than {limit} bytes for {what}; refusing it"
                ) from None
            return _Reply(resp.status, resp.reason or "", resp.headers, data)
        raise AssertionError("unreachable")  # pragma: no cover

    def _raise_transport(self, exc: HTTPError, method: str, what: str, origin: str) -> NoReturn:
        reason, hint = _describe_failure(exc, self._timeout_s)
        underlying = exc.reason if isinstance(exc, MaxRetryError) else exc
        connected = not isinstance(underlying, ConnectTimeoutError)  # NewConnectionError too
        if method != "GET" and connected and hint is None:
            raise NetworkError(
                f"lost the connection to {origin} during {what} ({reason}); "
                "the server may or may not have applied it",
                hint="run `offtrust fetch` to see what the server holds now",
            ) from exc
        raise NetworkError(f"cannot reach {origin}: {reason}", hint=hint) from exc

    def _raise_for(self, reply: _Reply, what: str, *, uncertain: bool = False) -> NoReturn:
        """Turn a non-success answer into the matching NetworkError subclass."""
        status = reply.status
        if 300 <= status < 400:
            location = reply.headers.get("Location", "")
            raise BadResponseError(
                f"{self.server} redirected {what} to {_clip(location, 120) or '(nowhere)'}; "
                "offtrust does not follow redirects",
                hint="pass the final server URL as --server",
            )
        if status == 401:
            self._raise_unauthorized(reply, what)
        if status == 403:
            raise AuthError(f"{self.server} denied {what} (HTTP 403)")
        errors = _server_errors(reply.body)
        if errors:
            first = errors[0]
            code = first.get("code") if isinstance(first.get("code"), str) else None
            summary = "; ".join(_describe_server_error(e) for e in errors)
            raise ServerRejectedError(
                f"server rejected {what}: {summary}",
                status=status,
                code=code,
                detail=first.get("detail"),
                errors=errors,
            )
        plain = f"HTTP {status} {reply.reason}".strip()
        if self.server.startswith("http://") and b"HTTPS server" in reply.body:
            # Go's net/http answers plain http on a TLS port with this 400.
            raise NetworkError(
                f"{self.server} answered {plain} to {what}: it expects TLS",
                hint="use https:// in --server",
            )
        if status >= 500:
            hint = "run `offtrust fetch` to see what the server holds now" if uncertain else None
            raise NetworkError(f"{self.server} failed {what}: {plain}", hint=hint)
        raise ServerRejectedError(f"server rejected {what}: {plain}", status=status)


class _TooLarge(Exception):
    pass


def _read_capped(resp: urllib3.BaseHTTPResponse, limit: int, *, truncate: bool) -> bytes:
    """Read the whole body, or raise _TooLarge past ``limit`` (or cut it, if ``truncate``)."""
    length = resp.headers.get("Content-Length", "")
    if not truncate and length.isdigit() and int(length) > limit:
        resp.close()
        raise _TooLarge
    chunks: list[bytes] = []
    total = 0
    complete = True
    for chunk in resp.stream(64 * KiB, decode_content=True):
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            complete = False
            break
    if complete:
        resp.release_conn()
    else:
        # The rest stays unread, so this connection cannot be reused.
        resp.close()
        resp.release_conn()
        if not truncate:
            raise _TooLarge
    return b"".join(chunks)[:limit]


@functools.cache
def _system_ssl_context() -> ssl.SSLContext:
    # Loading the system CA store takes a noticeable fraction of a second, and
    # the context is never changed after creation, so clients share one.
    return ssl.create_default_context()


def _ssl_context(ca_file: Path | None) -> ssl.SSLContext:
    try:
        if ca_file is None:
            return _system_ssl_context()
        return ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError, ValueError) as e:
        reason = getattr(e, "strerror", None) or getattr(e, "reason", None) or str(e)
        raise UsageError(f"cannot use --tls-ca {ca_file}: {reason}") from e
