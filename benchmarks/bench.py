#!/usr/bin/env python3
"""Speed of offtrust at scale: thousands of keys and repositories, 100,000 targets.

Builds a synthetic trust directory (valid, fully signed metadata; ed25519 keys
for speed, certificate-wrapped ECDSA root keys as notary requires), then times
the commands users run on large stores, through the real CLI entry point in a
subprocess so start-up is included:

    python benchmarks/bench.py                       # defaults below
    python benchmarks/bench.py --keys 5000 --repos 3000 --targets 100000

Nothing here is a pass/fail test: it prints a table of wall-clock times.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from offtrust import crypto
from offtrust.model.metadata import (
    ROOT,
    SNAPSHOT,
    TARGETS,
    TIMESTAMP,
    DelegatedRole,
    Delegations,
    Metadata,
    MetaFile,
    RoleKeys,
    Root,
    Signature,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from offtrust.model.timefmt import format_go_time
from offtrust.store._atomic import write_many
from offtrust.store.keystore import KeyStore
from offtrust.store.layout import TrustDir

PASSPHRASE = "bench-passphrase"  # throwaway keys of a synthetic store


def _sign(md: Metadata, keys: list[tuple[str, crypto.PrivateKey]]) -> bytes:
    message = md.signed_bytes()
    md.signatures = []
    for keyid, key in keys:
        method, sig = key.sign(message)
        md.signatures.append(Signature.from_bytes(keyid, method, sig))
    md.changed()
    return md.to_bytes()


def build_repo(
    trust: TrustDir, gun: str, root_key: crypto.PrivateKey, n_targets: int, now: datetime
) -> None:
    later = format_go_time(now + timedelta(days=365))
    cert = crypto.make_root_certificate(root_key, gun, now)
    t_key, s_key, ts_key, r_key = (
        crypto.ed25519_private_key_from_seed(os.urandom(32)) for _ in range(4)
    )
    pubs = {k: k.public_key() for k in (t_key, s_key, ts_key, r_key)}
    root = Root(
        version=1,
        expires=later,
        unrecognized={},
        keys={cert.keyid: cert, **{p.keyid: p for k, p in pubs.items() if k is not r_key}},
        roles={
            ROOT: RoleKeys([cert.keyid], 1),
            TARGETS: RoleKeys([pubs[t_key].keyid], 1),
            SNAPSHOT: RoleKeys([pubs[s_key].keyid], 1),
            TIMESTAMP: RoleKeys([pubs[ts_key].keyid], 1),
        },
    )
    files: dict[str, bytes] = {}
    files[ROOT] = _sign(Metadata(root, []), [(cert.keyid, root_key)])
    rel = pubs[r_key]
    targets = Targets(
        version=1,
        expires=later,
        unrecognized={},
        targets={},
        delegations=Delegations(
            keys={rel.keyid: rel}, roles=[DelegatedRole("targets/releases", [rel.keyid], 1, [""])]
        ),
    )
    files[TARGETS] = _sign(Metadata(targets, []), [(pubs[t_key].keyid, t_key)])
    digest = "q" * 43 + "="
    releases = Targets(
        version=1,
        expires=later,
        unrecognized={},
        delegations=Delegations(),
        targets={
            f"v{i}": TargetFile(length=1000 + i, hashes={"sha256": digest})
            for i in range(n_targets)
        },
    )
    files["targets/releases"] = _sign(Metadata(releases, []), [(rel.keyid, r_key)])
    snap = Snapshot(
        version=1,
        expires=later,
        unrecognized={},
        meta={r: MetaFile.for_bytes(files[r]) for r in files},
    )
    files[SNAPSHOT] = _sign(Metadata(snap, []), [(pubs[s_key].keyid, s_key)])
    ts = Timestamp(
        version=1,
        expires=later,
        unrecognized={},
        meta={SNAPSHOT: MetaFile.for_bytes(files[SNAPSHOT])},
    )
    files[TIMESTAMP] = _sign(Metadata(ts, []), [(pubs[ts_key].keyid, ts_key)])
    base = trust.published_dir(gun)
    write_many({TrustDir.role_file(base, r): d for r, d in files.items()})
    store = KeyStore(trust)
    store.save(r_key, role="releases-signer", passphrase=PASSPHRASE)
    store.save(t_key, role=TARGETS, gun=gun, passphrase=PASSPHRASE)


def build(path: Path, n_keys: int, n_repos: int, n_targets: int) -> TrustDir:
    trust = TrustDir(path)
    now = datetime.now(timezone.utc)
    root_key = crypto.generate_private_key("ecdsa")
    KeyStore(trust).save(root_key, role=ROOT, passphrase=PASSPHRASE)
    build_repo(trust, "example.com/big", root_key, n_targets, now)
    for i in range(n_repos - 1):
        build_repo(trust, f"example.com/team{i % 50}/app{i}", root_key, 3, now)
    store = KeyStore(trust)
    extra = max(0, n_keys - 2 * n_repos - 1)
    for i in range(extra):
        store.save(
            crypto.ed25519_private_key_from_seed(os.urandom(32)),
            role=f"signer{i}",
            passphrase=PASSPHRASE,
        )
    return trust


def timed(label: str, args: list[str], env: dict[str, str]) -> tuple[str, float, int]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "offtrust", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return label, time.perf_counter() - start, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=3000)
    parser.add_argument("--repos", type=int, default=1000)
    parser.add_argument("--targets", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="keep the synthetic trust dir")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="offtrust-bench-"))
    try:
        t0 = time.perf_counter()
        trust = build(tmp / "trust", args.keys, args.repos, args.targets)
        print(
            f"built {args.repos} repos, ~{args.keys} keys, {args.targets} targets "
            f"in {time.perf_counter() - t0:.1f}s at {trust.path}"
        )
        env = dict(
            os.environ,
            DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE=PASSPHRASE,
            DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE=PASSPHRASE,
        )
        d = ["-d", str(trust.path)]
        digest = "sha256:" + "ab" * 32
        runs = [
            ("--version (start-up)", ["--version"]),
            ("key list", [*d, "key", "list"]),
            ("key list --json", [*d, "key", "list", "--json"]),
            (f"verify big ({args.targets} targets)", [*d, "verify", "example.com/big"]),
            (f"inspect big ({args.targets} targets)", [*d, "inspect", "example.com/big"]),
            (
                "target add into big",
                [*d, "target", "add", "example.com/big", "new", "--digest", digest, "--size", "1"],
            ),
            ("stage big", [*d, "stage", "--output", str(tmp / "big.bundle")]),
            ("bundle verify big", ["bundle", "verify", str(tmp / "big.bundle")]),
            (f"verify --all ({args.repos} repos)", [*d, "verify", "--all"]),
        ]
        print(f"{'command':<40} {'seconds':>8}  exit")
        for label, argv in runs:
            name, seconds, code = timed(label, argv, env)
            print(f"{name:<40} {seconds:>8.2f}  {code}")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
