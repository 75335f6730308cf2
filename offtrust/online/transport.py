"""HTTP transport for the Notary client: one urllib3 pool, verified TLS, capped reads.

:class:`Transport` sends one request and reads its body under a size cap. It
knows nothing about Notary or authentication; it only turns urllib3 and ssl
failures into :class:`offtrust.errors.NetworkError` with a one-line reason.

- TLS is always verified, against the system CAs or only the ``ca_file`` given.
- GET requests are retried a few times, with exponential backoff, on
  connection and read failures and on 502/503/504. Other methods are only
  tried again when the connection could not be opened at all.
- Redirects are not followed; proxies from the environment are not used.
- Every request has an overall deadline (:data:`DEFAULT_DEADLINE`, 60 s), its
  retries, connecting, sending and reading the whole answer included. The
  per-read timeout alone would let a server that sends one byte every few
  seconds keep a command running for hours: when the deadline passes, a
  watchdog shuts the connection's socket down, which ends any read at once,
  and whatever was read is discarded.
- A whole unit of work (fetching or publishing one GUN) can also be given an
  overall deadline (:meth:`Transport.overall`, :data:`offtrust.online.api.GUN_DEADLINE`): a
  server answering each request just within its own deadline cannot keep a
  command going for (requests x 60 s) either.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, cast

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
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

from offtrust.errors import BadResponseError, NetworkError, UsageError

__all__ = [
    "DEFAULT_DEADLINE",
    "KiB",
    "MAX_ERROR_BODY_SIZE",
    "MiB",
    "RETRY_STATUSES",
    "Reply",
    "Transport",
    "clip",
    "describe_failure",
    "is_header_safe",
    "parse_server",
    "ssl_context",
]

KiB = 1024
MiB = 1024 * KiB

#: Cap for the body of an error answer (it is only used in messages).
MAX_ERROR_BODY_SIZE = 64 * KiB

#: Seconds one request may take in all: retries, connecting, sending, reading.
DEFAULT_DEADLINE = 60.0

#: Statuses after which an idempotent GET is tried again.
RETRY_STATUSES = frozenset({502, 503, 504})

# A header value we build (bearer token, user agent): visible ASCII only, so a
# hostile token service cannot inject header lines.
_HEADER_SAFE = re.compile(r"^[\x21-\x7e]+$")


def is_header_safe(value: str) -> bool:
    """True when *value* is non-empty visible ASCII (safe as a header value)."""
    return bool(_HEADER_SAFE.match(value))


def clip(text: str, limit: int = 300) -> str:
    """*text* on one line, cut to *limit* characters, safe to print.

    Servers choose this text: control characters (a terminal escape) and lone
    surrogates (which no output encoding accepts) are shown escaped.
    """
    text = " ".join(text[: 4 * limit].split())
    if not text.isprintable():
        text = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- #
# Server URL and TLS
# --------------------------------------------------------------------------- #


def parse_server(server: str, insecure: bool) -> str:
    """``scheme://HOST[:PORT]`` of a ``--server`` value.

    Raises:
        UsageError: not such a URL, credentials in it, or plain http without *insecure*.
    """
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


@functools.cache
def _system_ssl_context() -> ssl.SSLContext:
    # Loading the system CA store takes a noticeable fraction of a second, and
    # the context is never changed after creation, so clients share one.
    return ssl.create_default_context()


def ssl_context(
    ca_file: Path | None,
    client_cert: Path | None = None,
    client_key: Path | None = None,
) -> ssl.SSLContext:
    """A verifying TLS context: the system CAs, or only those in *ca_file*.

    With *client_cert* and *client_key*, the client presents that certificate
    (mutual TLS, as docker and notary do with ``client.cert``/``client.key``).

    Raises:
        UsageError: *ca_file* cannot be read or holds no usable certificate,
            or the client certificate and key cannot be used.
    """
    try:
        context = (
            _system_ssl_context()
            if ca_file is None
            else ssl.create_default_context(cafile=str(ca_file))
        )
    except (OSError, ssl.SSLError, ValueError) as e:
        reason = getattr(e, "strerror", None) or getattr(e, "reason", None) or str(e)
        raise UsageError(f"cannot use --tls-ca {ca_file}: {reason}") from e
    if client_cert is not None:
        try:
            context.load_cert_chain(str(client_cert), str(client_key) if client_key else None)
        except (OSError, ssl.SSLError, ValueError) as e:
            reason = getattr(e, "strerror", None) or getattr(e, "reason", None) or str(e)
            raise UsageError(f"cannot use the client certificate {client_cert}: {reason}") from e
    return context


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


def describe_failure(exc: BaseException, timeout: float) -> tuple[str, str | None]:
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
            return f"TLS handshake failed: {clip(str(reason), 200)}", hint
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
    return clip(str(last) or type(last).__name__, 200), None


# --------------------------------------------------------------------------- #
# Capped reads
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Reply:
    """A whole HTTP answer: status, reason, headers and the (capped) body."""

    status: int
    reason: str
    headers: urllib3.HTTPHeaderDict
    body: bytes


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


# --------------------------------------------------------------------------- #
# The overall deadline of a request
# --------------------------------------------------------------------------- #


class _Watchdog:
    """Shuts down the sockets of one request's connections when its deadline passes.

    A blocked read (of the status line, a header or the body) returns at once
    when its socket is shut down from another thread; the request then fails,
    and :attr:`fired` tells the transport why. The sockets themselves are
    kept, not the connections: http.client drops a connection's socket as
    soon as the answer says ``Connection: close``, while the body is still
    being read from it. A connection opened after the deadline (a retry) is
    shut down as soon as it is seen.
    """

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.fired = False
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        _active.watchdog = self
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        _active.watchdog = None

    def watch(self, connection: HTTPConnection) -> None:
        sock = getattr(connection, "sock", None)
        if sock is None:
            return
        with self._lock:
            if all(s is not sock for s in self._sockets):
                self._sockets.append(sock)
            fired = self.fired
        if fired:
            _shutdown(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError, ValueError, AttributeError):
        sock.shutdown(socket.SHUT_RDWR)


# The watchdog of the request the current thread is making, if any.
_active = threading.local()


def _watch(connection: HTTPConnection) -> None:
    watchdog = getattr(_active, "watchdog", None)
    if watchdog is not None:
        watchdog.watch(connection)


class _Watched:
    """Mixed into a urllib3 connection: the current request's watchdog can shut it down."""

    def connect(self) -> None:
        _watch(cast(HTTPConnection, self))
        super().connect()  # type: ignore[misc]
        _watch(cast(HTTPConnection, self))

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(cast(HTTPConnection, self))
        super().request(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    """An HTTP connection the current request's watchdog can shut down."""


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    """An HTTPS connection the current request's watchdog can shut down."""


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


# --------------------------------------------------------------------------- #
# The transport
# --------------------------------------------------------------------------- #


class Transport:
    """One connection pool with verified TLS, timeouts and GET retries.

    Args:
        ca_file: PEM file of the CA(s) to trust instead of the system CAs.
        timeout: seconds for connecting and for each read.
        retries: how many times a GET is tried again after a transient failure.
        backoff: base of the exponential backoff between those tries, seconds.
        deadline: seconds one request may take in all, its retries included.
        client_cert, client_key: a TLS client certificate to present.
        proxy: an HTTP(S) proxy URL to tunnel through.

    Raises:
        UsageError: an unreadable ``ca_file`` or client certificate.
    """

    def __init__(
        self,
        *,
        ca_file: Path | None = None,
        client_cert: Path | None = None,
        client_key: Path | None = None,
        proxy: str | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        deadline: float = DEFAULT_DEADLINE,
    ) -> None:
        self.timeout_s = timeout
        self.deadline_s = deadline
        #: The end (``time.monotonic()``) of the current :meth:`overall` block, and its length.
        self._until: float | None = None
        self._overall_s = 0.0
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
        context = ssl_context(ca_file, client_cert, client_key)
        if proxy:
            self._pool: urllib3.PoolManager = urllib3.ProxyManager(
                proxy, num_pools=4, ssl_context=context, cert_reqs="CERT_REQUIRED"
            )
        else:
            self._pool = urllib3.PoolManager(
                num_pools=4, ssl_context=context, cert_reqs="CERT_REQUIRED"
            )
        # Connections the deadline watchdog of each request can shut down.
        self._pool.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}

    def close(self) -> None:
        """Close pooled connections."""
        self._pool.clear()

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        limit: int,
        what: str,
        origin: str,
    ) -> Reply:
        """One request with urllib3's retries; the body read under a size cap.

        A success body over *limit* is refused; an error body is cut to
        :data:`MAX_ERROR_BODY_SIZE`.

        Raises:
            NetworkError: the request failed in transport (naming *origin* and *what*).
            BadResponseError: the success body is over *limit*.
        """
        is_get = method == "GET"
        attempts = 1 + self._retries if is_get else 1
        deadline = time.monotonic() + self.deadline_s
        if self._until is not None and self._until < deadline:
            deadline = self._until
        for attempt in range(attempts):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._raise_deadline(method, what, origin)
            per_step = min(self.timeout_s, remaining)
            with _Watchdog(remaining) as watchdog:
                try:
                    resp = self._pool.request(
                        method,
                        url,
                        body=body,
                        headers=dict(headers),
                        retries=self._get_retry if is_get else self._post_retry,
                        redirect=False,
                        preload_content=False,
                        timeout=Timeout(connect=per_step, read=per_step),
                    )
                except Exception as e:
                    # A socket shut down by the watchdog can fail in other ways
                    # than urllib3's own errors.
                    if watchdog.fired:
                        self._raise_deadline(method, what, origin, e)
                    if not isinstance(e, HTTPError):
                        raise
                    self._raise_transport(e, method, what, origin)
                try:
                    ok = 200 <= resp.status < 300
                    data = _read_capped(resp, limit if ok else MAX_ERROR_BODY_SIZE, truncate=not ok)
                except _TooLarge:
                    raise BadResponseError(
                        f"{origin} sent more than {limit} bytes for {what}; refusing it"
                    ) from None
                except Exception as e:
                    resp.close()
                    resp.release_conn()
                    if watchdog.fired:
                        self._raise_deadline(method, what, origin, e)
                    if not isinstance(e, (HTTPError, OSError)):
                        raise
                    if attempt + 1 < attempts and time.monotonic() < deadline:
                        pause = min(self._backoff * (2**attempt), deadline - time.monotonic())
                        time.sleep(max(pause, 0.0))
                        continue
                    if not isinstance(e, HTTPError):
                        e = ProtocolError(str(e), e)
                    self._raise_transport(e, method, what, origin)
                if watchdog.fired:
                    # The body may have been cut short by the shutdown.
                    resp.close()
                    self._raise_deadline(method, what, origin)
            return Reply(resp.status, resp.reason or "", resp.headers, data)
        raise AssertionError("unreachable")  # pragma: no cover

    @contextlib.contextmanager
    def overall(self, seconds: float) -> Iterator[None]:
        """Every request of the block must end within *seconds* of its start, in all.

        Blocks do not nest: an inner one cannot extend an outer one's end.
        """
        outer = self._until, self._overall_s
        until = time.monotonic() + seconds
        if self._until is None or until < self._until:
            self._until, self._overall_s = until, seconds
        try:
            yield
        finally:
            self._until, self._overall_s = outer

    def _raise_deadline(
        self, method: str, what: str, origin: str, exc: BaseException | None = None
    ) -> NoReturn:
        self._pool.clear()
        text = f"{origin} did not complete {what} within {self.deadline_s:g}s"
        if self._until is not None and time.monotonic() >= self._until - 0.001:
            text = (
                f"{origin} did not complete {what} in time: the {self._overall_s:g}s "
                "allowed for this repository ran out"
            )
        if method != "GET":
            raise NetworkError(
                f"{text}; the server may or may not have applied it",
                hint="run `offtrust fetch` to see what the server holds now",
            ) from exc
        raise NetworkError(
            f"{text} (it answers too slowly or stalls)", hint="try again later"
        ) from exc

    def _raise_transport(self, exc: HTTPError, method: str, what: str, origin: str) -> NoReturn:
        reason, hint = describe_failure(exc, self.timeout_s)
        underlying = exc.reason if isinstance(exc, MaxRetryError) else exc
        connected = not isinstance(underlying, ConnectTimeoutError)  # NewConnectionError too
        if method != "GET" and connected and hint is None:
            raise NetworkError(
                f"lost the connection to {origin} during {what} ({reason}); "
                "the server may or may not have applied it",
                hint="run `offtrust fetch` to see what the server holds now",
            ) from exc
        raise NetworkError(f"cannot reach {origin}: {reason}", hint=hint) from exc
