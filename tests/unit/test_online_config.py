"""Finding the server, its CA, a client certificate, credentials and a proxy as docker does."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from offtrust.errors import UsageError
from offtrust.online.config import proxy_for, resolve_server_settings

URL = "https://notary.example.com:4443"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def notary_config(home: Path, remote: dict[str, object]) -> Path:
    path = home / ".notary" / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"remote_server": remote}))
    return path


def docker_tls(home: Path, *names: str) -> Path:
    directory = home / ".docker" / "tls" / "notary.example.com:4443"
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / name).write_text(name)
    return directory


def test_the_flag_wins(home: Path) -> None:
    notary_config(home, {"url": "https://from-config:1"})
    env = {"DOCKER_CONTENT_TRUST_SERVER": "https://from-env:2"}
    settings = resolve_server_settings(server=URL, environ=env, home=home)
    assert (settings.url, settings.sources["server"]) == (URL, "--server")


def test_then_docker_s_variable_then_notary_s_config(home: Path) -> None:
    notary_config(home, {"url": "https://from-config:1"})
    env = {"DOCKER_CONTENT_TRUST_SERVER": "https://from-env:2"}
    assert resolve_server_settings(environ=env, home=home).url == "https://from-env:2"
    assert resolve_server_settings(environ={}, home=home).url == "https://from-config:1"


def test_no_server_anywhere_names_every_place(home: Path) -> None:
    with pytest.raises(UsageError) as caught:
        resolve_server_settings(environ={}, home=home)
    assert "--server" in (caught.value.hint or "")
    assert "DOCKER_CONTENT_TRUST_SERVER" in (caught.value.hint or "")
    assert "config.json" in (caught.value.hint or "")


def test_the_ca_from_the_flag_then_docker_s_directory_then_notary_s_config(
    home: Path, tmp_path: Path
) -> None:
    config = notary_config(home, {"url": URL, "root_ca": "root-ca.crt"})
    settings = resolve_server_settings(environ={}, home=home)
    # Relative to the config file, as notary reads it.
    assert settings.ca_file == config.parent / "root-ca.crt"
    directory = docker_tls(home, "ca.crt")
    assert resolve_server_settings(environ={}, home=home).ca_file == directory / "ca.crt"
    flag = tmp_path / "mine.crt"
    assert resolve_server_settings(tls_ca=flag, environ={}, home=home).ca_file == flag


def test_docker_config_moves_docker_s_directory(home: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "dockercfg"
    directory = elsewhere / "tls" / "notary.example.com:4443"
    directory.mkdir(parents=True)
    (directory / "ca.crt").write_text("ca")
    env = {"DOCKER_CONFIG": str(elsewhere)}
    assert resolve_server_settings(server=URL, environ=env, home=home).ca_file == (
        directory / "ca.crt"
    )


def test_client_certificates(home: Path, tmp_path: Path) -> None:
    notary_config(home, {"url": URL, "tls_client_cert": "/c.pem", "tls_client_key": "/k.pem"})
    settings = resolve_server_settings(environ={}, home=home)
    assert (settings.client_cert, settings.client_key) == (Path("/c.pem"), Path("/k.pem"))
    directory = docker_tls(home, "client.cert", "client.key")
    settings = resolve_server_settings(environ={}, home=home)
    assert settings.client_cert == directory / "client.cert"
    assert settings.client_key == directory / "client.key"
    cert, key = tmp_path / "a.pem", tmp_path / "b.pem"
    settings = resolve_server_settings(tls_cert=cert, tls_key=key, environ={}, home=home)
    assert (settings.client_cert, settings.client_key) == (cert, key)
    with pytest.raises(UsageError, match="together"):
        resolve_server_settings(tls_cert=cert, environ={}, home=home)


def test_notary_auth(home: Path) -> None:
    token = base64.b64encode(b"alice:s3cret:with:colons").decode()
    settings = resolve_server_settings(server=URL, environ={"NOTARY_AUTH": token}, home=home)
    assert (settings.username, settings.password) == ("alice", "s3cret:with:colons")
    assert "s3cret" not in repr(settings)


def test_a_bad_notary_auth_is_refused_without_echoing_it(home: Path) -> None:
    with pytest.raises(UsageError) as caught:
        resolve_server_settings(server=URL, environ={"NOTARY_AUTH": "!!secret!!"}, home=home)
    assert "secret" not in caught.value.message


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"HTTPS_PROXY": "http://proxy:3128"}, "http://proxy:3128"),
        ({"https_proxy": "http://lower:1", "HTTPS_PROXY": "http://upper:2"}, "http://lower:1"),
        ({"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "example.com"}, None),
        ({"HTTPS_PROXY": "http://proxy:3128", "no_proxy": ".example.com"}, None),
        ({"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "other.org"}, "http://proxy:3128"),
        ({"HTTP_PROXY": "http://proxy:3128"}, None),
    ],
    ids=["none", "https", "lower-wins", "no-proxy", "no-proxy-domain", "other", "http-only"],
)
def test_proxies_follow_the_standard_library(environ: dict[str, str], expected: str | None) -> None:
    assert proxy_for(URL, environ) == expected


def test_a_broken_notary_config_is_one_clear_error(home: Path) -> None:
    path = home / ".notary" / "config.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(UsageError, match="not a JSON notary config"):
        resolve_server_settings(server=URL, environ={}, home=home)


def _self_signed(tmp_path: Path, name: str) -> tuple[Path, Path]:
    from datetime import datetime, timedelta, timezone

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.cert", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_the_transport_presents_a_client_certificate(tmp_path: Path) -> None:
    from offtrust.online.transport import Transport, ssl_context

    cert, key = _self_signed(tmp_path, "client")
    ssl_context(None, cert, key)  # loads
    Transport(client_cert=cert, client_key=key, proxy="http://127.0.0.1:9")
    _, other_key = _self_signed(tmp_path, "other")
    with pytest.raises(UsageError, match="cannot use the client certificate"):
        ssl_context(None, cert, other_key)
