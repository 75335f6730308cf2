"""Drive the real Notary / Docker Content Trust tools for interop tests.

This module has no pytest dependency so that ``fixtures/make_example.py`` can
reuse it. It knows how to:

- start a throwaway ``notary-server`` on loopback (memory store, local signer,
  TLS with a private CA made here) -- :class:`NotaryServer`;
- run the real ``notary`` and ``docker`` CLIs against it with a hermetic
  environment (HOME, DOCKER_CONFIG, passphrases) -- :func:`run_notary`,
  :func:`run_docker`;
- build real trust data the way users do -- :func:`build_docker_repo` (Docker
  signers, server-managed snapshot) and :func:`build_notary_repo` (plain
  ``notary init``, client-managed snapshot) -- returning a :class:`TrustRepo`;
- copy a trust directory as a user would carry it to an air-gapped machine --
  :func:`copy_trust_dir`.

Every passphrase in this module is a TEST-ONLY value. Nothing here talks to any
address other than 127.0.0.1 (see the DNS note below for the one exception).

Behaviour of the real tools that the code below relies on (observed with
notary 0.7.0+ds1 and Docker CLI 28.2.2):

- Docker reads the server CA from ``$DOCKER_CONFIG/tls/<host:port>/*.crt`` (any
  name ending in ``.crt``; ``ca.pem`` is ignored). ``~/.docker/tls`` is only read
  when DOCKER_CONFIG is unset.
- When the server cannot be reached or verified, ``docker trust inspect`` and
  ``notary list`` fall back to the cached metadata, print "Error while
  downloading remote metadata, using cached timestamp" on stderr and exit 0.
  :func:`refresh_cache` therefore checks stderr.
- Publishing never writes the published files back into ``tuf/<gun>/metadata``;
  only a later read (``notary list``, ``docker trust inspect``) does.
- For a GUN ``example.com/...`` the Docker CLI looks ``example.com`` up in DNS
  on every ``docker trust`` call; :func:`docker_dns_isolation` keeps that
  query on loopback where a private mount namespace is allowed (root).
- Notary signs a role with every private key it holds for it: in the default
  Docker repo, ``targets/releases`` carries four signatures (alice, bob x2,
  carol) because all those private keys are in the one trust directory.
"""

from __future__ import annotations

import atexit
import base64
import datetime as dt
import hashlib
import http.client
import ipaddress
import itertools
import json
import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# --------------------------------------------------------------------------- #
# Passphrases (TEST ONLY)
# --------------------------------------------------------------------------- #

#: TEST-ONLY passphrase for root keys (Docker and notary).
TEST_ROOT_PASSPHRASE = "offtrust-test-root-passphrase"
#: TEST-ONLY passphrase Docker uses for every non-root key (targets, signers).
TEST_REPOSITORY_PASSPHRASE = "offtrust-test-repository-passphrase"


@dataclass(frozen=True)
class Passphrases:
    """Passphrases by key role. TEST-ONLY values; never use them for real keys."""

    root: str
    targets: str
    snapshot: str
    delegation: str

    def notary_env(self) -> dict[str, str]:
        """The NOTARY_*_PASSPHRASE variables the notary CLI reads."""
        return {
            "NOTARY_ROOT_PASSPHRASE": self.root,
            "NOTARY_TARGETS_PASSPHRASE": self.targets,
            "NOTARY_SNAPSHOT_PASSPHRASE": self.snapshot,
            "NOTARY_DELEGATION_PASSPHRASE": self.delegation,
        }

    def docker_env(self) -> dict[str, str]:
        """The DOCKER_CONTENT_TRUST_*_PASSPHRASE variables.

        Docker has one passphrase for root and one for every other key, so this
        only makes sense when targets, snapshot and delegation agree.
        """
        if not self.targets == self.snapshot == self.delegation:
            raise ValueError("Docker uses one repository passphrase for all non-root keys")
        return {
            "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE": self.root,
            "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": self.targets,
        }

    def for_role(self, role: str) -> str:
        """The passphrase notary would use for a key of ``role``."""
        if role in ("root", "targets", "snapshot"):
            return str(getattr(self, role))
        return self.delegation


#: What a Docker trust directory uses: root + one repository passphrase.
DOCKER_PASSPHRASES = Passphrases(
    root=TEST_ROOT_PASSPHRASE,
    targets=TEST_REPOSITORY_PASSPHRASE,
    snapshot=TEST_REPOSITORY_PASSPHRASE,
    delegation=TEST_REPOSITORY_PASSPHRASE,
)

#: Distinct TEST-ONLY passphrases per role, used for repos made with plain notary
#: in their own trust directory, so tests notice a passphrase used for the wrong role.
NOTARY_PASSPHRASES = Passphrases(
    root="offtrust-test-notary-root",
    targets="offtrust-test-notary-targets",
    snapshot="offtrust-test-notary-snapshot",
    delegation="offtrust-test-notary-delegation",
)

# --------------------------------------------------------------------------- #
# Tools and environment
# --------------------------------------------------------------------------- #

