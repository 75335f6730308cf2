"""``inspect`` and ``delegation list``: what a repository says, as Docker shows it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from offtrust.model.metadata import ROOT, TARGETS
from offtrust.model.repository import RepoState
from offtrust.model.roles import RELEASES, signer_name
from offtrust.ops.natural import natural_key, natural_order

if TYPE_CHECKING:
    from offtrust.model.verify import VerificationReport
    from offtrust.ops.context import Context

REPO_ADMIN = "Repo Admin"


def _canonical_id(key: Any) -> str:
    from offtrust.crypto import canonical_keyid

    try:
        return canonical_keyid(key)
    except Exception:  # noqa: BLE001 - an unreadable certificate keeps its TUF ID
        return str(key.keyid)


def split_reference(reference: str) -> tuple[str, str | None]:
    """``GUN[:TAG]`` as Docker reads it: a ``:`` after the last ``/`` starts the tag.

    ``localhost:5000/app`` is a GUN (the colon is a port); ``example.com/app:v1``
    is the GUN ``example.com/app`` and the tag ``v1``.
    """
    head, slash, last = reference.rpartition("/")
    if ":" not in last:
        return reference, None
    name, _, tag = last.rpartition(":")
    return f"{head}{slash}{name}", tag


def inspect_repo(
    state: RepoState,
    *,
    tag: str | None = None,
    reference: str | None = None,
    trusted: set[str] | None = None,
) -> dict[str, Any]:
    """The document ``docker trust inspect GUN[:TAG]`` prints for *state*.

    Args:
        state: the repository (published with staged edits over it).
        tag: only this signed tag, as Docker does for ``GUN:TAG``.
        reference: the ``Name`` to print (Docker echoes the reference as typed).
        trusted: the roles that verified (expired ones included, so an expired
            collection stays inspectable for repair); tags and signers of any
            other role are left out, as Docker leaves them out. None: all roles.

    Raises:
        NotFoundError: the repository has no root or targets document.
    """
    root = state.root.signed
    state.targets  # noqa: B018 - raises a clear error when targets.json is missing

    def shown(role: str) -> bool:
        return trusted is None or role in trusted

    # Docker's rows: one per (tag, digest) of targets or targets/releases;
    # every other role that signed the same tag and digest is a signer of it.
    rows: dict[tuple[str, str], list[str]] = {}
    signed_by: list[tuple[str, list[tuple[str, str]]]] = []
    for role in state.targets_roles():
        if not shown(role):
            continue
        md = state.roles[role]
        entry = state.delegation_entry(role) if role != TARGETS else None
        files = md.signed.targets or {}
        if tag is not None:
            files = {tag: files[tag]} if tag in files else {}
        if entry is not None:
            matches = entry[1].matches
            found = [
                (name, target.sha256_hex() or "") for name, target in files.items() if matches(name)
            ]
        else:
            found = [(name, target.sha256_hex() or "") for name, target in files.items()]
        if role in (TARGETS, RELEASES):
            for row in found:
                rows.setdefault(row, [])
        else:
            signed_by.append((signer_name(role), found))
    for signer, found in signed_by:
        for row in found:
            if row in rows:
                rows[row].append(signer)
    keys = list(rows)
    signed_tags = []
    for i in natural_order([name for name, _ in keys]):
        name, digest = row = keys[i]
        signed_tags.append(
            {"SignedTag": name, "Digest": digest, "Signers": rows[row] or [REPO_ADMIN]}
        )

    signers: dict[str, list[str]] = {}
    for parent, delegated in state.walk_delegations():
        if delegated.name == RELEASES or not shown(parent):
            continue
        keys = state.roles[parent].signed.delegations.keys
        signers[signer_name(delegated.name)] = [
            _canonical_id(keys[k]) if k in keys else k for k in delegated.key_ids
        ]
    signer_list = []
    for name in sorted(signers, reverse=True):
        item: dict[str, Any] = {"Name": name}
        if signers[name]:
            item["Keys"] = [{"ID": k} for k in signers[name]]
        signer_list.append(item)

    admin = []
    for label, role in (("Root", ROOT), ("Repository", TARGETS)):
        role_keys = root.roles.get(role)
        admin_item: dict[str, Any] = {"Name": label}
        if role_keys and role_keys.keyids:
            admin_item["Keys"] = [{"ID": k} for k in role_keys.keyids]
        admin.append(admin_item)
    return {
        "Name": reference if reference is not None else state.gun,
        "SignedTags": signed_tags,
        "Signers": signer_list,
        "AdministrativeKeys": admin,
    }


@dataclass
class Inspection:
    """What ``inspect`` shows of one GUN, and the verification behind it.

    Attributes:
        doc: Docker's document, with tags of verified roles only.
        report: the verification of the GUN.
        hidden: roles with a document whose tags are left out because they
            failed verification (not merely expired).
        staged: roles shown from the staged layer (edits not yet published).
    """

    doc: dict[str, Any]
    report: VerificationReport
    hidden: list[str]
    staged: list[str]


def inspect_gun(
    ctx: Context, gun: str, *, tag: str | None = None, reference: str | None = None
) -> Inspection:
    """``docker trust inspect GUN[:TAG]``, offline: only tags of verified roles are shown.

    Raises:
        NotFoundError: no trust data for the GUN, or no root or targets document.
        InvalidMetadataError, UnreadableInputError: a file is broken.
    """
    from offtrust.ops.verify import verify_state

    state = ctx.repos.load(gun)
    report = verify_state(ctx, state)
    doc = inspect_repo(state, tag=tag, reference=reference, trusted=report.trusted)
    hidden = [r for r in state.targets_roles() if r not in report.trusted]
    return Inspection(doc=doc, report=report, hidden=hidden, staged=sorted(state.staged))


def json_chunks(docs: list[dict[str, Any]], batch: int = 2000) -> Iterator[str]:
    """``json.dumps(docs, indent=4, ensure_ascii=False)`` in pieces, written as made.

    The signed tags (100,000 of them in a big repository) are formatted by
    one template instead of a recursive encoder, *batch* at a time; the rest
    of each document goes through :func:`json.dumps` itself.
    """
    import json

    string = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) uses

    def dumps(value: Any, level: int) -> str:
        # Output strings hold no raw newline: re-indenting by newline is exact.
        text = json.dumps(value, indent=4, ensure_ascii=False)
        return text.replace("\n", "\n" + " " * (4 * level)) if level else text

    if not docs:
        yield "[]"
        return
    p12, p16, p20 = "\n" + " " * 12, "\n" + " " * 16, "\n" + " " * 20
    head = ["{" + p16 + '"SignedTag": ', "," + p16 + '"Digest": ', "," + p16 + '"Signers": ']
    fields = ["SignedTag", "Digest", "Signers"]

    def entry(item: Any) -> str:
        """One element of ``SignedTags``: by the template when it has the shape
        :func:`inspect_repo` makes (a non-string fails ``string``), else by
        :func:`json.dumps`."""
        if item.__class__ is dict and list(item) == fields:
            signers = item["Signers"]
            if signers.__class__ is list and signers:
                try:
                    return (
                        head[0]
                        + string(item["SignedTag"])
                        + head[1]
                        + string(item["Digest"])
                        + head[2]
                        + ("[" + p20 + ("," + p20).join(map(string, signers)) + p16 + "]")
                        + p12
                        + "}"
                    )
                except TypeError:
                    pass
        return dumps(item, 3)

    for n, doc in enumerate(docs):
        out = ["[\n    {" if n == 0 else ",\n    {"]
        for m, (key, value) in enumerate(doc.items()):
            out.append(("," if m else "") + "\n        " + string(key) + ": ")
            if key != "SignedTags" or value.__class__ is not list or not value:
                out.append(dumps(value, 2))
                continue
            out.append("[")
            for start in range(0, len(value), batch):
                part = "".join(out) + ("," if start else "") + p12
                yield part + ("," + p12).join(map(entry, value[start : start + batch]))
                out = []
            out.append("\n        ]")
        out.append("\n    }")
        yield "".join(out)
    yield "\n]"


def _table(rows: list[list[str]]) -> str:
    """Docker's tabwriter layout: min width 10, padding 3, last column bare."""
    if not rows:
        return ""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(max(widths[i] + 3, 10)) for i, cell in enumerate(row[:-1])]
        lines.append(("".join(cells) + row[-1]).rstrip())
    return "\n".join(lines) + "\n"


