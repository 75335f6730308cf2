"""Tags: the offline ``docker trust sign`` and ``docker trust revoke``."""

from __future__ import annotations

import base64
import re

from offtrust.errors import MissingKeyError, NotFoundError, NothingToDoError, UsageError
from offtrust.model.metadata import TARGETS, TargetFile
from offtrust.model.names import check_tag
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


def signable_roles(editor: Editor, tag: str) -> list[str]:
    """The roles ``docker trust sign`` signs *tag* into (docker/cli ``GetSignableRoles``).

    With no delegation, ``targets``. Otherwise every direct child of
    ``targets`` (``targets/releases`` and each signer's ``targets/NAME``) whose
    paths admit the tag and one of whose keys is local.

    Raises:
        MissingKeyError: there are delegations but no local key for any of them.
    """
    state = editor.state
    if not state.targets.signed.delegations.roles:
        return [TARGETS]
    roles = []
    for parent, entry in state.walk_delegations():
        if parent != TARGETS or not entry.matches(tag) or entry.name in roles:
            continue
        if editor.can_sign(entry.name):
            roles.append(entry.name)
    if not roles:
        raise MissingKeyError(
            f"{state.gun}: no valid signing keys for delegation roles (no local key of "
            f"{RELEASES} or of any signer)",
            hint="load a signer's key with `offtrust key load`, or name the role with --role",
        )
    return roles


def _check_role(editor: Editor, role: str, tag: str) -> None:
    """*role* exists and its paths admit *tag*.

    Raises:
        NotFoundError: no such delegation.
        UsageError: the tag lies outside the role's paths.
    """
    if role == TARGETS:
        return
    found = editor.state.delegation_entry(role)
    if found is None:
        raise NotFoundError(f"no delegation {role} in {editor.gun}")
    if not found[1].matches(tag):
        raise UsageError(f"tag {tag!r} lies outside the paths of {role}")


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
    """``docker trust sign``, offline: sign *tag* → *digest* (*size* bytes of manifest).

    Into every role Docker would sign it into (:func:`signable_roles`:
    ``targets/releases`` and each signer role whose key is local, so inspect
    names the signer), or only into *role*.

    Raises:
        UsageError: bad tag, digest or size, or the tag lies outside the role's paths.
        MissingKeyError: no role's key is local.
    """
    check_tag(tag)
    if size < 0:
        raise UsageError("--size must not be negative")
    raw = parse_digest(digest)
    editor = Editor(ctx, gun, passphrases)
    if role is not None:
        _check_role(editor, role, tag)
        roles = [role]
    else:
        roles = signable_roles(editor, tag)
    for name in roles:
        targets = editor.targets(name, create=True)
        # Docker push records only the manifest's sha256 and size.
        targets.files()[tag] = TargetFile(
            length=size, hashes={"sha256": base64.b64encode(raw).decode("ascii")}
        )
    editor.note(f"target add {tag} → {digest} into {', '.join(roles)}")
    editor.record({"op": "target_add", "tag": tag, "digest": digest, "size": size, "role": role})
    return editor.commit()


def target_remove(
    ctx: Context, gun: str, tag: str, passphrases: PassphraseSource, *, role: str | None = None
) -> CommitResult:
    """``docker trust revoke``, offline: remove *tag* from every role Docker can sign that holds it.

    That is ``targets/releases`` and each signer role whose key is local (or
    only *role*); the tag stays in roles whose keys are elsewhere, as Docker
    leaves it.

    Raises:
        NotFoundError: no such role.
        NothingToDoError: none of the roles holds the tag (a skip across ``--all``).
        MissingKeyError: no role's key is local.
    """
    editor = Editor(ctx, gun, passphrases)
    if role is not None:
        _check_role(editor, role, tag)
        candidates = [role]
    else:
        candidates = signable_roles(editor, tag)
    roles = [
        name
        for name in candidates
        if (md := editor.state.get(name)) is not None and tag in (md.signed.targets or {})
    ]
    if not roles:
        where = role or " or ".join(candidates)
        # Nothing to change: across --all this GUN is skipped, not failed.
        raise NothingToDoError(f"{where} of {gun} has no tag {tag!r}")
    for name in roles:
        del editor.targets(name).files()[tag]
    editor.note(f"target remove {tag} from {', '.join(roles)}")
    editor.record({"op": "target_remove", "tag": tag, "role": role})
    return editor.commit()