REQUIRED_TOOLS = ("notary", "notary-server", "docker", "openssl")

#: Subprocess timeout in seconds for a single CLI call.
COMMAND_TIMEOUT = 120.0


def missing_tools(names: Sequence[str] = REQUIRED_TOOLS) -> list[str]:
    """Names of the required executables that are not on PATH."""
    return [name for name in names if shutil.which(name) is None]


def require_real_tools(names: Sequence[str] = REQUIRED_TOOLS) -> None:
    """In pytest: skip when a required tool is missing, but fail under ``CI=true``.

    CI installs the tools and must run the interop tests, so a skip there would
    hide a broken setup.
    """
    import pytest

    missing = missing_tools(names)
    if not missing:
        return
    reason = f"interop tools not on PATH: {', '.join(missing)}"
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"{reason} (CI=true: interop tests must run in CI)", pytrace=False)
    pytest.skip(reason)


class ToolError(RuntimeError):
    """A real tool failed; the message carries the command, exit code and output."""

    def __init__(
        self, cmd: Sequence[str], returncode: int | None, stdout: str, stderr: str, note: str = ""
    ) -> None:
        self.cmd = list(cmd)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        head = f"{note}: " if note else ""
        super().__init__(
            f"{head}command {self.cmd!r} exited with {returncode}\n"
            f"--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
        )


_HOME: Path | None = None


def default_home() -> Path:
    """An empty per-process HOME for the tools, so nothing touches the real ~/.docker."""
    global _HOME
    if _HOME is None:
        import tempfile

        _HOME = Path(tempfile.mkdtemp(prefix="offtrust-interop-home-"))
        atexit.register(shutil.rmtree, _HOME, True)
    return _HOME


def tool_env(home: Path | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A hermetic environment: our HOME, no inherited DOCKER_*/NOTARY_*/proxy settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DOCKER_", "NOTARY_"))
        and k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    }
    env["HOME"] = str(home if home is not None else default_home())
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["TZ"] = "UTC"
    if extra:
        env.update(extra)
    return env


def run_tool(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str],
    check: bool = True,
    cwd: Path | None = None,
    timeout: float = COMMAND_TIMEOUT,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd``; raise :class:`ToolError` with stdout/stderr when it fails and ``check``."""
    try:
        proc = subprocess.run(
            list(cmd),
            env=dict(env),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input if input is not None else "",
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        raise ToolError(cmd, None, out, err, note=f"timed out after {timeout}s") from e
    if check and proc.returncode != 0:
        raise ToolError(cmd, proc.returncode, proc.stdout, proc.stderr)
    return proc


def run_notary(
    trust_dir: Path,
    *args: str,
    server: NotaryServer,
    passphrases: Passphrases = DOCKER_PASSPHRASES,
    check: bool = True,
    cwd: Path | None = None,
    home: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = COMMAND_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run ``notary -d TRUST_DIR -s URL --tlscacert CA ARGS...``.

    The NOTARY_*_PASSPHRASE variables come from ``passphrases``; ``env`` adds or
    overrides variables (e.g. a wrong passphrase).
    """
    cmd = [
        "notary",
        "-d",
        str(trust_dir),
        "-s",
        server.url,
        "--tlscacert",
        str(server.ca_file),
        *args,
    ]
    extra = {**passphrases.notary_env(), **(env or {})}
    return run_tool(cmd, env=tool_env(home, extra), check=check, cwd=cwd, timeout=timeout)


def install_docker_ca(config_dir: Path, server: NotaryServer) -> Path:
    """Put the server CA where Docker reads it: ``$DOCKER_CONFIG/tls/<host:port>/ca.crt``."""
    tls_dir = Path(config_dir) / "tls" / server.host_port
    tls_dir.mkdir(parents=True, exist_ok=True)
    target = tls_dir / "ca.crt"
    shutil.copyfile(server.ca_file, target)
    return target


