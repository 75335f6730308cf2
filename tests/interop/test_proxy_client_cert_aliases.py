"""Reaching notary-server as docker and notary do, beyond test_server_discovery.py:
proxies, client certificates, NOTARY_AUTH and the aliases users type.

- ``HTTPS_PROXY`` is honoured (a CONNECT proxy on 127.0.0.1 sees the tunnel to
  the server) and ``NO_PROXY`` bypasses it;
- client certificates: the server is put behind a TLS front on 127.0.0.1 that
  demands a client certificate (notary-server itself cannot); ``--tls-cert``/
  ``--tls-key`` and docker's ``client.cert``/``client.key`` in
  ``$DOCKER_CONFIG/tls/<host:port>/`` get through it, nothing else does;
- ``NOTARY_AUTH`` (base64 user:pass) is used by offtrust itself against a
  server with token auth (test_token_auth.py only gives it to notary);
- the aliases users type: ``-s``, ``--tlscacert``, ``--force``, ``--paths``.

Every credential here is a TEST-ONLY value.
"""

from __future__ import annotations

import base64
import http.client
import http.server
import select
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from offtrust_helpers import SMALL_REPO, notary_delegations, run_offtrust, stage_and_publish
from realtools import (
    NotaryServer,
    TrustRepo,
    copy_trust_dir,
    free_port,
    make_ca,
    make_tls_material,
    unique_gun,
    write_certificate,
)
from test_token_auth import PASSWORD, USERNAME, TokenAuthSetup, auth, token_auth  # noqa: F401

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def repo(make_docker_repo: Callable[..., TrustRepo]) -> TrustRepo:
    return make_docker_repo("disc-disc", **SMALL_REPO)


def describe(proc: Any) -> str:
    return f"{proc.args!r} -> {proc.returncode}\n--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}"


# --------------------------------------------------------------------------- #
# A CONNECT proxy on 127.0.0.1
# --------------------------------------------------------------------------- #


