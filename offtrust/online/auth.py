"""Authentication to a Notary server, as Docker does it (formats doc 8.4).

A preset bearer token is sent as is; otherwise a ``401`` with
``WWW-Authenticate: Bearer realm=...`` makes :class:`AuthSession` fetch a token
from the realm (with HTTP basic credentials if given), cache it per scope and
repeat the request; a ``Basic`` challenge makes it send the credentials
directly. Credentials only go to the server named by the user and to the token
realm that server names. The password never appears in a message or repr.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NoReturn
from urllib.parse import urlencode

from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from offtrust.errors import AuthError, BadResponseError, NetworkError, UsageError
from offtrust.online.transport import MiB, Reply, Transport, clip, is_header_safe

__all__ = [
    "MAX_TOKEN_RESPONSE_SIZE",
    "Auth",
    "AuthSession",
    "Challenge",
    "check_auth",
    "parse_challenges",
]

MAX_TOKEN_RESPONSE_SIZE = 1 * MiB

_TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


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


def check_auth(auth: Auth) -> None:
    """Refuse inconsistent or unsendable credentials.

    Raises:
        UsageError: naming the option to fix.
    """
    if auth.token is not None:
        if auth.username is not None or auth.password is not None:
            raise UsageError("give either --username with a password or OFFTRUST_TOKEN, not both")
        if not is_header_safe(auth.token):
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
            raise UsageError("the password contains control characters or bytes that are not UTF-8")


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
# The token flow
# --------------------------------------------------------------------------- #


class AuthSession:
    """Requests to one server, answering its authentication challenges.

    Args:
        server: ``scheme://HOST[:PORT]`` of the server (already checked).
        transport: sends the requests.
        auth: the credentials (already checked with :func:`check_auth`).
        insecure: allow a plain-http token realm (with a warning).
        user_agent: the ``User-Agent`` header.
        warn: called with each warning.
    """

    def __init__(
        self,
        server: str,
        transport: Transport,
        auth: Auth,
        *,
        insecure: bool,
        user_agent: str,
        warn: Callable[[str], None],
    ) -> None:
        self.server = server
        self._transport = transport
        self._auth = auth
        self._insecure = insecure
        self._user_agent = user_agent
        self._warn = warn
        self._bearer: Challenge | None = None  # the last Bearer challenge (realm, service)
        self._tokens: dict[str, str] = {}  # scope -> bearer token
        self._send_basic = False

    def request(
        self,
        method: str,
        path: str,
        *,
        scope: str,
        limit: int,
        what: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """Send a request to the server, answering at most one auth challenge.

        Returns:
            The answer; any status but 401 is the caller's to judge.

        Raises:
            AuthError: the server or its token service refused the credentials.
            NetworkError: transport failure.
        """
        url = self.server + path
        answered = False
        while True:
            hdrs = {"User-Agent": self._user_agent, **(headers or {})}
            authorization = self._authorization(scope)
            if authorization is not None:
                hdrs["Authorization"] = authorization
            reply = self._transport.request(
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
                self.raise_unauthorized(reply, what)
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

    def raise_unauthorized(self, reply: Reply, what: str) -> NoReturn:
        """Raise the AuthError for a final ``401`` to *what*."""
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

    # -- helpers ------------------------------------------------------------ #

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

    @staticmethod
    def _pick_challenge(reply: Reply) -> Challenge | None:
        found: list[Challenge] = []
        for value in reply.headers.getlist("WWW-Authenticate"):
            found.extend(parse_challenges(value))
        for scheme in ("bearer", "basic"):
            for c in found:
                if c.scheme == scheme:
                    return c
        return None

    def _fetch_token(self, challenge: Challenge, scope: str) -> str:
        """Docker's token flow: ``GET realm?service=..&scope=..`` -> ``token``."""
        realm = challenge.params.get("realm", "")
        try:
            url = parse_url(realm)
        except LocationParseError:
            url = None
        scheme = (url.scheme or "").lower() if url is not None else ""
        if url is None or scheme not in ("http", "https") or not url.host or url.auth:
            raise AuthError(f"{self.server} named an unusable token realm {clip(realm, 100)!r}")
        origin = f"{scheme}://{url.host}" + (f":{url.port}" if url.port is not None else "")
        if scheme == "http":
            if not self._insecure:
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
        reply = self._transport.request(
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
                f"the token service {origin} answered "
                + clip(f"HTTP {reply.status} {reply.reason}", 200)
            )
        try:
            data = json.loads(reply.body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            data = None
        token = None
        if isinstance(data, dict):
            token = data.get("token") or data.get("access_token")
        if not isinstance(token, str) or not is_header_safe(token):
            raise BadResponseError(f"the token service {origin} sent no usable token")
        return token
