"""key export / import / passwd against the real notary, notary-server and openssl.

- ``offtrust key export`` of a delegation key and a snapshot key, then
  ``notary key import`` of the file into a fresh notary trust directory, which
  then signs and publishes a tag with those keys; a fresh client lists it.
- ``offtrust key import`` of a key ``openssl`` made, stored so that notary lists
  it and signs with it.
- ``offtrust key passwd``: afterwards the old passphrase fails and the new one
  works, for offtrust, ``openssl pkey`` and notary signing.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from offtrust_helpers import notary_keys, notary_targets, run_offtrust
from realtools import (
    Passphrases,
    TrustRepo,
    copy_trust_dir,
    read_key_headers,
    run_notary,
    run_tool,
    tag_content,
    tool_env,
)

pytestmark = pytest.mark.interop

NEW = "offtrust-test-new-passphrase"


def add_tag(repo: TrustRepo, trust_dir: Path, tag: str, passphrases: Passphrases) -> bool:
    """``notary addhash`` TAG into targets/releases, then ``notary publish``: did it publish?"""
    content = tag_content(repo.gun, tag)
    digest = hashlib.sha256(content).hexdigest()
    run_notary(
        trust_dir,
        "addhash",
        repo.gun,
        tag,
        str(len(content)),
        "--sha256",
        digest,
        "-r",
        "targets/releases",
        server=repo.server,
        passphrases=passphrases,
    )
    proc = run_notary(
        trust_dir, "publish", repo.gun, server=repo.server, passphrases=passphrases, check=False
    )
    return proc.returncode == 0


def listed_tags(repo: TrustRepo, workdir: Path) -> dict[str, dict[str, object]]:
    """What a fresh notary client (empty trust dir) lists for the GUN."""
    fresh = workdir / f"fresh-{len(list(workdir.iterdir()))}"
    proc = run_notary(fresh, "list", repo.gun, server=repo.server, passphrases=repo.passphrases)
    return notary_targets(proc.stdout)


def strip_headers(path: Path, dest: Path) -> Path:
    """The PEM without its ``role:``/``gun:`` headers, which OpenSSL's PEM reader refuses."""
    lines = [line for line in path.read_text().splitlines() if ": " not in line]
    dest.write_text("\n".join(lines) + "\n")
    os.chmod(dest, 0o600)
    return dest


def openssl_opens(path: Path, passphrase: str, workdir: Path) -> bool:
    plain = strip_headers(path, workdir / "openssl-input.pem")
    proc = run_tool(
        ["openssl", "pkey", "-in", str(plain), "-passin", "env:OFFTRUST_TEST_PASS", "-noout"],
        env=tool_env(extra={"OFFTRUST_TEST_PASS": passphrase}),
        check=False,
    )
    return proc.returncode == 0


def test_export_is_imported_by_notary_which_signs_a_tag_with_it(
    make_notary_repo: Callable[..., TrustRepo], tmp_path: Path
) -> None:
    repo = make_notary_repo("keyexport")
    release = repo.signers["releases"][0].canonical_id
    out = tmp_path / "exported.pem"
    proc = run_offtrust(
        repo.trust_dir,
        "key",
        "export",
        release,
        repo.snapshot_key_id,
        "--output",
        str(out),
        passphrases=repo.passphrases,
    )
    assert proc.stderr.splitlines()[-1] == "done: 2 exported, 0 skipped, 0 failed"
    assert out.stat().st_mode & 0o777 == 0o600

    other = tmp_path / "other-notary"
    run_notary(other, "key", "import", str(out), server=repo.server, passphrases=repo.passphrases)
    keys = notary_keys(
        run_notary(other, "key", "list", server=repo.server, passphrases=repo.passphrases).stdout
    )
    assert keys == {release: "targets/releases", repo.snapshot_key_id: "snapshot"}
    assert read_key_headers(other / "private" / f"{repo.snapshot_key_id}.key") == {
        "gun": repo.gun,
        "role": "snapshot",
    }
    # Trust the GUN (first use), then sign and publish a tag with the imported keys.
    run_notary(other, "list", repo.gun, server=repo.server, passphrases=repo.passphrases)
    assert add_tag(repo, other, "exported-key", repo.passphrases)
    tags = listed_tags(repo, tmp_path)
    assert tags["exported-key"]["role"] == "targets/releases"


