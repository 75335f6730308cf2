"""The typer bounds of pyproject.toml are tested, not only stated.

pyproject.toml allows ``typer>=0.26.0,<0.27`` and says why in a comment; CI
only ever runs whatever pip picks (the newest 0.26.x). Here the help checks of
tests/unit/cli/test_errors.py (help rendered whole: no ``{name}``,
``<list[...]>``, escapes or wrong defaults; summaries whole at 80 columns; an
Example line) run again in a venv with typer pinned to the LOWER bound, and
with the first version the upper bound excludes, which must fail them (else the
bound is not needed). The venv sees this machine's packages (click, rich,
pytest, offtrust from the source tree), with only typer replaced.
"""

from __future__ import annotations

import os
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HELP_TESTS = "test_help_renders_cleanly or test_summaries_are_whole or test_help_has_an_example"

pytestmark = pytest.mark.packaging


def _pytest_with_typer(version: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env_dir = tmp_path / f"typer-{version}"
    venv.EnvBuilder(system_site_packages=True, with_pip=True, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    pip = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", f"typer=={version}"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if pip.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"cannot install typer=={version}:\n{pip.stderr}")
        pytest.skip(f"no package index here for typer=={version}")
    check = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('typer'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert check.stdout.strip() == version
    return subprocess.run(
        [
            str(python),
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/unit/cli/test_errors.py",
            "-k",
            HELP_TESTS,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
    )


def test_the_bounds_are_the_ones_tested_here() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert '"typer>=0.26.0,<0.27"' in text


def test_help_renders_whole_at_the_lower_bound(tmp_path: Path) -> None:
    proc = _pytest_with_typer("0.26.0", tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout


def test_the_first_excluded_version_breaks_help(tmp_path: Path) -> None:
    """The upper bound is needed: typer 0.27.0 fails the same help checks."""
    proc = _pytest_with_typer("0.27.0", tmp_path)
    assert proc.returncode == 1, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " failed" in proc.stdout
