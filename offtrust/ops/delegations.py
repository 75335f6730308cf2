"""Signers and delegations, with Docker's and notary's semantics, staged offline."""

from __future__ import annotations

from dataclasses import dataclass

from offtrust.errors import ConflictError, NotFoundError, NothingToDoError, UsageError
from offtrust.model.keys import PublicKey
from offtrust.model.metadata import TARGETS, DelegatedRole, Targets
from offtrust.model.names import check_path, check_signer_name
from offtrust.model.roles import RELEASES
from offtrust.ops.context import Context
from offtrust.ops.edit import CommitResult, Editor, canonical_id, check_parent_exists
from offtrust.ops.verify import key_holders
from offtrust.store.keystore import PassphraseSource


def _add_role_keys(
    parent: Targets,
    role: str,
    keys: list[PublicKey],
    paths: list[str] | None,
    threshold: int | None,
    *,
    all_paths: bool = False,
) -> bool:
    """Add *keys* (and paths) to *role* in *parent*, creating it if needed.

    Returns:
        True when the role was created.
    """
    delegations = parent.delegations
    entry = delegations.get(role)
    created = entry is None
    if entry is None:
        entry = DelegatedRole(name=role, keyids=[], threshold=threshold or 1, paths=None)
        delegations.roles.append(entry)
    ids = entry.key_ids
    for key in keys:
        delegations.keys[key.keyid] = key
        if key.keyid not in ids:
            ids.append(key.keyid)
    entry.keyids = ids
    new_paths = list(entry.paths or [])
    for p in ([""] if all_paths else []) + list(paths or []):
        if p not in new_paths:
            new_paths.append(p)
    entry.paths = new_paths or None
    if threshold is not None:
        entry.threshold = threshold
    if entry.threshold > max(len(ids), 1):
        raise UsageError(
            f"threshold {entry.threshold} of {role} is more than its {len(ids)} key(s)"
        )
    return created


def _resolve_keyids(parent: Targets, entry: DelegatedRole, given: list[str]) -> list[str]:
    """TUF key IDs of *entry* matching the given IDs (TUF or canonical, or prefixes).

    Raises:
        NotFoundError: an ID matches none of the role's keys.
    """
    out = []
    for wanted in given:
        matches = []
        for keyid in entry.key_ids:
            key = parent.delegations.keys.get(keyid)
            cid = canonical_id(key) if key is not None else keyid
            if wanted in (keyid, cid) or (
                len(wanted) >= 8 and (keyid.startswith(wanted) or cid.startswith(wanted))
            ):
                matches.append(keyid)
        if not matches:
            raise NotFoundError(f"key {wanted} is not a key of {entry.name}")
        if len(matches) > 1:
            raise UsageError(f"key ID prefix {wanted} is ambiguous in {entry.name}")
        out.append(matches[0])
    return out


def _remove_keys(parent: Targets, entry: DelegatedRole, keyids: list[str]) -> None:
    remaining = [k for k in entry.key_ids if k not in keyids]
    # notary leaves `"keyids": null` once every key is gone (pitfall 13).
    entry.keyids = remaining or None
    parent.delegations.prune_unused_keys()


def _remove_role(editor: Editor, parent: Targets, role: str) -> None:
    parent.delegations.roles = [r for r in parent.delegations.roles if r.name != role]
    # Notary leaves `"roles": null` once its last delegation is removed.
    parent.delegations.roles_null = not parent.delegations.roles
    parent.delegations.prune_unused_keys()
    editor.drop_role(role)


@dataclass
class SignerResult:
    results: list[CommitResult]


def signer_add(
    ctx: Context, name: str, gun: str, keys: list[PublicKey], passphrases: PassphraseSource
) -> CommitResult:
    """``docker trust signer add``: *keys* into ``targets/NAME`` and ``targets/releases``.

    A GUN with no metadata is initialised offline first (see :mod:`offtrust.ops.init`).

    Raises:
        UsageError: bad signer name or no keys.
        MissingKeyError: the targets key is not local.
    """
    check_signer_name(name)
    if not keys:
        raise UsageError("give at least one --key")
    if not ctx.repos.has_gun(gun):
        from offtrust.ops.init import init_editor

        editor = init_editor(ctx, gun, passphrases)
    else:
        editor = Editor(ctx, gun, passphrases)
    targets = editor.targets(TARGETS)
    role = f"{TARGETS}/{name}"
    _add_role_keys(targets, role, keys, None, None, all_paths=True)
    _add_role_keys(targets, RELEASES, keys, None, None, all_paths=True)
    ids = ", ".join(k.keyid[:12] for k in keys)
    editor.note(f"signer add {name} ({ids})")
    editor.record({"op": "signer_add", "name": name, "keys": [k.to_dict() for k in keys]})
    return editor.commit()