def run_docker(
    config_dir: Path,
    *args: str,
    server: NotaryServer,
    passphrases: Passphrases = DOCKER_PASSPHRASES,
    check: bool = True,
    cwd: Path | None = None,
    home: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = COMMAND_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run ``docker ARGS...`` with DOCKER_CONFIG=config_dir and content trust on.

    Installs the server CA into ``config_dir`` first; Docker's trust directory is
    ``config_dir/trust``.
    """
    config_dir = Path(config_dir)
    config_dir.mkdir(parents=True, exist_ok=True)
    install_docker_ca(config_dir, server)
    extra = {
        "DOCKER_CONFIG": str(config_dir),
        "DOCKER_CONTENT_TRUST": "1",
        "DOCKER_CONTENT_TRUST_SERVER": server.url,
        # No engine exists here; point the CLI at a socket that cannot exist so a
        # stray engine call fails fast instead of finding some other daemon.
        "DOCKER_HOST": f"unix://{config_dir}/no-engine.sock",
        **passphrases.docker_env(),
        **(env or {}),
    }
    return run_tool(
        [*docker_dns_isolation(), "docker", *args],
        env=tool_env(home, extra),
        check=check,
        cwd=cwd,
        timeout=timeout,
    )


_DNS_ISOLATION: list[str] | None = None


def docker_dns_isolation() -> list[str]:
    """A command prefix that hides the system resolver from ``docker``, or ``[]``.

    For a GUN like ``example.com/app`` the Docker CLI resolves ``example.com``
    (to check it against the default insecure-registry range 127.0.0.0/8), so
    every ``docker trust`` call would send a DNS query off the machine -- and
    if the name resolved to a loopback address, Docker would even switch off
    TLS verification. Where a private mount namespace is allowed (root, as on
    the dev and CI machines) ``docker`` runs with ``/etc/resolv.conf`` replaced
    by ``nameserver 127.0.0.1``: the lookup fails at once and the index counts
    as secure. Elsewhere the prefix is empty and the query goes out as usual.
    """
    global _DNS_ISOLATION
    if _DNS_ISOLATION is not None:
        return _DNS_ISOLATION
    _DNS_ISOLATION = []
    if shutil.which("unshare") is None or not Path("/etc/resolv.conf").exists():
        return _DNS_ISOLATION
    import tempfile

    fd, name = tempfile.mkstemp(prefix="offtrust-resolv-", suffix=".conf")
    with os.fdopen(fd, "w") as f:
        f.write("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    atexit.register(os.unlink, name)
    prefix = [
        "unshare",
        "--mount",
        "sh",
        "-c",
        'mount --bind "$0" /etc/resolv.conf && exec "$@"',
        name,
    ]
    probe = subprocess.run(
        [*prefix, "true"], capture_output=True, timeout=30, check=False, env=tool_env()
    )
    if probe.returncode == 0:
        _DNS_ISOLATION = prefix
    return _DNS_ISOLATION


# --------------------------------------------------------------------------- #
# notary-server
# --------------------------------------------------------------------------- #


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_private_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def write_certificate(path: Path, cert: x509.Certificate) -> Path:
    """Write *cert* to *path* as PEM and return *path*."""
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    """digitalSignature, plus keyCertSign and cRLSign for a CA."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _cert_builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, days: int
) -> x509.CertificateBuilder:
    """A builder with a random serial, valid from one day ago until *days* days from now."""
    now = dt.datetime.now(dt.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
    )


