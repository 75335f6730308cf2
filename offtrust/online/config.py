"""Where the Notary server is and how to reach it, found as docker and notary find it.

Each setting comes from the first place that has it:

- the server: ``--server``, else ``DOCKER_CONTENT_TRUST_SERVER``, else
  ``remote_server.url`` of notary's ``~/.notary/config.json``;
- the CA: ``--tls-ca``, else ``$DOCKER_CONFIG/tls/<host:port>/ca.crt`` (where
  ``docker trust`` looks), else the notary config's ``remote_server.root_ca``;
- the client certificate: ``--tls-cert``/``--tls-key``, else ``client.cert``/
  ``client.key`` in that docker directory, else the notary config's
  ``tls_client_cert``/``tls_client_key``;
- credentials: ``NOTARY_AUTH`` (base64 ``user:pass``, as notary reads it);
- a proxy: ``HTTPS_PROXY`` (or ``https_proxy``), unless ``NO_PROXY`` names
  the host, read by the standard library's own rules.

Relative paths in notary's config are relative to the config file, as notary
reads them. Nothing here talks to the network.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offtrust.errors import UsageError

SERVER_VARIABLE = "DOCKER_CONTENT_TRUST_SERVER"
AUTH_VARIABLE = "NOTARY_AUTH"
#: The largest notary config file read.
MAX_CONFIG_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ServerSettings:
    """How to reach the Notary server, and where each setting came from.

    Attributes:
        url: the server URL.
        ca_file: CA certificates to verify it with (None: the system's).
        client_cert, client_key: a TLS client certificate and its key.
        username, password: credentials from ``NOTARY_AUTH`` (None when unset).
        proxy: the proxy URL to use for this server, or None.
        sources: for each setting found, where it came from (for messages).
    """

    url: str
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    proxy: str | None = None
    sources: dict[str, str] = field(default_factory=dict)


def _read_notary_config(path: Path) -> dict[str, Any]:
    """Notary's client config, or ``{}`` when there is none.

    Raises:
        UsageError: the file exists but is not a JSON object.
    """
    try:
        with path.open("rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise UsageError(f"{path}: cannot read: {e.strerror or e}") from e
    if len(data) > MAX_CONFIG_BYTES:
        raise UsageError(f"{path}: larger than {MAX_CONFIG_BYTES} bytes")
    try:
        config = json.loads(data)
    except (ValueError, RecursionError) as e:
        raise UsageError(f"{path}: not a JSON notary config") from e
    if not isinstance(config, dict):
        raise UsageError(f"{path}: not a JSON object")
    return config


def _config_path(value: object, config_file: Path, key: str) -> Path | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise UsageError(f"{config_file}: remote_server.{key} must be a path")
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else config_file.parent / path


def _host_port(url: str) -> str:
    """``host:port`` of *url*, as docker names its per-server TLS directory."""
    parts = urllib.parse.urlsplit(url if "://" in url else f"https://{url}")
    return parts.netloc.rsplit("@", 1)[-1]


def _decode_auth(value: str) -> tuple[str, str]:
    """``NOTARY_AUTH``: base64 of ``user:pass``.

    Raises:
        UsageError: not base64 of ``user:pass`` (the value is never shown).
    """
    try:
        text = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError) as e:
        raise UsageError(f"{AUTH_VARIABLE} is not base64 of user:password") from e
    user, sep, password = text.partition(":")
    if not sep or not user:
        raise UsageError(f"{AUTH_VARIABLE} is not base64 of user:password")
    return user, password


def resolve_server_settings(
    *,
    server: str | None = None,
    tls_ca: Path | None = None,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
) -> ServerSettings:
    """The server settings, each from the first place that has it (see the module docstring).

    Args:
        server, tls_ca, tls_cert, tls_key: what the command line gave.
        environ: the environment (``os.environ`` by default).
        home: the home directory (``~`` by default).

    Raises:
        UsageError: no server anywhere; only one of a client certificate and
            its key; an unreadable notary config or ``NOTARY_AUTH``.
    """
    env = os.environ if environ is None else environ
    home = home if home is not None else Path(env.get("HOME") or Path.home())
    docker_config = Path(env["DOCKER_CONFIG"]) if env.get("DOCKER_CONFIG") else home / ".docker"
    notary_file = home / ".notary" / "config.json"
    notary = _read_notary_config(notary_file)
    remote = notary.get("remote_server") or {}
    if not isinstance(remote, dict):
        raise UsageError(f"{notary_file}: remote_server must be an object")
    sources: dict[str, str] = {}

    url: str | None = None
    for value, source in (
        (server, "--server"),
        (env.get(SERVER_VARIABLE), SERVER_VARIABLE),
        (remote.get("url"), f"{notary_file} remote_server.url"),
    ):
        if isinstance(value, str) and value.strip():
            url, sources["server"] = value.strip(), source
            break
    if url is None:
        raise UsageError(
            "no Notary server given",
            hint=f"use --server URL, set {SERVER_VARIABLE}, or set remote_server.url in "
            f"{notary_file}",
        )

    docker_tls = docker_config / "tls" / _host_port(url)
    ca_file: Path | None = None
    if tls_ca is not None:
        ca_file, sources["ca"] = tls_ca, "--tls-ca"
    elif (docker_tls / "ca.crt").is_file():
        ca_file, sources["ca"] = docker_tls / "ca.crt", str(docker_tls / "ca.crt")
    else:
        ca_file = _config_path(remote.get("root_ca"), notary_file, "root_ca")
        if ca_file is not None:
            sources["ca"] = f"{notary_file} remote_server.root_ca"

    cert, key = tls_cert, tls_key
    if (cert is None) != (key is None):
        raise UsageError("give --tls-cert and --tls-key together")
    if cert is not None:
        sources["client_cert"] = "--tls-cert"
    elif (docker_tls / "client.cert").is_file() and (docker_tls / "client.key").is_file():
        cert, key = docker_tls / "client.cert", docker_tls / "client.key"
        sources["client_cert"] = str(docker_tls)
    else:
        cert = _config_path(remote.get("tls_client_cert"), notary_file, "tls_client_cert")
        key = _config_path(remote.get("tls_client_key"), notary_file, "tls_client_key")
        if (cert is None) != (key is None):
            raise UsageError(
                f"{notary_file}: remote_server needs both tls_client_cert and tls_client_key"
            )
        if cert is not None:
            sources["client_cert"] = f"{notary_file} remote_server"

    username = password = None
    if env.get(AUTH_VARIABLE):
        username, password = _decode_auth(env[AUTH_VARIABLE])
        sources["auth"] = AUTH_VARIABLE

    proxy = proxy_for(url, env)
    if proxy is not None:
        sources["proxy"] = "HTTPS_PROXY"
    return ServerSettings(
        url=url,
        ca_file=ca_file,
        client_cert=cert,
        client_key=key,
        username=username,
        password=password,
        proxy=proxy,
        sources=sources,
    )


def proxy_for(url: str, environ: Mapping[str, str]) -> str | None:
    """The proxy for *url* from ``HTTPS_PROXY``/``NO_PROXY``, by the standard library's rules.

    The variables are gathered as ``urllib.request.getproxies_environment``
    does (lower-case names win over upper-case ones), then
    ``urllib.request.proxy_bypass_environment`` applies ``NO_PROXY``.
    """
    proxies: dict[str, str] = {}
    for name, value in environ.items():
        if value and name.lower().endswith("_proxy") and name != name.lower():
            proxies[name.lower()[:-6]] = value
    for name, value in environ.items():
        if value and name.endswith("_proxy") and name == name.lower():
            proxies[name[:-6]] = value
    parts = urllib.parse.urlsplit(url)
    proxy = proxies.get(parts.scheme or "https")
    if not proxy:
        return None
    bypass = getattr(urllib.request, "proxy_bypass_environment")  # noqa: B009 - untyped in typeshed
    if bypass(parts.hostname or "", proxies):
        return None
    return proxy