@dataclass
class ConnectProxy:
    """A small HTTP CONNECT proxy that tunnels to 127.0.0.1 only and records each CONNECT."""

    port: int = 0
    connects: list[str] = field(default_factory=list)
    _sock: socket.socket | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ConnectProxy:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        s.settimeout(0.2)
        self._sock, self.port = s, s.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._sock is not None:
            self._sock.close()

    def _accept(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        with conn:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            method, target, _ = line.split(" ", 2)
            host, _, port = target.rpartition(":")
            if method != "CONNECT" or host not in ("127.0.0.1", "localhost"):
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            self.connects.append(target)
            with socket.create_connection(("127.0.0.1", int(port)), timeout=10) as up:
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                rest = head.split(b"\r\n\r\n", 1)[1]
                if rest:
                    up.sendall(rest)
                pair = {conn: up, up: conn}
                while True:
                    ready, _, _ = select.select(list(pair), [], [], 10)
                    if not ready:
                        return
                    for s in ready:
                        data = s.recv(65536)
                        if not data:
                            return
                        pair[s].sendall(data)


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    p = ConnectProxy().start()
    try:
        yield p
    finally:
        p.stop()


def proxy_env(proxy_url: str, no_proxy: str = "") -> dict[str, str]:
    return {
        "HTTPS_PROXY": proxy_url,
        "https_proxy": proxy_url,
        "NO_PROXY": no_proxy,
        "no_proxy": no_proxy,
    }


def test_fetch_and_publish_go_through_https_proxy(
    repo: TrustRepo, notary_server: NotaryServer, proxy: ConnectProxy, tmp_path: Path
) -> None:
    trust = copy_trust_dir(repo.trust_dir, tmp_path / "trust")
    args = ["--server", notary_server.url, "--tls-ca", str(notary_server.ca_file)]
    proc = run_offtrust(trust, "fetch", repo.gun, *args, env=proxy_env(proxy.url))
    assert notary_server.host_port in proxy.connects, describe(proc)

    # publish too.
    proxy.connects.clear()
    run_offtrust(trust, "resign", repo.gun, "targets")
    bundle = tmp_path / "b.bundle"
    run_offtrust(trust, "stage", repo.gun, "--output", str(bundle))
    proc = run_offtrust(trust, "publish", str(bundle), *args, env=proxy_env(proxy.url))
    assert f"{repo.gun}: published" in proc.stdout, describe(proc)
    assert notary_server.host_port in proxy.connects, describe(proc)


def test_no_proxy_bypasses_the_proxy(
    repo: TrustRepo, notary_server: NotaryServer, proxy: ConnectProxy, tmp_path: Path
) -> None:
    trust = copy_trust_dir(repo.trust_dir, tmp_path / "trust")
    args = ["--server", notary_server.url, "--tls-ca", str(notary_server.ca_file)]
    run_offtrust(trust, "fetch", repo.gun, *args, env=proxy_env(proxy.url, "127.0.0.1"))
    assert proxy.connects == []


def test_a_dead_proxy_fails_the_fetch(
    repo: TrustRepo, notary_server: NotaryServer, tmp_path: Path
) -> None:
    """The proxy really is the way out: pointing at nothing fails, with one line."""
    trust = copy_trust_dir(repo.trust_dir, tmp_path / "trust")
    args = ["--server", notary_server.url, "--tls-ca", str(notary_server.ca_file)]
    env = proxy_env(f"http://127.0.0.1:{free_port()}")
    proc = run_offtrust(trust, "fetch", repo.gun, *args, env=env, check=False)
    assert proc.returncode == 1, describe(proc)
    assert proc.stderr.count("offtrust: error:") == 1, describe(proc)


# --------------------------------------------------------------------------- #
# A TLS front on 127.0.0.1 that demands a client certificate
# --------------------------------------------------------------------------- #


@dataclass
class MutualTLSFront:
    url: str
    host_port: str
    ca_file: Path  # the front's server CA
    client_cert: Path
    client_key: Path
    other_cert: Path  # signed by a CA the front does not trust
    other_key: Path
    seen: list[str]


def _client_pair(directory: Path, ca: Any, name: str) -> tuple[Path, Path]:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca_key, ca_cert = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file = write_certificate(directory / f"{name}.cert", cert)
    key_file = directory / f"{name}.key"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    return cert_file, key_file


@pytest.fixture(scope="module")
def mtls_front(
    notary_server: NotaryServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MutualTLSFront]:
    work = tmp_path_factory.mktemp("mtls-front")
    front_ca, front_cert, front_key = make_tls_material(work / "tls", ca_name="test front CA")
    client_ca = make_ca("test client CA")
    client_ca_file = write_certificate(work / "client-ca.crt", client_ca[1])
    client_cert, client_key = _client_pair(work, client_ca, "client")
    other_cert, other_key = _client_pair(work, make_ca("test untrusted CA"), "other")
    backend_ctx = ssl.create_default_context(cafile=str(notary_server.ca_file))
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _forward(self) -> None:
            peer = self.connection.getpeercert()
            subject = dict(x[0] for x in peer["subject"]) if peer else {}
            seen.append(str(subject.get("commonName")))
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host",)}
            up = http.client.HTTPSConnection(
                notary_server.host, notary_server.port, context=backend_ctx, timeout=30
            )
            try:
                up.request(self.command, self.path, body=body, headers=headers)
                resp = up.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            finally:
                up.close()

        do_GET = do_POST = do_DELETE = do_PUT = _forward  # noqa: N815

    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(str(front_cert), str(front_key))
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    server_ctx.load_verify_locations(cafile=str(client_ca_file))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = server_ctx.wrap_socket(httpd.socket, server_side=True)
    port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield MutualTLSFront(
            url=f"https://127.0.0.1:{port}",
            host_port=f"127.0.0.1:{port}",
            ca_file=front_ca,
            client_cert=client_cert,
            client_key=client_key,
            other_cert=other_cert,
            other_key=other_key,
            seen=seen,
        )
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_tls_cert_and_key_flags_are_presented(
    repo: TrustRepo, mtls_front: MutualTLSFront, tmp_path: Path
) -> None:
    trust = copy_trust_dir(repo.trust_dir, tmp_path / "trust")
    base = ["--server", mtls_front.url, "--tls-ca", str(mtls_front.ca_file)]
    # Without a client certificate the front refuses the handshake.
    proc = run_offtrust(trust, "fetch", repo.gun, *base, check=False)
    assert proc.returncode == 1, describe(proc)
    # With one signed by a CA it does not trust, too.
    other = ["--tls-cert", str(mtls_front.other_cert), "--tls-key", str(mtls_front.other_key)]
    proc = run_offtrust(trust, "fetch", repo.gun, *base, *other, check=False)
    assert proc.returncode == 1, describe(proc)
    mtls_front.seen.clear()
    mine = ["--tls-cert", str(mtls_front.client_cert), "--tls-key", str(mtls_front.client_key)]
    proc = run_offtrust(trust, "fetch", repo.gun, *base, *mine)
    assert "client" in mtls_front.seen, describe(proc)


def test_docker_s_client_cert_directory_is_presented(
    repo: TrustRepo, mtls_front: MutualTLSFront, tmp_path: Path
) -> None:
    trust = copy_trust_dir(repo.trust_dir, tmp_path / "trust")
    docker_config = tmp_path / "docker"
    tls = docker_config / "tls" / mtls_front.host_port
    tls.mkdir(parents=True)
    (tls / "ca.crt").write_bytes(mtls_front.ca_file.read_bytes())
    (tls / "client.cert").write_bytes(mtls_front.client_cert.read_bytes())
    (tls / "client.key").write_bytes(mtls_front.client_key.read_bytes())
    (tls / "client.key").chmod(0o600)
    env = {
        "DOCKER_CONTENT_TRUST_SERVER": mtls_front.url,
        "DOCKER_CONFIG": str(docker_config),
        "HOME": str(tmp_path / "home"),
    }
    mtls_front.seen.clear()
    proc = run_offtrust(trust, "fetch", repo.gun, env=env)
    assert "client" in mtls_front.seen, describe(proc)
    # Take docker's client files away: the front refuses.
    (tls / "client.cert").unlink()
    proc = run_offtrust(trust, "fetch", repo.gun, env=env, check=False)
    assert proc.returncode == 1, describe(proc)


# --------------------------------------------------------------------------- #
# NOTARY_AUTH, used by offtrust itself
# --------------------------------------------------------------------------- #


def test_notary_auth_gets_a_token(auth: TokenAuthSetup, tmp_path: Path) -> None:  # noqa: F811
    gun = unique_gun("disc-notary-auth")
    trust = tmp_path / "trust"
    notary_auth = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    proc = run_offtrust(
        trust, "fetch", gun, *auth.server_args(), env={"NOTARY_AUTH": notary_auth}, check=False
    )
    assert proc.returncode == 0, describe(proc)
    assert f"{gun}: new" in proc.stdout, describe(proc)
    assert PASSWORD not in proc.stdout + proc.stderr
    assert notary_auth not in proc.stdout + proc.stderr
    assert auth.issuer.requests
    assert all(r.basic == (USERNAME, PASSWORD) for r in auth.issuer.requests), auth.issuer.requests


# --------------------------------------------------------------------------- #
# The aliases users type
# --------------------------------------------------------------------------- #


def test_s_and_tlscacert_aliases(
    repo: TrustRepo, notary_server: NotaryServer, tmp_path: Path
) -> None:
    trust = copy_trust_dir(repo.trust_dir, tmp_path / "trust")
    aliases = ["-s", notary_server.url, "--tlscacert", str(notary_server.ca_file)]
    env = {"HOME": str(tmp_path / "home"), "DOCKER_CONFIG": str(tmp_path / "no-docker")}
    proc = run_offtrust(trust, "fetch", repo.gun, *aliases, env=env)
    assert "fetched" in proc.stdout + proc.stderr, describe(proc)
    run_offtrust(trust, "resign", repo.gun, "targets")
    bundle = tmp_path / "b.bundle"
    run_offtrust(trust, "stage", repo.gun, "--output", str(bundle))
    proc = run_offtrust(trust, "publish", str(bundle), *aliases, env=env)
    assert f"{repo.gun}: published" in proc.stdout, describe(proc)


def test_force_alias_as_docker_types_it(
    make_docker_repo: Callable[..., TrustRepo], tmp_path: Path
) -> None:
    """``signer remove NAME GUN -f`` (docker's spelling of --yes)."""
    repo = make_docker_repo("disc-force", signers=(("alice", "ecdsa"), ("bob", "ecdsa")), tags=())
    offline = copy_trust_dir(repo.trust_dir, tmp_path / "offline")
    proc = run_offtrust(offline, "signer", "remove", "alice", repo.gun, "-f", check=False)
    assert proc.returncode == 0, describe(proc)
    stage_and_publish(offline, repo.server, tmp_path)
    rows = notary_delegations(repo.notary("delegation", "list", repo.gun).stdout)
    assert "targets/alice" not in rows, rows
    assert "targets/bob" in rows, rows


def test_paths_alias_as_notary_types_it(
    make_docker_repo: Callable[..., TrustRepo], tmp_path: Path
) -> None:
    """``delegation add GUN ROLE --key K --paths P`` (notary's spelling of --path).

    docs/cli.md: "Aliases for the words docker and notary users type: ...
    ``--paths`` for ``--path``".
    """
    repo = make_docker_repo("disc-paths", signers=(("alice", "ecdsa"),), tags=())
    offline = copy_trust_dir(repo.trust_dir, tmp_path / "offline")
    pub = repo.signers["alice"][0].public_file
    proc = run_offtrust(
        offline,
        "delegation",
        "add",
        repo.gun,
        "targets/qa",
        "--key",
        str(pub),
        "--paths",
        "qa/",
        "--paths",
        "lib/",
        check=False,
    )
    assert proc.returncode == 0, describe(proc)
    stage_and_publish(offline, repo.server, tmp_path)
    rows = notary_delegations(repo.notary("delegation", "list", repo.gun).stdout)
    assert sorted(rows["targets/qa"]["paths"]) == ["lib/", "qa/"], rows