def format_pretty(doc: dict[str, Any]) -> str:
    """Docker's ``trust inspect --pretty`` layout for one inspected repository."""
    name = doc["Name"]
    out = []
    if doc["SignedTags"]:
        out.append(f"\nSignatures for {name}\n\n")
        rows = [["SIGNED TAG", "DIGEST", "SIGNERS"]]
        for tag in doc["SignedTags"]:
            signers = sorted(tag["Signers"])
            if signers == [REPO_ADMIN]:
                signers = [f"({REPO_ADMIN})"]
            rows.append([tag["SignedTag"], tag["Digest"], ", ".join(signers)])
        out.append(_table(rows))
    else:
        out.append(f"\nNo signatures for {name}\n\n")
    if doc["Signers"]:
        out.append(f"\nList of signers and their keys for {name}\n\n")
        rows = [["SIGNER", "KEYS"]]
        for signer in sorted(doc["Signers"], key=lambda s: natural_key(s["Name"])):
            keys = sorted(k["ID"] for k in signer.get("Keys", []))
            rows.append([signer["Name"], ", ".join(k[:12] for k in keys)])
        out.append(_table(rows))
    out.append(f"\nAdministrative keys for {name}\n\n")
    # Docker sorts these by TUF role name, descending: targets ("Repository
    # Key") before root ("Root Key"), unlike the JSON document's order.
    tuf_role = {"Root": ROOT, "Repository": TARGETS}
    for admin in sorted(doc["AdministrativeKeys"], key=lambda a: tuf_role[a["Name"]], reverse=True):
        label = {"Root": "Root Key", "Repository": "Repository Key"}[admin["Name"]]
        keys = sorted(k["ID"] for k in admin.get("Keys", []))
        out.append(f"  {label}:\t{', '.join(keys)}\n")
    return "".join(out)


def list_delegations(state: RepoState) -> list[dict[str, Any]]:
    """Every delegation of the repository, walk order, as ``notary delegation list``.

    Raises:
        NotFoundError: the repository has no targets document.
    """
    state.targets  # noqa: B018 - raises a clear error when targets.json is missing
    out = []
    for parent, entry in state.walk_delegations():
        keys = state.roles[parent].signed.delegations.keys
        out.append(
            {
                "role": entry.name,
                "parent": parent,
                "paths": list(entry.paths) if entry.paths is not None else [],
                "threshold": entry.threshold,
                "keyids": entry.key_ids,
                "canonical_keyids": [
                    _canonical_id(keys[k]) if k in keys else k for k in entry.key_ids
                ],
                "has_metadata": entry.name in state.roles,
                "targets": len(state.roles[entry.name].signed.targets or {})
                if entry.name in state.roles
                else 0,
            }
        )
    return out
