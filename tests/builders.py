"""Small, deterministic TUF repositories built in memory for model tests.

Keys are Ed25519 from fixed seeds, except root keys: notary needs those as
X.509 certificates, which Ed25519 cannot have, so root keys are ECDSA wrapped
in a certificate made at the fixed :data:`NOW`. ECDSA signatures are random,
so tests verify signatures instead of comparing bytes.

Typical use::

    repo = RepoBuilder()
    repo.add_delegation("targets/releases", [delegation_key(1)])
    repo.add_target("targets/releases", "v1")
    state = repo.build()
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import shutil
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import Any

from offtrust import crypto
from offtrust.crypto import PrivateKey
from offtrust.model.keys import PublicKey
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
    Signed,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
    default_expiry,
)
from offtrust.model.repository import RepoState
from offtrust.model.timefmt import format_go_time, parse_go_time

NOW = datetime(2026, 11, 26, 20, 12, 13, tzinfo=timezone.utc)
GUN = "example.com/test"

# Seeds 1-99 are base-role keys, 100+ delegation keys: they never collide.
_BASE_SEEDS = {TARGETS: 1, SNAPSHOT: 2, TIMESTAMP: 3}


def ed25519_key(seed: int) -> PrivateKey:
    """A deterministic Ed25519 key; the same *seed* always gives the same key."""
    return crypto.ed25519_private_key_from_seed(hashlib.sha256(b"offtrust-%d" % seed).digest())


def delegation_key(n: int) -> PrivateKey:
    """The *n*-th deterministic delegation key."""
    return ed25519_key(100 + n)


_ROOT_KEYS: list[PrivateKey] = []


def root_key(n: int = 0) -> PrivateKey:
    """The *n*-th ECDSA root key, made once per test session (ECDSA cannot be seeded)."""
    while len(_ROOT_KEYS) <= n:
        _ROOT_KEYS.append(crypto.generate_private_key("ecdsa"))
    return _ROOT_KEYS[n]


def root_certificate(
    key: PrivateKey, gun: str = GUN, *, now: datetime = NOW, days: int = 3650
) -> PublicKey:
    """The ``ecdsa-x509`` public key of *key*, as ``notary init`` makes it at *now*."""
    return crypto.make_root_certificate(key, gun, now, days=days)


def sign_metadata(signed: Signed, signers: list[tuple[str, PrivateKey]]) -> Metadata[Any]:
    """An envelope for *signed* with one signature per ``(listed key ID, key)``."""
    md: Metadata[Any] = Metadata(signed=signed, signatures=[])
    message = md.signed_bytes()
    for keyid, key in signers:
        method, sig = key.sign(message)
        md.add_signature(Signature.from_bytes(keyid, method, sig))
    return md


def reparse(md: Metadata[Any], role: str) -> Metadata[Any]:
    """Serialize *md* and read it back, as the store would hand it over."""
    return Metadata.from_bytes(md.serialize(), role)


def _expires(role: str, now: datetime) -> str:
    return format_go_time(now + default_expiry(role))


@dataclass
class RepoBuilder:
    """A valid repository of one GUN, every part of which a test may change before building.

    Attributes:
        signed: the ``signed`` object of every role, by role name; change them freely.
        signers: who signs each role, as ``(key ID written in the signature, key)``;
            defaults to every key the role lists.
        meta_edits: by role, a change to the entry snapshot (or, for the
            snapshot, timestamp) records for it, applied to the computed entry.
    """

    gun: str = GUN
    now: datetime = NOW
    root_keys: list[PrivateKey] = field(default_factory=lambda: [root_key(0)])
    keys: dict[str, PrivateKey] = field(
        default_factory=lambda: {role: ed25519_key(seed) for role, seed in _BASE_SEEDS.items()}
    )
    signed: dict[str, Signed] = field(default_factory=dict)
    signers: dict[str, list[tuple[str, PrivateKey]]] = field(default_factory=dict)
    delegation_keys: dict[str, PrivateKey] = field(default_factory=dict)
    meta_edits: dict[str, Callable[[MetaFile], MetaFile]] = field(default_factory=dict)
    root_certs: dict[str, PublicKey] = field(default_factory=dict)

    def __post_init__(self) -> None:
        root = Root(version=1, expires=_expires(ROOT, self.now), unrecognized={})
        for key in self.root_keys:
            cert = root_certificate(key, self.gun, now=self.now)
            self.root_certs[cert.keyid] = cert
        root.keys = dict(self.root_certs)
        root.roles[ROOT] = RoleKeys(keyids=list(self.root_certs), threshold=1)
        for role, key in self.keys.items():
            public = key.public_key()
            root.keys[public.keyid] = public
            root.roles[role] = RoleKeys(keyids=[public.keyid], threshold=1)
        self.signed[ROOT] = root
        targets = Targets(version=1, expires=_expires(TARGETS, self.now), unrecognized={})
        targets.targets = {}
        targets.delegations = Delegations()
        self.signed[TARGETS] = targets

    # -- shaping the repository ------------------------------------------------

    @property
    def root(self) -> Root:
        return self.signed[ROOT]  # type: ignore[return-value]

    def targets(self, role: str = TARGETS) -> Targets:
        return self.signed[role]  # type: ignore[return-value]

    def set_root_certificate(self, cert: PublicKey, key: PrivateKey) -> None:
        """Replace the root keys by *cert* (whose private key is *key*)."""
        self.root_keys = [key]
        self.root_certs = {cert.keyid: cert}
        for old in self.root.roles[ROOT].keyids:
            self.root.keys.pop(old, None)
        self.root.keys[cert.keyid] = cert
        self.root.roles[ROOT].keyids = [cert.keyid]

    def add_delegation(
        self,
        name: str,
        keys: list[PrivateKey],
        *,
        paths: list[str] | None = None,
        threshold: int = 1,
        parent: str = TARGETS,
        with_file: bool = True,
    ) -> DelegatedRole:
        """Delegate *name* from *parent* to *keys*; by default also create its document."""
        delegations = self.targets(parent).delegations
        entry = DelegatedRole(
            name=name,
            keyids=[k.public_key().keyid for k in keys],
            threshold=threshold,
            paths=[""] if paths is None else paths,
        )
        for key in keys:
            delegations.keys[key.keyid] = key.public_key()
            self.delegation_keys[key.keyid] = key
        delegations.roles.append(entry)
        if with_file:
            doc = Targets(version=1, expires=_expires(name, self.now), unrecognized={})
            doc.targets = {}
            doc.delegations = Delegations()
            self.signed[name] = doc
        return entry

    def add_target(self, role: str, name: str, content: bytes = b"manifest") -> None:
        """Add a target as ``docker push`` records it: sha256 and length."""
        self.targets(role).files()[name] = TargetFile(
            length=len(content), hashes={"sha256": _b64(hashlib.sha256(content).digest())}
        )

    def expire(self, role: str, at: datetime) -> None:
        self.signed[role].set_expires(at)

    # -- signing ---------------------------------------------------------------

    def _default_signers(self, role: str) -> list[tuple[str, PrivateKey]]:
        if role == ROOT:
            return [
                (keyid, key)
                for keyid, key in zip(self.root_certs, self.root_keys, strict=True)
                if keyid in self.root.roles[ROOT].keyids
            ]
        if role in self.keys:
            return [(self.keys[role].keyid, self.keys[role])]
        for name, signed in self.signed.items():
            if not isinstance(signed, Targets):
                continue
            entry = signed.delegations.get(role)
            if entry is not None and name != role:
                return [
                    (keyid, self.delegation_keys[keyid])
                    for keyid in entry.key_ids
                    if keyid in self.delegation_keys
                ]
        return []

    def _sign(self, role: str) -> Metadata[Any]:
        signers = self.signers.get(role)
        if signers is None:
            signers = self._default_signers(role)
        return reparse(sign_metadata(self.signed[role], signers), role)

    def _entry(self, role: str, md: Metadata[Any]) -> MetaFile:
        entry = MetaFile.for_bytes(md.to_bytes())
        edit = self.meta_edits.get(role)
        return edit(entry) if edit is not None else entry

    def build(
        self, *, tamper: Callable[[dict[str, Metadata[Any]]], None] | None = None
    ) -> RepoState:
        """Sign everything and record snapshot and timestamp hashes of the final bytes.

        Args:
            tamper: called with the signed root/targets/delegation documents
                before snapshot and timestamp record them.
        """
        docs: dict[str, Metadata[Any]] = {}
        for role in self.signed:
            if role not in (SNAPSHOT, TIMESTAMP):
                docs[role] = self._sign(role)
        if tamper is not None:
            tamper(docs)

        snapshot = Snapshot(version=1, expires=_expires(SNAPSHOT, self.now), unrecognized={})
        if SNAPSHOT in self.signed:
            snapshot = self.signed[SNAPSHOT]  # type: ignore[assignment]
        snapshot.meta = {role: self._entry(role, md) for role, md in docs.items()}
        self.signed[SNAPSHOT] = snapshot
        docs[SNAPSHOT] = self._sign(SNAPSHOT)

        timestamp = Timestamp(version=1, expires=_expires(TIMESTAMP, self.now), unrecognized={})
        if TIMESTAMP in self.signed:
            timestamp = self.signed[TIMESTAMP]  # type: ignore[assignment]
        timestamp.meta = {SNAPSHOT: self._entry(SNAPSHOT, docs[SNAPSHOT])}
        self.signed[TIMESTAMP] = timestamp
        docs[TIMESTAMP] = self._sign(TIMESTAMP)

        state = RepoState(gun=self.gun)
        for role, md in docs.items():
            state.roles[role] = md
            state.published[role] = md
            state.sources[role] = "published"
        return state


def corrupt(b64: str) -> str:
    """*b64* with its first character changed: a different, still well-formed hash."""
    return ("B" if b64[0] == "A" else "A") + b64[1:]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# -- the example trust directory (fixtures/example-trust) -------------------------------

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
EXAMPLE_TRUST = FIXTURES / "example-trust"
SCHEMAS = FIXTURES.parent / "schemas"
#: What fixtures/example-trust.json says about the example (GUNs, key IDs, passphrases).
EXAMPLE: dict[str, Any] = json.loads((FIXTURES / "example-trust.json").read_text())
#: The time the example was made: its timestamps are 14 days from expiring.
EXAMPLE_NOW = parse_go_time(EXAMPLE["generated"])
ROOT_PASSPHRASE = EXAMPLE["passphrases_TEST_ONLY"]["DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE"]
REPOSITORY_PASSPHRASE = EXAMPLE["passphrases_TEST_ONLY"][
    "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE"
]


def read_tree(path: Path) -> dict[str, bytes]:
    """Every file under *path*, by relative POSIX path, with its bytes."""
    return {
        p.relative_to(path).as_posix(): p.read_bytes()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def copy_example(dest: Path) -> Path:
    """A writable copy of the example trust directory, with the tools' modes."""
    shutil.copytree(EXAMPLE_TRUST, dest)
    for p in [dest, *dest.rglob("*")]:
        p.chmod(0o700 if p.is_dir() else 0o600)
    return dest


# -- hostile ground: a command that blocks must fail, not hang --------------------------


class Hung(BaseException):
    """A command blocked (not an OSError: nothing may swallow it)."""


@contextlib.contextmanager
def deadline(seconds: float = 5.0) -> Iterator[None]:
    """Fail instead of hanging: a blocking open of a FIFO is interrupted."""

    def fire(signum: int, frame: FrameType | None) -> None:
        raise Hung(f"still blocked after {seconds} s")

    previous = signal.signal(signal.SIGALRM, fire)
    # Repeating: code that swallows the first interruption is interrupted again.
    signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
