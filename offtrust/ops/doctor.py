"""``doctor``: an audit of the whole trust directory, read-only.

Each finding names its object, its problem and the command that fixes it.
Every finding is a problem (``doctor`` exits 1 when it finds any). The
kinds, and the rules behind them:

- ``unused-key``: a private key no metadata of any GUN lists (published,
  staged, or the root a staged deletion pins), by TUF or canonical key ID.
- ``no-local-key``: the root or targets role of a GUN none of whose keys is
  here, so it cannot be signed offline. Snapshot and timestamp keys are
  usually held by the server, and delegations usually belong to other
  people, so those roles are not reported.
- ``expiring`` / ``expired`` / ``verification``: what ``verify`` finds
  (metadata or certificates expiring within 30 days, expired, or failing a
  trust rule), with its fix; the timestamp's expiry is not a problem here
  (the server re-signs it whenever it is fetched).
- ``weak-rsa-key``: an RSA key under 2048 bits, in the key store (readable
  only for keys stored unencrypted) or listed in metadata.
- ``unencrypted-key``: a private key file stored without a passphrase.
- ``permissions``: a key file or directory of ``private/`` that group or
  other users may access (or a link or special file there).
- ``staged-not-bundled``: staged edits (or a staged deletion) that no
  ``stage`` packed since they last changed.
- ``bundled-not-published``: staged edits ``stage`` packed that the
  published state does not hold yet (they retire once ``fetch`` sees them).
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
from dataclasses import dataclass
from typing import Any

from offtrust.errors import InvalidKeyError, OfftrustError
from offtrust.model.keys import PublicKey
from offtrust.model.metadata import ROOT, TARGETS, TIMESTAMP
from offtrust.model.verify import EXPIRY, WARNING
from offtrust.ops.context import Context
from offtrust.ops.staging import pending_guns
from offtrust.ops.verify import verify_gun

UNUSED_KEY = "unused-key"
NO_LOCAL_KEY = "no-local-key"
EXPIRING = "expiring"
EXPIRED = "expired"
VERIFICATION = "verification"
WEAK_RSA_KEY = "weak-rsa-key"
UNENCRYPTED_KEY = "unencrypted-key"
PERMISSIONS = "permissions"
STAGED_NOT_BUNDLED = "staged-not-bundled"
BUNDLED_NOT_PUBLISHED = "bundled-not-published"

_SHORT_RSA = re.compile(r"RSA key of (\d+) bits is too short")


@dataclass(frozen=True)
class Finding:
    """One problem: what it is about, what is wrong, and the command that fixes it."""

    kind: str
    object: str
    problem: str
    fix: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "object": self.object, "problem": self.problem, "fix": self.fix}


@dataclass
class DoctorReport:
    findings: list[Finding]

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        return {"findings": [f.to_dict() for f in self.findings], "problems": len(self.findings)}


def doctor(ctx: Context) -> DoctorReport:
    """Audit the trust directory of *ctx* (see the module for every kind of finding).

    Returns:
        The findings, in a stable order (by kind as listed in the module,
        then object).

    Raises:
        Nothing of its own: a GUN that cannot be read is a finding.
    """
    findings: list[Finding] = []
    keys_in_use = _keys_in_use(ctx)
    findings += _key_findings(ctx, keys_in_use)
    findings += _permission_findings(ctx)
    for gun in ctx.trust.all_guns():
        findings += _gun_findings(ctx, gun)
    findings += _metadata_key_findings(ctx)
    findings += _staging_findings(ctx)
    order = {
        kind: n
        for n, kind in enumerate(
            (
                UNUSED_KEY,
                UNENCRYPTED_KEY,
                WEAK_RSA_KEY,
                PERMISSIONS,
                NO_LOCAL_KEY,
                EXPIRED,
                EXPIRING,
                VERIFICATION,
                STAGED_NOT_BUNDLED,
                BUNDLED_NOT_PUBLISHED,
            )
        )
    }
    unique = list(dict.fromkeys(findings))
    return DoctorReport(sorted(unique, key=lambda f: (order.get(f.kind, 99), f.object, f.problem)))


# -- keys -------------------------------------------------------------------------------


def _metadata_keys(ctx: Context) -> list[tuple[str, dict[str, Any]]]:
    """(key ID, key object) of every key listed in any metadata document, read raw.

    Raw, not verified: a key a broken document lists still counts as used
    (``verify`` reports the document).
    """
    found: list[tuple[str, dict[str, Any]]] = []
    documents = list(ctx.repos.metadata_documents())
    for gun in ctx.repos.deleted_guns():
        try:
            deletion = ctx.repos.deletion(gun)
        except OfftrustError:
            continue
        if deletion is not None:
            documents.append(deletion.trusted_root)
    for data in documents:
        try:
            signed = json.loads(data)["signed"]
            keys = dict(signed.get("keys") or {})
            keys.update((signed.get("delegations") or {}).get("keys") or {})
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            continue
        found += [(str(k), v) for k, v in keys.items() if isinstance(v, dict)]
    return found


def _keys_in_use(ctx: Context) -> set[str]:
    """Every key ID metadata lists, TUF and canonical."""
    from offtrust.crypto import canonical_keyid

    used: set[str] = set()
    for keyid, key in _metadata_keys(ctx):
        used.add(keyid)
        try:
            used.add(canonical_keyid(PublicKey.from_dict(key)))
        except Exception:  # noqa: BLE001, S112 - a broken key is verify's finding
            continue
    return used


def _key_findings(ctx: Context, used: set[str]) -> list[Finding]:
    from offtrust import crypto

    out = []
    for info in ctx.keys.list():
        label = f"key {info.keyid} ({info.role or 'no role'}{', ' + info.gun if info.gun else ''})"
        if info.keyid not in used:
            out.append(
                Finding(
                    UNUSED_KEY,
                    label,
                    "no metadata of any GUN lists this key",
                    f"offtrust key remove {info.keyid}",
                )
            )
        if info.encrypted:
            continue
        out.append(
            Finding(
                UNENCRYPTED_KEY,
                label,
                f"the private key in {info.location} is not encrypted",
                f"offtrust key passwd {info.keyid}",
            )
        )
        try:
            _, block = ctx.keys.read_private(info.keyid)
            crypto.decrypt_private_key(block, None)
        except InvalidKeyError as e:
            short = _SHORT_RSA.search(e.message)
            if short:
                out.append(
                    Finding(
                        WEAK_RSA_KEY,
                        label,
                        f"RSA key of {short.group(1)} bits (at least 2048 are needed)",
                        _replace_fix(info.keyid, used),
                    )
                )
        except OfftrustError:
            continue
    return out


def _replace_fix(keyid: str, used: set[str]) -> str:
    if keyid not in used:
        return f"offtrust key remove {keyid}"
    return (
        "replace it: `offtrust key rotate GUN ROLE` for a root, targets or snapshot key, "
        f"`offtrust delegation remove GUN ROLE {keyid}` then `offtrust delegation add` "
        "with a new key for a signer"
    )


def _metadata_key_findings(ctx: Context) -> list[Finding]:
    """RSA keys under 2048 bits listed in metadata (each key once)."""
    from offtrust import crypto

    out = []
    seen: set[str] = set()
    for keyid, key in _metadata_keys(ctx):
        keytype = str(key.get("keytype", ""))
        if not keytype.startswith("rsa") or keyid in seen:
            continue
        seen.add(keyid)
        try:
            public = str((key.get("keyval") or {}).get("public") or "")
            der = base64.b64decode(public)
            pem = (
                der
                if keytype.endswith("-x509")
                else crypto.encode_pem(crypto.PemBlock("PUBLIC KEY", {}, der))
            )
            crypto.load_public_key_pem(pem)
        except InvalidKeyError as e:
            short = _SHORT_RSA.search(e.message)
            if short:
                out.append(
                    Finding(
                        WEAK_RSA_KEY,
                        f"key {keyid} (listed in metadata)",
                        f"RSA key of {short.group(1)} bits (at least 2048 are needed)",
                        _replace_fix(keyid, {keyid}),
                    )
                )
        except (ValueError, TypeError, OfftrustError):
            continue
    return out


def _permission_findings(ctx: Context) -> list[Finding]:
    from offtrust.store.modes import key_store_modes

    out = []
    for entry in key_store_modes(ctx.trust):
        where = str(entry.path)
        if entry.kind == "dir":
            if entry.others_can_access:
                out.append(
                    Finding(
                        PERMISSIONS,
                        where,
                        f"key directory has mode {entry.mode & 0o777:04o}: "
                        "group or other users can access it",
                        f"chmod 700 {where}",
                    )
                )
        elif entry.kind == "file":
            if entry.others_can_access:
                out.append(
                    Finding(
                        PERMISSIONS,
                        where,
                        f"key file has mode {entry.mode & 0o777:04o}: "
                        "group or other users can access it",
                        f"chmod 600 {where}",
                    )
                )
        else:
            out.append(
                Finding(
                    PERMISSIONS,
                    where,
                    f"a {'symbolic link' if entry.kind == 'link' else 'special file'} "
                    "in the key store (offtrust and notary never follow or read it)",
                    f"rm {where}",
                )
            )
    return out


# -- GUNs -------------------------------------------------------------------------------


def _gun_findings(ctx: Context, gun: str) -> list[Finding]:
    out = []
    report = verify_gun(ctx, gun)
    for problem in report.problems:
        if problem.role == TIMESTAMP and problem.severity == WARNING:
            continue  # an old timestamp is normal offline: the server re-signs it
        if "expires soon" in problem.reason:
            kind = EXPIRING
        elif problem.kind == EXPIRY:
            kind = EXPIRED
        else:
            kind = VERIFICATION
        out.append(
            Finding(
                kind,
                f"{gun} {problem.role}",
                problem.reason,
                problem.fix or f"offtrust verify {gun}",
            )
        )
    try:
        state = ctx.repos.load(gun)
    except OfftrustError:
        return out  # the verification finding above says why
    root = state.roles.get(ROOT)
    if root is None:
        return out
    for role in (ROOT, TARGETS):
        keys: dict[str, PublicKey] = root.signed.role_keys(role)
        if keys and not _any_key_here(ctx, keys):
            hint = "--role root" if role == ROOT else f"--role targets --gun {gun}"
            out.append(
                Finding(
                    NO_LOCAL_KEY,
                    f"{gun} {role}",
                    f"no private key of the {role} role is here: it cannot be signed offline",
                    f"offtrust key import FILE {hint} (the key from where it is kept)",
                )
            )
    return out


def _any_key_here(ctx: Context, keys: dict[str, PublicKey]) -> bool:
    from offtrust.crypto import canonical_keyid

    for keyid, key in keys.items():
        ids = {keyid}
        with contextlib.suppress(OfftrustError):
            ids.add(canonical_keyid(key))
        if any(ctx.keys.has(i) for i in ids):
            return True
    return False


def _staging_findings(ctx: Context) -> list[Finding]:
    out = []
    for gun in pending_guns(ctx):
        what = "a deletion" if ctx.repos.deletion(gun) is not None else "edits"
        digest = ctx.repos.bundled(gun)
        if digest is None:
            out.append(
                Finding(
                    STAGED_NOT_BUNDLED,
                    gun,
                    f"{what} staged but not packed into a bundle",
                    f"offtrust stage {gun} --output BUNDLE",
                )
            )
        else:
            out.append(
                Finding(
                    BUNDLED_NOT_PUBLISHED,
                    gun,
                    f"{what} packed into bundle sha256:{digest} but not published yet",
                    f"offtrust publish BUNDLE (the one with sha256:{digest}), "
                    f"then offtrust fetch {gun}",
                )
            )
    return out
