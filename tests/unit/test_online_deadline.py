"""Every request to a server has an overall deadline (issue 7 finding 10).

The per-read timeout alone let a server sending one byte every few seconds
keep ``fetch`` running for hours. These servers listen on 127.0.0.1 only and
trickle their answer: the status line and headers, or the body, or a body
that ends with the connection (no length), which must not pass as complete.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from offtrust.errors import NetworkError
from offtrust.online.client import NotaryClient
from offtrust.online.transport import DEFAULT_DEADLINE

GUN = "example.com/app"
HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"


class TrickleServer:
    """Answers every connection with *head* at once, then *trickle* one byte at a time."""

    def __init__(self, head: bytes, trickle: bytes, interval: float) -> None:
        self.head, self.trickle, self.interval = head, trickle, interval
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.stop = threading.Event()
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(self.head)
                for byte in self.trickle:
                    if self.stop.wait(self.interval):
                        return
                    conn.sendall(bytes([byte]))
            except OSError:
                return

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
        self.thread.join(5)


@pytest.fixture
def trickle() -> Iterator[list[TrickleServer]]:
    servers: list[TrickleServer] = []
    yield servers
    for server in servers:
        server.close()


def client(url: str, deadline: float) -> NotaryClient:
    # The per-read timeout (2 s) is longer than the gap between bytes (0.05 s):
    # only the overall deadline can stop these requests.
    return NotaryClient(url, insecure=True, timeout=2.0, deadline=deadline, retries=3, backoff=0)


def timed_fetch(url: str, deadline: float) -> tuple[NetworkError, float]:
    start = time.monotonic()
    with pytest.raises(NetworkError) as caught, client(url, deadline) as c:
        c.get_metadata(GUN, "root")
    return caught.value, time.monotonic() - start


@pytest.mark.parametrize(
    ("head", "body"),
    [
        # The headers never end.
        (b"HTTP/1.1 200 OK\r\n", b"X-Slow: " + b"a" * 10_000),
        # A declared body that arrives a byte at a time.
        (HEADERS + b"Content-Length: 10000\r\n\r\n", b"{" + b" " * 9_999),
        # No length: the body ends with the connection, which the deadline
        # closes. What arrived by then must not pass for the whole answer.
        (
            HEADERS + b"Connection: close\r\n\r\n",
            b'{"signed": {}, "signatures": []}' + b" " * 9_000,
        ),
    ],
    ids=["headers", "body", "close-delimited-body"],
)
def test_a_trickling_server_is_cut_off_at_the_deadline(
    trickle: list[TrickleServer], head: bytes, body: bytes
) -> None:
    server = TrickleServer(head, body, interval=0.05)
    trickle.append(server)
    error, elapsed = timed_fetch(server.url, deadline=1.0)
    assert "did not complete the request for example.com/app root.json within 1s" in str(error)
    assert elapsed < 4, elapsed
    # The retries share the one deadline.
    assert server.connections <= 2


def test_the_deadline_covers_the_retries(trickle: list[TrickleServer]) -> None:
    """Each attempt ends at the read timeout; together they stop at the deadline."""
    server = TrickleServer(b"", b"", interval=0)  # accepts, reads, never answers
    trickle.append(server)
    start = time.monotonic()
    with (
        pytest.raises(NetworkError),
        NotaryClient(
            server.url, insecure=True, timeout=0.4, deadline=1.0, retries=10, backoff=0
        ) as c,
    ):
        c.get_metadata(GUN, "root")
    assert time.monotonic() - start < 3


def test_a_prompt_answer_is_unaffected(trickle: list[TrickleServer]) -> None:
    body = b'{"signed": {}, "signatures": []}'
    server = TrickleServer(
        HEADERS + b"Content-Length: %d\r\n\r\n" % len(body) + body, b"", interval=0
    )
    trickle.append(server)
    with client(server.url, deadline=5.0) as c:
        assert c.get_metadata(GUN, "root") == body


def test_the_default_deadline_is_documented() -> None:
    assert DEFAULT_DEADLINE == 60.0
    from offtrust.online import transport

    assert "60 s" in (transport.__doc__ or "")


def test_a_server_answering_each_request_just_in_time_is_stopped_by_the_overall_deadline(
    trickle: list[TrickleServer],
) -> None:
    """Each answer completes well within its own deadline (5 s), taking 0.25 s;
    one GUN's work is stopped once its overall time is spent, not after
    (requests x per-request deadline)."""
    body = b'{"signed": {}, "signatures": []}'
    head = HEADERS + b"Content-Length: %d\r\n\r\n" % len(body)
    server = TrickleServer(head + body[:-5], body[-5:], interval=0.05)
    trickle.append(server)
    answered: list[bytes | None] = []

    def many(c: NotaryClient) -> None:
        with c.deadline(1.0):
            for _ in range(40):
                answered.append(c.get_metadata(GUN, "root"))

    start = time.monotonic()
    with client(server.url, deadline=5.0) as c:
        assert c.get_metadata(GUN, "root") == body  # each request alone is fine
        with pytest.raises(NetworkError) as caught:
            many(c)
        # After the block, requests have their own deadline only again.
        assert c.get_metadata(GUN, "root") == body
    assert "the 1s allowed for this repository ran out" in str(caught.value)
    assert 2 <= len(answered) <= 5, answered
    assert time.monotonic() - start < 4


def test_an_inner_deadline_cannot_extend_an_outer_one(trickle: list[TrickleServer]) -> None:
    server = TrickleServer(b"HTTP/1.1 200 OK\r\n", b"X-Slow: " + b"a" * 10_000, interval=0.05)
    trickle.append(server)
    start = time.monotonic()
    with (
        client(server.url, deadline=30.0) as c,
        pytest.raises(NetworkError, match="allowed for this repository ran out"),
        c.deadline(0.5),
        c.deadline(20.0),
    ):
        c.get_metadata(GUN, "root")
    assert time.monotonic() - start < 3

