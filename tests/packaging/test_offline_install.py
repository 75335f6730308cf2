"""offtrust itself crosses the air gap: wheels made online, installed with --no-index offline.

This is the README's recipe ("Carrying offtrust itself across the gap"): on a
networked machine ``pip wheel`` builds offtrust's wheel and fetches the wheels
of everything it needs; on the offline machine ``pip install --no-index
--find-links`` installs from that directory alone into a fresh venv, which
then runs offtrust's main job on the example trust directory. It needs the
package index once (to fetch the dependencies), so it skips locally without
one and fails under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.packaging


def _run(*cmd: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in cmd],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=900,
        check=False,
    )


def test_wheels_install_offline_into_a_fresh_venv(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    # Networked side, the README's two commands: offtrust's wheel, then the
    # wheels of its dependencies.
    built = _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", wheels, ROOT)
    assert built.returncode == 0, built.stdout + built.stderr
    built = _run(sys.executable, "-m", "pip", "download", "-q", "-d", wheels, ROOT)
    if built.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"pip wheel failed:\n{built.stdout}\n{built.stderr}")
        pytest.skip("no package index here to fetch the dependencies")
    names = sorted(p.name for p in wheels.glob("*.whl"))
    assert any(n.startswith("offtrust-") for n in names), names
    assert any(n.startswith("cryptography-") for n in names), names

    # Offline side: a fresh venv, nothing but the wheel directory.
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    installed = _run(
        python, "-m", "pip", "install", "-q", "--no-index", "--find-links", wheels, "offtrust"
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr

    offtrust = env_dir / "bin" / "offtrust"
    version = _run(offtrust, "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("offtrust ")

    trust = tmp_path / "trust"
    shutil.copytree(ROOT / "fixtures" / "example-trust", trust)
    # Run away from the source tree, so only the installed package can answer.
    verified = _run(offtrust, "-d", trust, "verify", "--all", cwd=tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "example.com/app: OK" in verified.stdout
    shown = _run(offtrust, "-d", trust, "inspect", "example.com/app", "--pretty", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "Signatures for example.com/app" in shown.stdout
