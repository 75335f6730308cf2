"""Root threshold 2 with the keys in two places (issue 9, item 3), against the real tools.

A Docker repository is made with the real ``docker trust``; holder A works on
the exported copy of its trust directory, holder B on a trust directory of its
own. Each makes a new root key with ``notary key generate`` in its own
directory; B hands A its root certificate (``offtrust key export --public
--gun``). A rotates the root to {A, B} with threshold 2 (``offtrust key
rotate``, signed by the old root key and A's) and stages it: one signature of
the two the new root needs. That bundle is refused by ``bundle verify`` and
``publish`` (naming root), and notary-server itself refuses the root's bytes.
B runs ``bundle sign`` on its own directory; the bundle then verifies,
publishes, and ``notary list`` from a directory pinned at the old root accepts
the new root and lists the tags.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from offtrust_helpers import (
    SMALL_REPO,
    pinned_notary_list,
    run_offtrust,
    served_root,
    server_args,
)
from realtools import (
    NotaryServer,
    TrustRepo,
    canonical_id_of_tuf_key,
    copy_trust_dir,
    run_notary,
)

pytestmark = pytest.mark.interop


def notary_root_key(trust_dir: Path, server: NotaryServer) -> str:
    """``notary key generate ecdsa --role root`` in *trust_dir*; the new key's ID."""
    proc = run_notary(trust_dir, "key", "generate", "ecdsa", "--role", "root", server=server)
    found = re.findall(r"\b[0-9a-f]{64}\b", proc.stdout + proc.stderr)
    assert found, proc.stdout + proc.stderr
    keyid = found[-1]
    assert (trust_dir / "private" / f"{keyid}.key").is_file()
    return keyid


def root_certificate(trust_dir: Path, keyid: str, gun: str, out: Path) -> Path:
    """The root certificate (CN=GUN) of a local root key, as ``notary init`` makes it."""
    run_offtrust(trust_dir, "key", "export", keyid, "--public", "--gun", gun, "--output", str(out))
    assert b"BEGIN CERTIFICATE" in out.read_bytes()
    return out


def bundled_root(bundle: Path, gun: str) -> bytes:
    return bundled_root_bytes(bundle.read_bytes(), gun)


def bundled_root_bytes(bundle_bytes: bytes, gun: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(bundle_bytes)) as tar:
        member = tar.extractfile(f"{gun}/root.json")
        assert member is not None
        return member.read()


def test_root_threshold_two_signed_in_two_trust_directories(
    make_docker_repo: Callable[..., TrustRepo], tmp_path: Path
) -> None:
    repo = make_docker_repo("threshold-root", **SMALL_REPO)
    gun, server = repo.gun, repo.server
    tags_before = pinned_notary_list(repo, tmp_path / "notary-before")
    v1 = served_root(server, gun)
    a_dir = copy_trust_dir(repo.trust_dir, tmp_path / "holder-a")
    b_dir = tmp_path / "holder-b"
    b_dir.mkdir(mode=0o700)

    # Each holder's new root key, made by notary in its own trust directory.
    a_key = notary_root_key(a_dir, server)
    b_key = notary_root_key(b_dir, server)
    a_cert = root_certificate(a_dir, a_key, gun, tmp_path / "a.crt")
    b_cert = root_certificate(b_dir, b_key, gun, tmp_path / "b.crt")

    # A rotates to {A, B}, threshold 2: signed by the old root key and A's only.
    rotated = run_offtrust(
        a_dir,
        "key",
        "rotate",
        gun,
        "root",
        "--key",
        str(a_cert),
        "--key",
        str(b_cert),
        "--threshold",
        "2",
    )
    assert "bundle sign" in rotated.stderr, rotated.stderr
    bundle = tmp_path / "ceremony.bundle"
    staged = run_offtrust(a_dir, "stage", gun, "--output", str(bundle))
    new_root = json.loads(bundled_root(bundle, gun))["signed"]
    assert new_root["roles"]["root"]["threshold"] == 2
    new_ids = new_root["roles"]["root"]["keyids"]
    assert len(new_ids) == 2
    (b_listed,) = [k for k in new_ids if canonical_id_of_tuf_key(new_root["keys"][k]) == b_key]
    # The warning says what is missing, which key may still sign, and the fix.
    assert f"may still sign: {b_listed[:12]}" in staged.stderr
    assert "root: pending signatures: 1 of 2 (new root), 1 of 1 (previous root" in staged.stderr
    assert f"a holder of those keys runs `offtrust bundle sign {bundle}`" in staged.stderr
    one_signature = bundle.read_bytes()

    # One signature of two: refused by bundle verify and publish, naming root ...
    refused = run_offtrust(a_dir, "bundle", "verify", str(bundle), check=False)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "root: pending signatures" in refused.stderr
    not_published = run_offtrust(a_dir, "publish", str(bundle), *server_args(server), check=False)
    assert not_published.returncode == 1, not_published.stdout + not_published.stderr
    assert "root: pending signatures" in not_published.stderr
    assert served_root(server, gun)["version"] == v1["version"]
    # ... and by notary-server itself.
    status, body = server.upload(gun, {"root": bundled_root(bundle, gun)})
    assert 400 <= status < 500, (status, body)
    assert served_root(server, gun)["version"] == v1["version"]

    # B adds its signature where its key is: in place, a new sha256.
    shown = json.loads(run_offtrust(b_dir, "bundle", "show", str(bundle), "--json").stdout)
    thresholds = shown["guns"][gun]["roles"]["root"]["thresholds"]
    assert [(t["label"], len(t["valid"]), t["threshold"]) for t in thresholds] == [
        ("new root", 1, 2),
        (f"previous root v{v1['version']}", 1, 1),
    ]
    signed = run_offtrust(b_dir, "bundle", "sign", str(bundle))
    digest = hashlib.sha256(bundle.read_bytes()).hexdigest()
    assert signed.stdout.strip() == f"sha256:{digest}  {bundle}"
    assert bundle.read_bytes() != one_signature
    shown = json.loads(run_offtrust(b_dir, "bundle", "show", str(bundle), "--json").stdout)
    assert all(t["met"] for t in shown["guns"][gun]["roles"]["root"]["thresholds"])
    # The root's content did not change; only a signature was added.
    before = json.loads(bundled_root_bytes(one_signature, gun))
    after = json.loads(bundled_root(bundle, gun))
    assert after["signed"] == before["signed"]
    assert len(after["signatures"]) == len(before["signatures"]) + 1

    run_offtrust(a_dir, "bundle", "verify", str(bundle))
    published = run_offtrust(a_dir, "publish", str(bundle), *server_args(server))
    assert f"{gun}: published" in published.stdout, published.stdout + published.stderr
    root = served_root(server, gun)
    assert root["version"] == v1["version"] + 1
    assert sorted(root["roles"]["root"]["keyids"]) == sorted(new_ids)
    # notary, pinned at the old root, accepts the new one and still lists the tags.
    assert pinned_notary_list(repo, tmp_path / "notary-after") == tags_before