def signer_remove(
    ctx: Context, name: str, gun: str, passphrases: PassphraseSource, *, force: bool = False
) -> CommitResult:
    """``docker trust signer remove``: drop ``targets/NAME`` and its keys from releases.

    Raises:
        NotFoundError: no such signer.
        ConflictError: the signer holds the last key of ``targets/releases``
            and *force* is False.
    """
    check_signer_name(name)
    editor = Editor(ctx, gun, passphrases)
    role = f"{TARGETS}/{name}"
    targets = editor.targets(TARGETS)
    entry = targets.delegations.get(role)
    if entry is None:
        raise NothingToDoError(f"no signer {name} in {gun}")
    releases = targets.delegations.get(RELEASES)
    if releases is not None:
        gone = [k for k in releases.key_ids if k in entry.key_ids]
        left = [k for k in releases.key_ids if k not in entry.key_ids]
        if gone and not left and not force:
            raise ConflictError(
                f"{name} holds the last key of {RELEASES} in {gun}: nobody could sign "
                "releases afterwards",
                hint="use --yes to remove it anyway",
            )
        if gone:
            _remove_keys(targets, releases, gone)
    _remove_role(editor, targets, role)
    editor.note(f"signer remove {name}")
    editor.record({"op": "signer_remove", "name": name, "force": force})
    warnings = _resign_after_key_removal(editor, [RELEASES])
    result = editor.commit()
    result.warnings += warnings
    return result


def _resign_after_key_removal(editor: Editor, roles: list[str]) -> list[str]:
    """Keep delegations whose signing key was removed validly signed, where the keys allow.

    Removing a key from a role does not change that role's own file; if the
    removed key was the one that signed it, clients stop trusting its tags.
    When the role's remaining keys are local (and its content is the one the
    trusted snapshot vouches for), the role is re-signed in the same edit.
    Otherwise it is staged as Docker leaves it, and the warning names who can
    fix it: a holder of one of the remaining keys, with ``witness``.

    Returns:
        What was done or must be done, one line per role.
    """
    from offtrust.model.verify import count_valid_signatures

    notes = []
    for role in roles:
        md = editor.state.get(role)
        if md is None or editor.state.delegation_entry(role) is None or role in editor.changed:
            continue
        keys, threshold = editor.role_keys(role)
        if len(count_valid_signatures(md, keys, editor.ctx.crypto)) >= threshold:
            continue
        report = editor.report
        resignable = report is None or report.is_resignable(role)
        if keys and resignable and editor.can_sign(role):
            editor.mark(role)
            editor.note(f"re-sign {role} with the remaining local keys")
            notes.append(f"{role}: re-signed with the remaining local keys")
            continue
        holders = key_holders(editor.state, keys)
        if not keys:
            notes.append(f"{role} has no keys left: add a signer (`offtrust signer add`)")
        elif not resignable:
            notes.append(
                f"{role} is no longer validly signed, and its file is not the one the trusted "
                f"snapshot records: fetch it again (`offtrust fetch {editor.gun} --server URL`) "
                f"and then re-sign it (`offtrust witness {editor.gun} {role}`)"
            )
        else:
            notes.append(
                f"{role} is no longer validly signed (its signing key was removed) and no "
                f"remaining key of it is local: it must be re-signed where a holder of "
                f"{holders} runs `offtrust witness {editor.gun} {role}`"
            )
    return notes