def test_import_of_an_openssl_key_is_listed_and_used_by_notary(
    make_notary_repo: Callable[..., TrustRepo], tmp_path: Path
) -> None:
    repo = make_notary_repo("keyimport")
    source = repo.signers["releases"][0].source_private_key
    assert source is not None
    # A fresh notary trust dir with offtrust's import of the delegation key and
    # notary's own export of the snapshot key.
    other = tmp_path / "other"
    snap = tmp_path / "snapshot.pem"
    run_notary(
        repo.trust_dir,
        "key",
        "export",
        "--key",
        repo.snapshot_key_id,
        "-o",
        str(snap),
        server=repo.server,
        passphrases=repo.passphrases,
    )
    run_notary(other, "key", "import", str(snap), server=repo.server, passphrases=repo.passphrases)
    os.chmod(source, 0o600)
    proc = run_offtrust(
        other,
        "key",
        "import",
        str(source),
        "--role",
        "targets/releases",
        passphrases=repo.passphrases,
    )
    keyid = proc.stdout.strip()
    assert keyid == repo.signers["releases"][0].canonical_id
    assert read_key_headers(other / "private" / f"{keyid}.key") == {"role": "targets/releases"}
    keys = notary_keys(
        run_notary(other, "key", "list", server=repo.server, passphrases=repo.passphrases).stdout
    )
    assert keys[keyid] == "targets/releases"
    run_notary(other, "list", repo.gun, server=repo.server, passphrases=repo.passphrases)
    assert add_tag(repo, other, "imported-key", repo.passphrases)
    assert "imported-key" in listed_tags(repo, tmp_path)


def test_passwd_old_passphrase_fails_new_one_works_everywhere(
    make_notary_repo: Callable[..., TrustRepo], tmp_path: Path
) -> None:
    repo = make_notary_repo("keypasswd")
    trust = copy_trust_dir(repo.trust_dir, tmp_path / "trust")
    release = repo.signers["releases"][0].canonical_id
    key_file = trust / "private" / f"{release}.key"
    headers = read_key_headers(key_file)
    old = repo.passphrases.delegation
    proc = run_offtrust(
        trust,
        "key",
        "passwd",
        release,
        env={"OFFTRUST_NEW_PASSPHRASE": NEW},
        passphrases=repo.passphrases,
    )
    assert proc.stderr.splitlines()[-1] == "done: 1 changed, 0 skipped, 0 failed"
    assert read_key_headers(key_file) == headers
    assert key_file.stat().st_mode & 0o777 == 0o600
    with_new = Passphrases(
        root=repo.passphrases.root,
        targets=repo.passphrases.targets,
        snapshot=repo.passphrases.snapshot,
        delegation=NEW,
    )

    # offtrust
    failed = run_offtrust(
        trust, "key", "export", release, "-o", "-", passphrases=repo.passphrases, check=False
    )
    assert failed.returncode == 1
    assert "wrong passphrase" in failed.stderr
    run_offtrust(trust, "key", "export", release, "-o", "-", passphrases=with_new)

    # openssl
    assert not openssl_opens(key_file, old, tmp_path)
    assert openssl_opens(key_file, NEW, tmp_path)

    # notary: signing a tag into targets/releases needs the key.
    assert not add_tag(repo, trust, "after-passwd", repo.passphrases)
    assert "after-passwd" not in listed_tags(repo, tmp_path)
    run_notary(trust, "publish", repo.gun, server=repo.server, passphrases=with_new)
    assert "after-passwd" in listed_tags(repo, tmp_path)
