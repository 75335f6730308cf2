"""Tags: the offline ``docker trust sign`` and ``docker trust revoke``."""

from __future__ import annotations

import base64
import re

from offtrust.errors import NotFoundError, UsageError
from offtrust.model.metadata import TARGETS, TargetFile
from offtrust.model.names import check_tag
from offtrust.model.repository import RepoState
from offtrust.model.roles import RELEASES
from offtrust.ops.context import Context
from offtrust.ops.edit import CommitResult, Editor
from offtrust.store.keystore import PassphraseSource

_DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")


def parse_digest(digest: str) -> bytes:
    """``sha256:<64 hex>`` → the 32 digest bytes.

    Raises:
        UsageError: not a sha256 digest.
    """
    m = _DIGEST.match(digest.strip().lower())
    if not m:
        raise UsageError(f"--digest must be sha256:<64 hex digits>, not {digest!r}")
    return bytes.fromhex(m.group(1))


def default_role(state: RepoState) -> str:
    """Docker's choice: ``targets/releases`` when delegated, ``targets`` when no delegation.

    Raises:
        UsageError: there are delegations but no ``targets/releases``.
    """
    if state.delegation_entry(RELEASES) is not None:
        return RELEASES
    if not state.targets.signed.delegations.roles:
        return TARGETS
    raise UsageError(
        f"{state.gun} has delegations but no {RELEASES}",
        hint="name the role with --role, or add a signer with `offtrust signer add`",
    )


def target_add(
    ctx: Context,
    gun: str,
    tag: str,
    digest: str,
    size: int,
    passphrases: PassphraseSource,
    *,
    role: str | None = None,
) -> CommitResult:
    """Sign *tag* → *digest* (``size`` bytes of manifest) into *role*.

    Raises:
        UsageError: bad tag, digest or size, or the tag lies outside the role's paths.
        MissingKeyError: the role's key is not local.
    """
    check_tag(tag)
    if size < 0:
        raise UsageError("--size must not be negative")
    raw = parse_digest(digest)
    editor = Editor(ctx, gun, passphrases)
    role = role or default_role(editor.state)
    if role != TARGETS:
        found = editor.state.delegation_entry(role)
        if found is None:
            raise NotFoundError(f"no delegation {role} in {gun}")
        if not found[1].matches(tag):
            raise UsageError(f"tag {tag!r} lies outside the paths of {role}")
    targets = editor.targets(role, create=True)
    # Docker push records only the manifest's sha256 and size.
    targets.files()[tag] = TargetFile(
        length=size, hashes={"sha256": base64.b64encode(raw).decode("ascii")}
    )
    editor.note(f"target add {tag} → {digest} into {role}")
    return editor.commit()


def target_remove(
    ctx: Context, gun: str, tag: str, passphrases: PassphraseSource, *, role: str | None = None
) -> CommitResult:
    """Remove *tag* from *role* (``docker trust revoke``).

    Raises:
        NotFoundError: the role does not hold the tag.
    """
    editor = Editor(ctx, gun, passphrases)
    role = role or default_role(editor.state)
    md = editor.state.get(role)
    if md is None or tag not in (md.signed.targets or {}):
        raise NotFoundError(f"{role} of {gun} has no tag {tag!r}")
    targets = editor.targets(role)
    del targets.files()[tag]
    editor.note(f"target remove {tag} from {role}")
    return editor.commit()