def delegation_add(
    ctx: Context,
    gun: str,
    role: str,
    keys: list[PublicKey],
    passphrases: PassphraseSource,
    *,
    paths: list[str] | None = None,
    all_paths: bool = False,
    threshold: int | None = None,
) -> CommitResult:
    """``notary delegation add``: create or extend a delegation.

    Raises:
        UsageError: invalid role name or path, missing parent, bad threshold,
            nothing to add.
    """
    if threshold is not None and threshold < 1:
        raise UsageError("--threshold must be at least 1")
    if all_paths and paths:
        raise UsageError("give --path or --all-paths, not both")
    for path in paths or []:
        check_path(path)
    editor = Editor(ctx, gun, passphrases)
    parent_name = check_parent_exists(editor.state, role)
    parent = editor.targets(parent_name)
    existing = parent.delegations.get(role)
    if existing is None and not keys:
        raise UsageError(f"a new delegation needs at least one --key ({role})")
    if not keys and not paths and not all_paths and threshold is None:
        raise UsageError("nothing to add: give --key, --path, --all-paths or --threshold")
    created = _add_role_keys(parent, role, keys, paths, threshold, all_paths=all_paths)
    what = "create" if created else "update"
    editor.note(f"delegation {what} {role} (+{len(keys)} key(s))")
    editor.record(
        {
            "op": "delegation_add",
            "role": role,
            "keys": [k.to_dict() for k in keys],
            "paths": list(paths or []),
            "all_paths": all_paths,
            "threshold": threshold,
        }
    )
    return editor.commit()


def delegation_remove(
    ctx: Context, gun: str, role: str, keyids: list[str], passphrases: PassphraseSource
) -> CommitResult:
    """``notary delegation remove``: the whole role, or only some of its keys.

    Raises:
        NothingToDoError: no such delegation (a skip across ``--all``).
        NotFoundError: no such key.
    """
    editor = Editor(ctx, gun, passphrases)
    found = editor.state.delegation_entry(role)
    if found is None:
        # Nothing to change: across --all this GUN is skipped, not failed.
        raise NothingToDoError(f"no delegation {role} in {gun}")
    parent_name, _ = found
    parent = editor.targets(parent_name)
    entry = parent.delegations.get(role)
    assert entry is not None
    if keyids:
        ids = _resolve_keyids(parent, entry, keyids)
        _remove_keys(parent, entry, ids)
        editor.note(f"delegation remove {role} keys {', '.join(k[:12] for k in ids)}")
        warnings = _resign_after_key_removal(editor, [role])
    else:
        _remove_role(editor, parent, role)
        editor.note(f"delegation remove {role}")
        warnings = []
    editor.record({"op": "delegation_remove", "role": role, "keyids": list(keyids)})
    result = editor.commit()
    result.warnings += warnings
    return result


def delegation_purge(
    ctx: Context, gun: str, keyid: str, passphrases: PassphraseSource
) -> CommitResult:
    """``notary delegation purge``: remove one key from every delegation of *gun*.

    Raises:
        NotFoundError: no delegation of the GUN lists the key.
    """
    editor = Editor(ctx, gun, passphrases)
    touched = []
    for parent_name, entry in list(editor.state.walk_delegations()):
        parent_md = editor.state.roles[parent_name]
        try:
            ids = _resolve_keyids(parent_md.signed, entry, [keyid])
        except NotFoundError:
            continue
        parent = editor.targets(parent_name)
        live = parent.delegations.get(entry.name)
        assert live is not None
        _remove_keys(parent, live, ids)
        touched.append(entry.name)
    if not touched:
        raise NothingToDoError(f"no delegation of {gun} lists key {keyid}")
    editor.note(f"delegation purge {keyid[:12]} from {', '.join(touched)}")
    editor.record({"op": "delegation_purge", "keyid": keyid})
    warnings = _resign_after_key_removal(editor, touched)
    result = editor.commit()
    result.warnings += warnings
    return result


def witness(
    ctx: Context, gun: str, roles: list[str], passphrases: PassphraseSource
) -> CommitResult:
    """``notary witness``: re-sign delegations with the valid local keys, version + 1.

    Raises:
        NothingToDoError: a role is not a delegation of *gun* or has no
            document (a skip across ``--all``).
        MissingKeyError: no local key of a role.
    """
    editor = Editor(ctx, gun, passphrases)
    for role in roles:
        if editor.state.delegation_entry(role) is None and role != TARGETS:
            raise NothingToDoError(f"no delegation {role} in {gun}")
        if editor.state.get(role) is None:
            raise NothingToDoError(f"{gun}: role {role} has no metadata to re-sign")
    for role in roles:
        editor.mark(role)
        editor.note(f"witness {role}")
    editor.record({"op": "witness", "roles": list(roles)})
    return editor.commit()
