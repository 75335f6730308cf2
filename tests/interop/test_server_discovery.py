"""fetch and publish find the server, its CA and credentials as docker and notary do.

Against the real notary-server: no ``--server`` and no ``--tls-ca`` on the
command line; the server comes from ``DOCKER_CONTENT_TRUST_SERVER`` or from
notary's ``~/.notary/config.json``, the CA from ``$DOCKER_CONFIG/tls/<host:port>/``
(where docker trust looks) or from notary's ``root_ca``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from offtrust_helpers import SMALL_REPO, run_offtrust
from realtools import NotaryServer, TrustRepo, copy_trust_dir, install_docker_ca

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def repo(make_docker_repo: Callable[..., TrustRepo]) -> TrustRepo:
    return make_docker_repo("discovery", **SMALL_REPO)


def test_docker_s_variable_and_docker_s_ca_directory(
    repo: TrustRepo, notary_server: NotaryServer, tmp_path: Path
) -> None:
    trust = copy_trust_dir(repo.trust_dir, tmp_path / "trust")
    docker_config = tmp_path / "docker"
    install_docker_ca(docker_config, notary_server)
    env = {
        "DOCKER_CONTENT_TRUST_SERVER": notary_server.url,
        "DOCKER_CONFIG": str(docker_config),
        "HOME": str(tmp_path / "home"),
    }
    proc = run_offtrust(trust, "fetch", repo.gun, env=env)
    assert "fetched" in proc.stdout + proc.stderr

    # Without the CA where docker keeps it, TLS verification fails: the CA
    # above really was the one used.
    shutil.rmtree(docker_config / "tls")
    proc = run_offtrust(trust, "fetch", repo.gun, env=env, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr


def test_notary_s_config_file(repo: TrustRepo, notary_server: NotaryServer, tmp_path: Path) -> None:
    trust = copy_trust_dir(repo.trust_dir, tmp_path / "trust")
    home = tmp_path / "home"
    (home / ".notary").mkdir(parents=True)
    shutil.copyfile(notary_server.ca_file, home / ".notary" / "root-ca.crt")
    (home / ".notary" / "config.json").write_text(
        json.dumps({"remote_server": {"url": notary_server.url, "root_ca": "root-ca.crt"}})
    )
    env = {"HOME": str(home), "DOCKER_CONFIG": str(tmp_path / "no-docker")}
    proc = run_offtrust(trust, "fetch", repo.gun, env=env)
    assert "fetched" in proc.stdout + proc.stderr


def test_no_server_anywhere_is_one_clear_error(repo: TrustRepo, tmp_path: Path) -> None:
    trust = copy_trust_dir(repo.trust_dir, tmp_path / "trust")
    env = {"HOME": str(tmp_path / "home"), "DOCKER_CONFIG": str(tmp_path / "docker")}
    proc = run_offtrust(trust, "fetch", repo.gun, env=env, check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "offtrust: error: no Notary server given" in proc.stderr
    assert "DOCKER_CONTENT_TRUST_SERVER" in proc.stderr