def make_ca(
    common_name: str, *, days: int = 30
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A throwaway self-signed P-256 CA (pathlen 0), valid from a day ago for *days* days.

    Returns:
        (private key, certificate).
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        _cert_builder(name, name, key.public_key(), days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_server_cert(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    *,
    ips: Sequence[str] = ("127.0.0.1",),
    dns_names: Sequence[str] = (),
    days: int = 30,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A P-256 TLS server certificate signed by *ca_key* / *ca_cert*.

    The subject alternative names are exactly *ips* then *dns_names* (nothing
    else), the common name is the first of them; the certificate is valid from
    a day ago for *days* days, for serverAuth only.

    Returns:
        (private key, certificate).
    """
    sans: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    sans += [x509.DNSName(name) for name in dns_names]
    common_name = [*ips, *dns_names][0]
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        _cert_builder(subject, ca_cert.subject, key.public_key(), days)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def make_tls_material(
    directory: Path,
    *,
    ca_name: str = "offtrust interop test CA",
    dns_names: Sequence[str] = ("localhost",),
    days: int = 30,
) -> tuple[Path, Path, Path]:
    """Create a throwaway CA and a server certificate for IP 127.0.0.1 (+ *dns_names*).

    Writes ``ca.crt``, ``server.crt`` and ``server.key`` (mode 0600) in *directory*.

    Returns:
        (ca_file, cert_file, key_file), all PEM.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = make_ca(ca_name, days=days)
    key, cert = make_server_cert(
        ca_key, ca_cert, ips=("127.0.0.1",), dns_names=dns_names, days=days
    )
    ca_file = write_certificate(directory / "ca.crt", ca_cert)
    cert_file = write_certificate(directory / "server.crt", cert)
    key_file = directory / "server.key"
    _write_private_key(key_file, key)
    return ca_file, cert_file, key_file


class ServerStartError(RuntimeError):
    """notary-server did not come up; the message includes the tail of its log."""


@dataclass
class NotaryServer:
    """A running notary-server on 127.0.0.1 (memory storage, local signer, TLS).

    Attributes:
        url: ``https://127.0.0.1:PORT``.
        host_port: ``127.0.0.1:PORT`` (Docker's ``tls/`` sub-directory name).
        ca_file: PEM of the CA that signed the server certificate.
        workdir: holds the config, TLS files and ``notary-server.log``.
    """

    workdir: Path
    port: int
    ca_file: Path
    config_file: Path
    log_file: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    host: str = "127.0.0.1"

    @property
    def host_port(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"https://{self.host_port}"

    # -- lifecycle ---------------------------------------------------------- #

    @classmethod
    def start(
        cls,
        workdir: Path,
        *,
        startup_timeout: float = 30.0,
        attempts: int = 3,
        extra_config: Mapping[str, Any] | None = None,
    ) -> NotaryServer:
        """Create TLS material and config in ``workdir`` and start notary-server.

        Retries with a new port if the chosen one was taken in the meantime.
        ``extra_config`` sections replace or add top-level sections of the
        config (e.g. ``{"auth": {...}}``); by default none are.

        Raises:
            ServerStartError: the server exited or did not answer the health check.
        """
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        ca_file, cert_file, key_file = make_tls_material(workdir / "tls")
        last_error: ServerStartError | None = None
        for attempt in range(attempts):
            port = free_port()
            config_file = workdir / "server-config.json"
            config = {
                "server": {
                    "http_addr": f"127.0.0.1:{port}",
                    "tls_cert_file": str(cert_file),
                    "tls_key_file": str(key_file),
                },
                # "local" keeps timestamp/snapshot keys in memory; it needs no
                # other settings (no notary-signer).
                "trust_service": {"type": "local"},
                "storage": {"backend": "memory"},
                "logging": {"level": "warn"},
            }
            config.update(extra_config or {})
            config_file.write_text(json.dumps(config, indent=2))
            server = cls(
                workdir=workdir,
                port=port,
                ca_file=ca_file,
                config_file=config_file,
                log_file=workdir / f"notary-server.{attempt}.log",
            )
            try:
                server._spawn(startup_timeout)
            except ServerStartError as e:
                server.stop()
                last_error = e
                if "address already in use" not in server.log_tail().lower():
                    raise
                continue
            return server
        assert last_error is not None
        raise last_error

    def _spawn(self, startup_timeout: float) -> None:
        log = open(self.log_file, "wb")  # noqa: SIM115 - handed to the child process
        try:
            self.process = subprocess.Popen(
                ["notary-server", "-config", str(self.config_file)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=tool_env(self.workdir),
                cwd=self.workdir,
            )
        finally:
            log.close()
        atexit.register(self.stop)
        deadline = time.monotonic() + startup_timeout
        last_exc: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerStartError(
                    f"notary-server exited with {self.process.returncode} during startup "
                    f"(config {self.config_file}); log tail:\n{self.log_tail()}"
                )
            try:
                status, body = self.get("/_notary_server/health", timeout=2.0)
                if status == 200:
                    return
                last_exc = RuntimeError(f"health check answered {status}: {body[:200]!r}")
            except (OSError, http.client.HTTPException) as e:
                last_exc = e
            time.sleep(0.05)
        raise ServerStartError(
            f"notary-server on {self.url} did not become healthy within {startup_timeout}s "
            f"(last error: {last_exc!r}); log tail:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """Terminate the server (idempotent)."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def __enter__(self) -> NotaryServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- HTTP --------------------------------------------------------------- #

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts only the test CA (hostname checked)."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def get(self, path: str, *, timeout: float = 10.0) -> tuple[int, bytes]:
        """``GET path`` on the server; returns (status, body)."""
        conn = http.client.HTTPSConnection(
            self.host, self.port, context=self.ssl_context(), timeout=timeout
        )
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def upload(self, gun: str, files: Mapping[str, bytes]) -> tuple[int, bytes]:
        """POST ``files`` (role -> exact bytes) as one update, as notary's client does.

        Returns (status, body): what notary-server itself says of those bytes.
        """
        import secrets

        boundary = secrets.token_hex(30)
        body = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{role}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
            + data
            + b"\r\n"
            for role, data in sorted(files.items())
        )
        body += f"--{boundary}--\r\n".encode()
        conn = http.client.HTTPSConnection(
            self.host, self.port, context=self.ssl_context(), timeout=30
        )
        try:
            conn.request(
                "POST",
                f"/v2/{gun}/_trust/tuf/",
                body=body,
                headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            )
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def metadata(self, gun: str, role: str) -> bytes:
        """The bytes the server serves for ``<gun>/_trust/tuf/<role>.json``.

        Raises:
            LookupError: the server answered something else than 200.
        """
        status, body = self.get(f"/v2/{gun}/_trust/tuf/{role}.json")
        if status != 200:
            raise LookupError(f"GET {gun} {role}.json -> {status}: {body[:300]!r}")
        return body


# --------------------------------------------------------------------------- #
# Key IDs (computed independently of offtrust, see formats doc section 3)
# --------------------------------------------------------------------------- #


def _tuf_key_id(keytype: str, public_b64: str) -> str:
    obj = {"keytype": keytype, "keyval": {"private": None, "public": public_b64}}
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()


def _spki_key_id(spki_der: bytes) -> str:
    key = serialization.load_der_public_key(spki_der)
    keytype = "ecdsa" if isinstance(key, ec.EllipticCurvePublicKey) else "rsa"
    return _tuf_key_id(keytype, base64.b64encode(spki_der).decode())


def canonical_key_id(pem: bytes) -> str:
    """Notary's canonical key ID of a ``PUBLIC KEY`` or ``CERTIFICATE`` PEM.

    Extra PEM headers (``role: alice``) are ignored.
    """
    text = pem.decode()
    begin = text.index("-----BEGIN ")
    kind = text[begin + 11 : text.index("-----", begin + 11)]
    body = text[text.index("\n", begin) + 1 : text.index("-----END ")]
    b64 = "".join(line for line in body.splitlines() if line and ":" not in line)
    der = base64.b64decode(b64)
    if kind == "CERTIFICATE":
        cert = x509.load_der_x509_certificate(der)
        der = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    elif kind != "PUBLIC KEY":
        raise ValueError(f"unsupported PEM type {kind!r}")
    return _spki_key_id(der)


def canonical_id_of_tuf_key(key: Mapping[str, Any]) -> str:
    """Canonical key ID of a key object as found in root.json / targets.json."""
    keytype = key["keytype"]
    public = key["keyval"]["public"]
    if keytype.endswith("-x509"):
        return canonical_key_id(base64.b64decode(public))
    if keytype in ("ecdsa", "rsa"):
        return _spki_key_id(base64.b64decode(public))
    return _tuf_key_id(keytype, public)


def read_key_headers(key_file: Path) -> dict[str, str]:
    """The ``name: value`` PEM headers (role, gun) of a private key file."""
    headers: dict[str, str] = {}
    for line in key_file.read_text().splitlines()[1:]:
        if not line.strip():
            break
        name, sep, value = line.partition(":")
        if not sep:
            break
        headers[name.strip()] = value.strip()
    return headers


# --------------------------------------------------------------------------- #
# Trust data
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class SignerKey:
    """One delegation key made by the harness.

    Attributes:
        signer: Docker signer name (or short delegation name for notary repos).
        key_name: what the key was generated/loaded as (``alice``, ``bob2``,
            ``carol``); also the ``role:`` header of the private key file.
        keytype: ``ecdsa`` or ``rsa-x509`` as listed in targets.json.
        key_id: TUF key ID in targets.json (the certificate ID for ``*-x509``).
        canonical_id: canonical ID (SPKI): private key file name, shown by
            ``docker trust inspect`` and ``notary delegation list``.
        public_file: the ``.pub`` / ``.crt`` handed to ``signer add``.
        private_key: ``<trust>/private/<canonical_id>.key`` if it was stored.
        source_private_key: the unencrypted input key (openssl-made keys only).
    """

    signer: str
    key_name: str
    keytype: str
    key_id: str
    canonical_id: str
    public_file: Path
    private_key: Path | None
    source_private_key: Path | None = None


@dataclass(frozen=True)
class Tag:
    """A target signed by the harness (a fake manifest: only its bytes matter)."""

    name: str
    content: bytes
    roles: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.content)

    @property
    def digest(self) -> str:
        """Hex sha256, as ``docker trust inspect`` and ``notary list`` print it."""
        return hashlib.sha256(self.content).hexdigest()

    @property
    def sha256_b64(self) -> str:
        """Base64 sha256, as it appears in targets files."""
        return base64.b64encode(hashlib.sha256(self.content).digest()).decode()


@dataclass
class TrustRepo:
    """Real trust data for one GUN, as built by :func:`build_docker_repo` or
    :func:`build_notary_repo`. Treat shared instances as read-only; copy the
    trust directory with :func:`copy_trust_dir` before changing anything.

    Attributes:
        kind: ``"docker"`` or ``"notary"``.
        gun: e.g. ``example.com/harness-1``.
        trust_dir: ``config_dir/trust`` for Docker, the ``notary -d`` dir otherwise.
        config_dir: the DOCKER_CONFIG (None for notary repos in their own dir).
        keys_dir: public key / certificate files made for ``signer add``.
        server: the notary-server holding the published data.
        passphrases: the TEST-ONLY passphrases of the keys in ``trust_dir``.
        signers: signer name -> keys, in the order they were added.
        delegations: delegation role -> key IDs as listed in targets.json.
        tags: tag name -> :class:`Tag`.
        root_key_id: root key ID in root.json (certificate ID).
        root_canonical_id: the root private key's file name (without ``.key``).
        targets_key_id, snapshot_key_id, timestamp_key_id: IDs in root.json.
        server_managed_snapshot: True when the server holds the snapshot key.
    """

    kind: str
    gun: str
    trust_dir: Path
    config_dir: Path | None
    keys_dir: Path
    server: NotaryServer
    passphrases: Passphrases
    signers: dict[str, list[SignerKey]] = field(default_factory=dict)
    delegations: dict[str, list[str]] = field(default_factory=dict)
    tags: dict[str, Tag] = field(default_factory=dict)
    root_key_id: str = ""
    root_canonical_id: str = ""
    targets_key_id: str = ""
    snapshot_key_id: str = ""
    timestamp_key_id: str = ""
    server_managed_snapshot: bool = False

    @property
    def metadata_dir(self) -> Path:
        return self.trust_dir / "tuf" / self.gun / "metadata"

    @property
    def private_dir(self) -> Path:
        return self.trust_dir / "private"

    def signer_key_ids(self, signer: str) -> list[str]:
        """TUF key IDs of ``signer`` as listed in targets.json."""
        return [k.key_id for k in self.signers[signer]]

    def notary(self, *args: str, check: bool = True, **kw: Any) -> subprocess.CompletedProcess[str]:
        """Run the real notary on this repo's trust dir with its passphrases."""
        kw.setdefault("passphrases", self.passphrases)
        return run_notary(self.trust_dir, *args, server=self.server, check=check, **kw)

    def docker(self, *args: str, check: bool = True, **kw: Any) -> subprocess.CompletedProcess[str]:
        """Run the real docker CLI with this repo's DOCKER_CONFIG."""
        if self.config_dir is None:
            raise ValueError(f"{self.gun} is not in a Docker config dir")
        kw.setdefault("passphrases", self.passphrases)
        return run_docker(self.config_dir, *args, server=self.server, check=check, **kw)

    def inspect(self) -> dict[str, Any]:
        """``docker trust inspect GUN`` parsed (the single element of the list)."""
        proc = self.docker("trust", "inspect", self.gun)
        _fail_on_stale_cache(proc, "docker trust inspect")
        data = json.loads(proc.stdout)
        if not isinstance(data, list) or len(data) != 1:
            raise AssertionError(f"unexpected docker trust inspect output: {proc.stdout}")
        return dict(data[0])


_gun_counter = itertools.count(1)


def unique_gun(name: str = "repo") -> str:
    """A GUN not used before in this process: ``example.com/<name>-<n>-<pid>``."""
    return f"example.com/{name}-{next(_gun_counter)}-{os.getpid()}"


def tag_content(gun: str, tag: str) -> bytes:
    """Deterministic fake-manifest bytes for ``gun:tag`` (digests stay stable)."""
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "annotations": {"offtrust.test": f"{gun}:{tag}"},
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()


_STALE_MARKERS = ("Error while downloading remote metadata", "using cached")


def _fail_on_stale_cache(proc: subprocess.CompletedProcess[str], what: str) -> None:
    if any(m in proc.stderr for m in _STALE_MARKERS):
        raise ToolError(
            proc.args,
            proc.returncode,
            proc.stdout,
            proc.stderr,
            note=f"{what} used the cache instead of the server",
        )


def refresh_cache(repo: TrustRepo) -> None:
    """Download everything the server serves into ``tuf/<gun>/metadata``.

    Publishing does not update the cache; ``notary list`` does (it walks every
    delegation). Fails if the tool silently fell back to the cache.
    """
    proc = repo.notary("list", repo.gun)
    _fail_on_stale_cache(proc, "notary list")


def _read_json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_bytes())
    assert isinstance(data, dict)
    return data


def _fill_admin_keys(repo: TrustRepo) -> None:
    root = _read_json(repo.metadata_dir / "root.json")["signed"]
    roles = root["roles"]
    repo.root_key_id = roles["root"]["keyids"][0]
    repo.root_canonical_id = canonical_id_of_tuf_key(root["keys"][repo.root_key_id])
    repo.targets_key_id = roles["targets"]["keyids"][0]
    repo.snapshot_key_id = roles["snapshot"]["keyids"][0]
    repo.timestamp_key_id = roles["timestamp"]["keyids"][0]
    snapshot_canonical = canonical_id_of_tuf_key(root["keys"][repo.snapshot_key_id])
    repo.server_managed_snapshot = not (repo.private_dir / f"{snapshot_canonical}.key").exists()


def _delegation_keys(repo: TrustRepo) -> tuple[dict[str, list[str]], dict[str, dict[str, Any]]]:
    targets = _read_json(repo.metadata_dir / "targets.json")["signed"]
    delegations = targets["delegations"]
    roles = {r["name"]: list(r["keyids"] or []) for r in delegations["roles"]}
    return roles, dict(delegations["keys"])


def _signer_key(
    repo: TrustRepo,
    keys: Mapping[str, Mapping[str, Any]],
    *,
    signer: str,
    key_name: str,
    public_file: Path,
    source_private_key: Path | None = None,
) -> SignerKey:
    canonical = canonical_key_id(public_file.read_bytes())
    matches = [kid for kid, k in keys.items() if canonical_id_of_tuf_key(k) == canonical]
    if len(matches) != 1:
        raise AssertionError(f"key {public_file} ({canonical}) not in targets.json: {matches}")
    private = repo.private_dir / f"{canonical}.key"
    return SignerKey(
        signer=signer,
        key_name=key_name,
        keytype=str(keys[matches[0]]["keytype"]),
        key_id=matches[0],
        canonical_id=canonical,
        public_file=public_file,
        private_key=private if private.exists() else None,
        source_private_key=source_private_key,
    )


#: Default Docker signers: (signer, key kind) in the order they are added; a
#: repeated signer gets another key (bob's second key is generated as "bob2").
DEFAULT_DOCKER_SIGNERS: tuple[tuple[str, str], ...] = (
    ("alice", "ecdsa"),
    ("bob", "ecdsa"),
    ("bob", "ecdsa"),
    ("carol", "rsa-x509"),
)

#: Default tags: (tag, roles it is signed into). v1 also goes into targets/alice
#: so ``docker trust inspect`` names alice as its signer; v2 shows "Repo Admin".
DEFAULT_DOCKER_TAGS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("v1", ("targets/releases", "targets/alice")),
    ("v2", ("targets/releases",)),
)

DEFAULT_NOTARY_TAGS: tuple[tuple[str, tuple[str, ...]], ...] = (("v1", ("targets/releases",)),)


def make_rsa_certificate(
    keys_dir: Path, name: str, *, days: int = 3650, home: Path | None = None
) -> tuple[Path, Path]:
    """RSA 2048 key + self-signed certificate with openssl.

    Returns:
        (certificate, unencrypted PKCS#8 private key), the key with mode 0600.
    """
    key = keys_dir / f"{name}.key"
    crt = keys_dir / f"{name}.crt"
    run_tool(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-sha256",
            "-keyout",
            str(key),
            "-out",
            str(crt),
            "-days",
            str(days),
            "-subj",
            f"/CN={name}",
        ],
        env=tool_env(home),
    )
    key.chmod(0o600)  # docker trust key load refuses keys readable by group/other
    return crt, key


def make_ecdsa_keypair(keys_dir: Path, name: str, *, home: Path | None = None) -> tuple[Path, Path]:
    """P-256 key pair with openssl.

    Returns:
        (public ``PUBLIC KEY`` PEM, unencrypted PKCS#8 private key with mode 0600).
    """
    key = keys_dir / f"{name}.key"
    pub = keys_dir / f"{name}.pub"
    env = tool_env(home)
    run_tool(
        [
            "openssl",
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            str(key),
        ],
        env=env,
    )
    key.chmod(0o600)
    run_tool(["openssl", "pkey", "-in", str(key), "-pubout", "-out", str(pub)], env=env)
    return pub, key


def sign_tags(repo: TrustRepo, tags: Sequence[tuple[str, Sequence[str]]]) -> None:
    """``notary addhash`` each tag into its roles, then one ``notary publish``.

    Records the tags in ``repo.tags``; does not refresh the cache.
    """
    if not tags:
        return
    for name, roles in tags:
        tag = Tag(name=name, content=tag_content(repo.gun, name), roles=tuple(roles))
        for role in tag.roles:
            args = ["addhash", repo.gun, name, str(tag.size), "--sha256", tag.digest]
            if role != "targets":
                args += ["-r", role]
            repo.notary(*args)
        repo.tags[name] = tag
    repo.notary("publish", repo.gun)


def build_docker_repo(
    server: NotaryServer,
    workdir: Path,
    gun: str | None = None,
    *,
    signers: Sequence[tuple[str, str]] = DEFAULT_DOCKER_SIGNERS,
    tags: Sequence[tuple[str, Sequence[str]]] = DEFAULT_DOCKER_TAGS,
    config_dir: Path | None = None,
    passphrases: Passphrases = DOCKER_PASSPHRASES,
    load_private_keys: bool = True,
) -> TrustRepo:
    """Build a repo the Docker way and publish it to ``server``.

    ``docker trust key generate`` (ecdsa) or openssl RSA certificate +
    ``docker trust key load`` (rsa-x509) per key, ``docker trust signer add``
    per key (the first call initialises the repo: root + targets keys local,
    snapshot server-managed), then tags signed with notary ``addhash`` +
    ``publish`` and the cache refreshed.

    Args:
        server: the running notary-server.
        workdir: an empty directory for this repo: ``docker/`` (DOCKER_CONFIG,
            unless ``config_dir`` is given), ``keys/`` (pub files), ``home/``.
        gun: defaults to :func:`unique_gun` ``("docker")``.
        signers: (signer, "ecdsa" | "rsa-x509") in order; repeat a signer to
            give it more keys.
        tags: (tag, roles) signed after the signers are added.
        config_dir: an existing DOCKER_CONFIG to add this GUN to.
        passphrases: must have targets == snapshot == delegation.
        load_private_keys: load the rsa-x509 private keys into the store
            (``docker trust key load``) so they can sign.
    """
    workdir = Path(workdir)
    gun = gun or unique_gun("docker")
    config_dir = Path(config_dir) if config_dir is not None else workdir / "docker"
    keys_dir = workdir / "keys"
    home = workdir / "home"
    for d in (config_dir, keys_dir, home):
        d.mkdir(parents=True, exist_ok=True)
    repo = TrustRepo(
        kind="docker",
        gun=gun,
        trust_dir=config_dir / "trust",
        config_dir=config_dir,
        keys_dir=keys_dir,
        server=server,
        passphrases=passphrases,
    )

    made: list[tuple[str, str, Path, Path | None]] = []  # signer, key_name, public, source
    counts: dict[str, int] = {}
    for signer, kind in signers:
        counts[signer] = counts.get(signer, 0) + 1
        key_name = signer if counts[signer] == 1 else f"{signer}{counts[signer]}"
        if kind == "ecdsa":
            repo.docker("trust", "key", "generate", key_name, "--dir", str(keys_dir), home=home)
            public, source = keys_dir / f"{key_name}.pub", None
        elif kind == "rsa-x509":
            public, source = make_rsa_certificate(keys_dir, key_name, home=home)
            if load_private_keys:
                repo.docker("trust", "key", "load", str(source), "--name", key_name, home=home)
        else:
            raise ValueError(f"unknown key kind {kind!r}")
        repo.docker("trust", "signer", "add", signer, gun, "--key", str(public), home=home)
        made.append((signer, key_name, public, source))

    sign_tags(repo, tags)
    refresh_cache(repo)
    _fill_admin_keys(repo)
    repo.delegations, keys = _delegation_keys(repo)
    for signer, key_name, public, source in made:
        repo.signers.setdefault(signer, []).append(
            _signer_key(
                repo,
                keys,
                signer=signer,
                key_name=key_name,
                public_file=public,
                source_private_key=source,
            )
        )
    return repo


def build_notary_repo(
    server: NotaryServer,
    workdir: Path,
    gun: str | None = None,
    *,
    delegation: str = "targets/releases",
    tags: Sequence[tuple[str, Sequence[str]]] = DEFAULT_NOTARY_TAGS,
    trust_dir: Path | None = None,
    passphrases: Passphrases = NOTARY_PASSPHRASES,
) -> TrustRepo:
    """Build a repo with plain notary and publish it to ``server``.

    ``notary init GUN -p`` (client-managed snapshot: root, targets and
    snapshot keys local), an openssl P-256 key imported with
    ``notary key import --role DELEGATION``, ``notary delegation add GUN
    DELEGATION KEY.pub --all-paths -p``, tags via ``addhash`` + ``publish``,
    then the cache is refreshed.

    Args:
        server: the running notary-server.
        workdir: an empty directory: ``notary/`` (trust dir unless ``trust_dir``
            is given), ``keys/``, ``home/``.
        gun: defaults to :func:`unique_gun` ``("notary")``.
        delegation: the delegation role to create ("" to create none).
        tags: (tag, roles) to sign after the delegation exists.
        trust_dir: an existing trust dir (e.g. a Docker ``config/trust``; then
            pass ``DOCKER_PASSPHRASES``, since notary reuses its root key).
        passphrases: TEST-ONLY passphrases for the keys notary writes.
    """
    workdir = Path(workdir)
    gun = gun or unique_gun("notary")
    trust_dir = Path(trust_dir) if trust_dir is not None else workdir / "notary"
    keys_dir = workdir / "keys"
    home = workdir / "home"
    for d in (keys_dir, home):
        d.mkdir(parents=True, exist_ok=True)
    repo = TrustRepo(
        kind="notary",
        gun=gun,
        trust_dir=trust_dir,
        config_dir=None,
        keys_dir=keys_dir,
        server=server,
        passphrases=passphrases,
    )

    repo.notary("init", gun, "-p", home=home)
    made: list[tuple[str, Path, Path]] = []
    if delegation:
        short = delegation.removeprefix("targets/")
        key_name = short.replace("/", "-")
        # `notary key generate -o` writes an encrypted key that `notary key import`
        # then refuses ("key may be encrypted and does not contain path header"),
        # so the key pair comes from openssl and notary encrypts it on import.
        public, private = make_ecdsa_keypair(keys_dir, f"{key_name}-{_slug(gun)}", home=home)
        repo.notary("key", "import", str(private), "--role", delegation, home=home)
        repo.notary(
            "delegation", "add", gun, delegation, str(public), "--all-paths", "-p", home=home
        )
        made.append((short, public, private))

    sign_tags(repo, tags)
    refresh_cache(repo)
    _fill_admin_keys(repo)
    repo.delegations, keys = _delegation_keys(repo)
    for short, public, private in made:
        repo.signers.setdefault(short, []).append(
            _signer_key(
                repo,
                keys,
                signer=short,
                key_name=f"targets/{short}",
                public_file=public,
                source_private_key=private,
            )
        )
    return repo


def _slug(gun: str) -> str:
    return gun.replace("/", "_").replace(".", "_")


def copy_trust_dir(src: Path, dst: Path) -> Path:
    """Copy a trust directory as if carried to an air-gapped machine.

    File and directory modes (0600/0700) and mtimes are preserved. ``dst`` must
    not exist yet.

    Returns:
        ``dst``.
    """
    src, dst = Path(src), Path(dst)
    if dst.exists():
        raise FileExistsError(dst)
    # copytree copies each file with copy2 (mode + mtime) and applies copystat
    # to every directory, the top one included, after filling it.
    shutil.copytree(src, dst, symlinks=True, copy_function=shutil.copy2)
    return dst
