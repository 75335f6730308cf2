"""Notary's own backwards-compatibility fixtures: trust dirs written by notary 0.1 and 0.3.

Debian's ``golang-github-docker-notary-dev`` ships them in
``/usr/share/gocode/src/github.com/<theupdateframework|docker>/notary/fixtures/compatibility``.
When the package is not installed, :func:`compatibility_dir` extracts it once
per test session (``apt-get download`` + ``dpkg -x`` into a temporary directory).

Passphrases are notary's own TEST-ONLY values (``client/backwards_compatibility_test.go``:
"randompass" for 0.1; the 0.3 keys open with "password", as in ``TestUpgradeFromNotary03``).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

PACKAGE = "golang-github-docker-notary-dev"
_GOCODE = Path("/usr/share/gocode/src/github.com")
_RELATIVE = ("theupdateframework/notary", "docker/notary")
_SUFFIX = Path("fixtures/compatibility")

#: fixture -> (GUN of its metadata, passphrase of every key in it). TEST ONLY.
FIXTURES = {
    "notary0.1": ("docker.com/notary0.1/samplerepo", "randompass"),
    "notary0.3": ("docker.com/notary0.3/tst", "password"),
}

_cache: dict[str, Path | str] = {}


def _find(root: Path) -> Path | None:
    for rel in _RELATIVE:
        candidate = root / rel / _SUFFIX
        if (candidate / "notary0.1").is_dir() and (candidate / "notary0.3").is_dir():
            return candidate
    return None


def _extract() -> Path | str:
    """The fixtures from the package extracted into a temporary directory, or why not."""
    if not (shutil.which("apt-get") and shutil.which("dpkg")):
        return "apt-get/dpkg not available"
    work = Path(tempfile.mkdtemp(prefix="offtrust-notary-fixtures-"))
    try:
        subprocess.run(
            ["apt-get", "download", "-qq", PACKAGE],
            cwd=work,
            check=True,
            capture_output=True,
            timeout=300,
        )
        (deb,) = work.glob(f"{PACKAGE}_*.deb")
        subprocess.run(
            ["dpkg", "-x", str(deb), str(work / "root")], check=True, capture_output=True
        )
    except (subprocess.SubprocessError, OSError, ValueError) as e:
        detail = getattr(e, "stderr", b"") or b""
        return f"cannot extract {PACKAGE}: {e} {detail.decode(errors='replace').strip()}"
    found = _find(work / "root" / _GOCODE.relative_to("/"))
    return found if found is not None else f"{PACKAGE} has no {_SUFFIX}"


def compatibility_dir() -> Path | str:
    """``fixtures/compatibility`` (installed, else extracted once per session), or why not."""
    if "dir" not in _cache:
        installed = _find(_GOCODE)
        _cache["dir"] = installed if installed is not None else _extract()
    return _cache["dir"]


def copy_fixture(name: str, dest: Path) -> Path:
    """A throwaway copy of fixture *name* (``notary0.1`` or ``notary0.3``) at *dest*."""
    found = compatibility_dir()
    assert isinstance(found, Path), found
    shutil.copytree(found / name, dest, symlinks=True)
    return dest


def tree_bytes(root: Path, *, skip: tuple[str, ...] = ()) -> dict[str, tuple[int, bytes]]:
    """Every entry below *root* (top-level names in *skip* left out): path -> (mode, bytes)."""
    out: dict[str, tuple[int, bytes]] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] in skip:
            continue
        st = path.lstat()
        out[rel.as_posix()] = (st.st_mode, path.read_bytes() if path.is_file() else b"")
    return out
