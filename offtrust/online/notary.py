"""The notary-server endpoints (formats doc, section 8): :class:`NotaryClient`.

The client downloads metadata and server-held keys and sends the atomic
multipart update, byte for byte as notary's own client does. It does not
interpret TUF documents: callers verify what it returns. Transport rules are
those of :mod:`offtrust.online.transport`, authentication that of
:mod:`offtrust.online.auth`; ``insecure`` only allows a plain ``http://``
server (and token realm), it never turns certificate checks off.

It implements :class:`offtrust.online.api.NotaryAPI`, the interface ``ops``
works with.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

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
from offtrust.model.names import check_gun, is_valid_role
from offtrust.online.auth import Auth, AuthSession, check_auth
from offtrust.online.transport import (
    DEFAULT_DEADLINE,
    MAX_ERROR_BODY_SIZE,
    KiB,
    MiB,
    Reply,
    Transport,
    clip,
    is_header_safe,
    parse_server,
)

__all__ = [
    "DEFAULT_USER_AGENT",
    "MAX_KEY_SIZE",
    "MAX_METADATA_SIZE",
    "MAX_TIMESTAMP_SIZE",
    "NotaryClient",
    "encode_multipart",
]

DEFAULT_USER_AGENT = f"offtrust/{__version__}"

#: Size caps for response bodies. The timestamp is fetched first and without a
#: known length, so it gets a small cap; other roles may be large (many targets).
MAX_TIMESTAMP_SIZE = 1 * MiB
MAX_METADATA_SIZE = 100 * MiB
MAX_KEY_SIZE = 64 * KiB
MAX_PING_SIZE = 64 * KiB

_SERVER_KEY_ROLES = ("timestamp", "snapshot")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


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
    except (ValueError, UnicodeDecodeError, RecursionError):
        # Not JSON, a number of too many digits, or nested too deeply.
        return []
    if not isinstance(data, dict) or not isinstance(data.get("errors"), list):
        return []
    return [e for e in data["errors"] if isinstance(e, dict)]


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
    return f"{clip(code, 60)}: {clip(text)}" if isinstance(code, str) and code else clip(text)


# --------------------------------------------------------------------------- #
# Names (the rules live in offtrust.model.names)
# --------------------------------------------------------------------------- #


def _check_role(role: str) -> str:
    if not is_valid_role(role):
        raise UsageError(f"invalid role name {role!r}")
    return role


# --------------------------------------------------------------------------- #
# The client
# --------------------------------------------------------------------------- #


class NotaryClient:
    """A client for one notary-server.

    Args:
        server: ``https://HOST[:PORT]`` (``http://`` only with ``insecure``).
        ca_file: PEM file of the CA(s) to trust instead of the system CAs.
        insecure: allow a plain-http server or token realm (with a warning).
            TLS certificates are verified regardless.
        auth: credentials; see :class:`~offtrust.online.auth.Auth`.
        timeout: seconds for connecting and for each read.
        user_agent: the ``User-Agent`` header.
        on_warning: called with each warning; warnings are also kept in
            :attr:`warnings`.
        retries: how many times a GET is tried again after a transient failure.
        backoff: base of the exponential backoff between those tries, seconds.
        deadline: seconds one request may take in all (retries, connecting,
            reading the whole answer); see :mod:`offtrust.online.transport`.

    Raises:
        UsageError: bad server URL, plain http without ``insecure``, an
            unreadable ``ca_file`` or inconsistent credentials.
    """

    def __init__(
        self,
        server: str,
        *,
        ca_file: Path | None = None,
        client_cert: Path | None = None,
        client_key: Path | None = None,
        proxy: str | None = None,
        insecure: bool = False,
        auth: Auth | None = None,
        timeout: float = 30.0,
        user_agent: str = DEFAULT_USER_AGENT,
        on_warning: Callable[[str], None] | None = None,
        retries: int = 3,
        backoff: float = 0.5,
        deadline: float = DEFAULT_DEADLINE,
    ) -> None:
        self.server = parse_server(server, insecure)
        self.insecure = insecure
        self.warnings: list[str] = []
        self._on_warning = on_warning
        self._auth = auth if auth is not None else Auth()
        check_auth(self._auth)
        if not is_header_safe(user_agent.replace(" ", "!")):
            raise UsageError(f"invalid user agent {user_agent!r}")
        self._transport = Transport(
            ca_file=ca_file,
            client_cert=client_cert,
            client_key=client_key,
            proxy=proxy,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            deadline=deadline,
        )
        self._session = AuthSession(
            self.server,
            self._transport,
            self._auth,
            insecure=insecure,
            user_agent=user_agent,
            warn=self._warn,
        )
        if self.server.startswith("http://"):
            sent = "metadata travels"
            if self._auth.has_credentials or self._auth.token is not None:
                sent = "metadata and credentials travel"
            self._warn(f"plain http to {self.server} (--insecure): {sent} unencrypted")

    # -- life cycle --------------------------------------------------------- #

    def close(self) -> None:
        """Close pooled connections."""
        self._transport.close()

    def __enter__(self) -> NotaryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"NotaryClient({self.server!r})"

    def deadline(self, seconds: float) -> contextlib.AbstractContextManager[None]:
        """Every request made in the block ends within *seconds* of its start, in all."""
        return self._transport.overall(seconds)

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
        reply = self._session.request(
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
            The key object ``{"keytype": T, "keyval": {"private": None, "public": B64}}``
            the server sent (any other field it added is dropped).

        Raises:
            UsageError: invalid GUN, or a role the server holds no key for.
            BadResponseError: the answer is not a public key object.
            NetworkError: transport failure or error status.
        """
        if role not in _SERVER_KEY_ROLES:
            raise UsageError(f"the server only holds timestamp and snapshot keys, not {role!r}")
        path = self._tuf_path(gun, f"{role}.key")
        what = f"the request for {gun} {role}.key"
        reply = self._session.request(
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
        reply = self._session.request(
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

    def delete_trust_data(self, gun: str) -> None:
        """Delete every metadata file of ``gun``: ``DELETE /v2/<gun>/_trust/tuf/``.

        What ``notary delete GUN --remote`` sends (``client/delete.go``
        ``DeleteTrustData``, ``storage/httpstore.go`` ``RemoveAll``): no body,
        scope ``repository:<gun>:*``. notary-server answers 200, also for a GUN
        it does not hold.

        Raises:
            UsageError: invalid GUN.
            ServerRejectedError: the server refused.
            AuthError: the server refused the credentials.
            NetworkError: transport failure; the outcome may then be unknown.
        """
        reply = self._session.request(
            "DELETE",
            self._tuf_path(gun, ""),
            scope=f"repository:{gun}:*",
            limit=MAX_ERROR_BODY_SIZE,
            what=f"the deletion of {gun}",
        )
        if not 200 <= reply.status < 300:
            self._raise_for(reply, "the deletion", uncertain=True)

    # -- helpers ------------------------------------------------------------ #

    def _tuf_path(self, gun: str, name: str) -> str:
        return f"/v2/{quote(check_gun(gun), safe='/:')}/_trust/tuf/{quote(name, safe='/')}"

    def _get_metadata(self, gun: str, role: str, name: str, limit: int) -> bytes | None:
        what = f"the request for {gun} {name}"
        reply = self._session.request(
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
        except (ValueError, UnicodeDecodeError, RecursionError) as e:
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
        # Only what notary-server sends and the key ID covers is kept.
        return {"keytype": key.keytype, "keyval": {"private": None, "public": key.public}}

    def _raise_for(self, reply: Reply, what: str, *, uncertain: bool = False) -> NoReturn:
        """Turn a non-success answer into the matching NetworkError subclass."""
        status = reply.status
        if 300 <= status < 400:
            location = reply.headers.get("Location", "")
            raise BadResponseError(
                f"{self.server} redirected {what} to {clip(location, 120) or '(nowhere)'}; "
                "offtrust does not follow redirects",
                hint="pass the final server URL as --server",
            )
        if status == 401:
            self._session.raise_unauthorized(reply, what)
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
        plain = clip(f"HTTP {status} {reply.reason}", 200)
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
