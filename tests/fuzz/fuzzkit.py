"""Shared pieces of the fuzz tests: the real data, its mutations, and the property.

**The data** is the real trust data of ``fixtures/example-trust`` (made by the
real notary and docker), a real bundle made from an edit of a copy of it, and
the example's key files.

**Mutations** are of three kinds, chosen by Hypothesis (so that failures
shrink to a small example):

- byte level: bit flips, truncations, cut-outs, duplicated runs, inserted bytes;
- JSON level: one value (or key) anywhere in the document replaced by a
  hostile one (an integer of 5,000 digits or past 2^63, a float, NaN, a lone
  surrogate, control characters, nesting 100,000 deep, a value of the wrong
  type), a member deleted or duplicated;
- generated documents and text from scratch.

**The property** (:func:`check`): a call returns, or raises an
:class:`~offtrust.errors.OfftrustError` with a non-empty one-line message,
a one-line hint if any, and ``exit_code`` 1 or 2. Anything else escapes and
fails the test with the falsifying input.

**Case counts** are set per test with :func:`cases`; ``OFFTRUST_FUZZ_SCALE``
multiplies them all (``OFFTRUST_FUZZ_SCALE=10`` for a longer local run, with
``HYPOTHESIS_PROFILE=explore`` for fresh random inputs instead of CI's fixed ones).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from builders import EXAMPLE_NOW, EXAMPLE_TRUST, REPOSITORY_PASSPHRASE, ROOT_PASSPHRASE
from hypothesis import settings
from hypothesis import strategies as st

from offtrust.errors import OfftrustError

T = TypeVar("T")

APP, TOOLS = "example.com/app", "example.com/tools"


# --------------------------------------------------------------------------- #
# Case counts and the property
# --------------------------------------------------------------------------- #


def scale() -> float:
    try:
        return max(float(os.environ.get("OFFTRUST_FUZZ_SCALE", "1")), 0.01)
    except ValueError:
        return 1.0


def cases(n: int) -> Callable[[T], T]:
    """``@settings(max_examples=n)``, scaled by ``OFFTRUST_FUZZ_SCALE``, for one test."""
    return settings(max_examples=max(1, int(n * scale())))


def check(call: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """Run *call*: it may return or raise an OfftrustError with the contract's form.

    Returns:
        The call's result, or None when it raised an OfftrustError.
    """
    try:
        return call(*args, **kwargs)
    except OfftrustError as e:
        check_error(e)
        return None


def check_error(e: OfftrustError) -> None:
    assert e.exit_code in (1, 2), (type(e).__name__, e.exit_code)
    message = e.message
    assert message, type(e).__name__
    assert "\n" not in message, message
    assert "\r" not in message, message
    if e.hint is not None:
        assert "\n" not in e.hint, e.hint


# --------------------------------------------------------------------------- #
# The real data
# --------------------------------------------------------------------------- #


def read_tree(path: Path) -> dict[str, bytes]:
    return {
        p.relative_to(path).as_posix(): p.read_bytes()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


@functools.cache
def example_files() -> dict[str, bytes]:
    """Every file of fixtures/example-trust, by relative path."""
    return read_tree(EXAMPLE_TRUST)


@functools.cache
def metadata_files() -> list[tuple[str, str, bytes]]:
    """(GUN, role, bytes) of every metadata file of the example."""
    out = []
    for name, data in sorted(example_files().items()):
        if name.startswith("tuf/") and name.endswith(".json"):
            gun, _, role = name[len("tuf/") : -len(".json")].partition("/metadata/")
            out.append((gun, role, data))
    return out


@functools.cache
def private_key_files() -> list[bytes]:
    return [data for name, data in sorted(example_files().items()) if name.endswith(".key")]


@functools.cache
def public_key_pems() -> list[bytes]:
    """Public keys as users hand them to `signer add --key`: PEM keys and root certificates."""
    from builders import EXAMPLE

    pems = []
    for gun in EXAMPLE["guns"].values():
        for keys in gun["signers"].values():
            pems.extend(k["public_key_pem"].encode() for k in keys)
    import base64

    for _, role, data in metadata_files():
        if role == "root":
            for key in json.loads(data)["signed"]["keys"].values():
                if key["keytype"].endswith("-x509"):
                    pems.append(base64.b64decode(key["keyval"]["public"]))
    return sorted(set(pems))


PASSPHRASES = {
    "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE": ROOT_PASSPHRASE,
    "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": REPOSITORY_PASSPHRASE,
}


def copy_example(dest: Path) -> Path:
    shutil.copytree(EXAMPLE_TRUST, dest)
    for p in [dest, *dest.rglob("*")]:
        p.chmod(0o700 if p.is_dir() else 0o600)
    return dest


@functools.cache
def real_bundle() -> bytes:
    """A bundle made by `stage` after an edit of a copy of the example (as in test_edit.py)."""
    from offtrust.ops.context import Context
    from offtrust.ops.delegations import witness
    from offtrust.ops.staging import build_bundle
    from offtrust.ops.targets import target_add
    from offtrust.passphrase import Passphrases
    from offtrust.store.layout import TrustDir

    with tempfile.TemporaryDirectory() as tmp:
        ctx = Context(TrustDir(copy_example(Path(tmp) / "trust")), clock=lambda: EXAMPLE_NOW)
        source = Passphrases(environ=PASSPHRASES, interactive=False)
        target_add(ctx, APP, "v2", "sha256:" + "cd" * 32, 42, source)
        witness(ctx, TOOLS, ["targets/releases"], source)
        data, _ = build_bundle(ctx)
    return data


# --------------------------------------------------------------------------- #
# Byte-level mutations
# --------------------------------------------------------------------------- #

# Strategies are built once: Hypothesis spends more on a new strategy object
# than on drawing from an existing one.
_KINDS = ("flip", "truncate", "cut", "duplicate", "insert", "set")
_SPECIAL_BYTES = (0x00, 0x22, 0x5C, 0x7B, 0x7D, 0x80, 0xFF, 0x0A)


def mutate_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    """*data* with one to a few byte-level changes, drawn with *draw*."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(_KINDS))
        size = len(out)
        if kind == "truncate":
            del out[draw(st.integers(0, size)) :]
            continue
        if size == 0:
            out += draw(st.binary(min_size=1, max_size=8))
            continue
        at = draw(st.integers(0, size - 1))
        if kind == "flip":
            out[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            out[at] = draw(st.sampled_from(_SPECIAL_BYTES))
        elif kind == "cut":
            del out[at : at + draw(st.integers(1, 64))]
        elif kind == "duplicate":
            out[at:at] = out[at : at + draw(st.integers(1, 64))]
        else:
            out[at:at] = draw(st.binary(min_size=1, max_size=16))
    return bytes(out)


# --------------------------------------------------------------------------- #
# JSON-level mutations
# --------------------------------------------------------------------------- #

# JSON text of hostile values. Written by hand: json.dumps cannot write most of them.
HOSTILE_VALUES: tuple[str, ...] = (
    "9" * 5000,  # over Python's 4,300-digit int limit
    "-" + "1" * 4400,
    "1" * 4000,  # under it, but past any float64
    str(2**53 + 1),
    str(2**63),
    str(-(2**63) - 1),
    "0",
    "-1",
    "1.5",
    "1.0",
    "-0.0",
    "1e400",
    "1e-400",
    "NaN",
    "Infinity",
    '""',
    '"\\ud800"',
    '"x\\udfff"',
    '"\\udcff\\udcfe"',
    '"\\u0000"',
    '"\\n"',
    '"\\u001b[31m"',
    '"\\u2028"',
    '"<&>"',
    '"é\\u00e9"',
    '"' + "a" * 70_000 + '"',
    "[" * 100 + "]" * 100,
    "[" * 2000 + "]" * 2000,
    "[" * 100_000 + "]" * 100_000,
    '{"a":' * 1500 + "1" + "}" * 1500,
    "null",
    "true",
    "false",
    "[]",
    "{}",
    '["x"]',
    '{"a":1}',
    '"2026-01-01T00:00:00Z"',
    '"9999-12-31T23:59:59-01:00"',
    '"0001-01-01T00:00:00+01:00"',
    '"0000-00-00T00:00:00Z"',
    '"Root"',
    '"Targets"',
    '"ecdsa-x509"',
    '"AAAA"',
    '"===="',
    '"targets/releases"',
    '"../../etc"',
)

# The values behind issue 7's finding 8, and their neighbours.
KNOWN_BREAKERS: tuple[str, ...] = (
    HOSTILE_VALUES[0],  # 5,000 digits
    HOSTILE_VALUES[2],  # 4,000 digits: past any float64
    '"\\ud800"',
    '"\\udcff\\udcfe"',
    "[" * 100_000 + "]" * 100_000,
    "[" * 2000 + "]" * 2000,
    '"9999-12-31T23:59:59-01:00"',
    '"0001-01-01T00:00:00+01:00"',
    "1e400",
)

HOSTILE_KEYS: tuple[str, ...] = (
    '"\\ud800"',
    '""',
    '"\\u0000"',
    '"../x"',
    '"' + "k" * 300 + '"',
    '"é"',
)

_JSON_KINDS = ("value", "value", "value", "key", "delete", "duplicate")
_MARK = "\x1e@fuzz@\x1e"
_MARK_JSON = json.dumps(_MARK)


def _paths(document: Any) -> list[tuple[Any, ...]]:
    """The path of every value in *document* (object keys and array indices)."""
    out: list[tuple[Any, ...]] = []
    stack: list[tuple[tuple[Any, ...], Any]] = [((), document)]
    while stack:
        path, node = stack.pop()
        out.append(path)
        if isinstance(node, dict):
            stack.extend(((*path, k), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend(((*path, i), v) for i, v in enumerate(node))
    return sorted((p for p in out if p), key=lambda p: [str(x) for x in p])


@functools.lru_cache(maxsize=64)
def _paths_of(data: bytes) -> tuple[tuple[Any, ...], ...]:
    return tuple(_paths(json.loads(data)))


def _parent(document: Any, path: tuple[Any, ...]) -> Any:
    node = document
    for part in path[:-1]:
        node = node[part]
    return node


def mutate_json(draw: st.DrawFn, data: bytes) -> bytes:
    """*data* (a JSON document) with one value, key or member changed."""
    document = json.loads(data)
    paths = _paths_of(data)
    path = paths[draw(st.integers(0, len(paths) - 1))]
    parent = _parent(document, path)
    last = path[-1]
    kind = draw(st.sampled_from(_JSON_KINDS))
    # Half the time one of the values that broke offtrust before (issue 7).
    pool = draw(st.sampled_from((KNOWN_BREAKERS, HOSTILE_VALUES)))
    replacement: str | None = draw(st.sampled_from(pool))
    if kind == "delete" or (kind in ("key", "duplicate") and not isinstance(parent, dict)):
        del parent[last]
        replacement = None
    elif kind == "key":
        # Rename the member to a hostile key.
        parent[_MARK] = parent.pop(last)
        replacement = draw(st.sampled_from(HOSTILE_KEYS))
    elif kind == "duplicate":
        # The same key twice: the text keeps both, the parser keeps the last.
        parent[_MARK] = parent[last]
        replacement = json.dumps(last)
    else:
        parent[last] = _MARK
    compact = draw(st.booleans())
    text = json.dumps(document, separators=(",", ":") if compact else None)
    if replacement is not None:
        text = text.replace(_MARK_JSON, replacement, 1)
    return text.encode("utf-8")


_HOW = ("bytes", "json", "json", "json+bytes")


def mutate(draw: st.DrawFn, data: bytes, *, is_json: bool = True) -> bytes:
    """A mutation of *data*: byte level, JSON level (for JSON), or both."""
    how = draw(st.sampled_from(_HOW)) if is_json else "bytes"
    if how == "bytes":
        return mutate_bytes(draw, data)
    mutated = mutate_json(draw, data)
    if how == "json+bytes":
        mutated = mutate_bytes(draw, mutated)
    return mutated


@st.composite
def mutated_choice(
    draw: st.DrawFn, items: tuple[tuple[Any, bytes], ...], is_json: bool = True
) -> tuple[Any, bytes]:
    """One of *items* ``(label, data)``, its data mutated: ``(label, mutated data)``."""
    label, data = items[draw(st.integers(0, len(items) - 1))]
    return label, mutate(draw, data, is_json=is_json)


# --------------------------------------------------------------------------- #
# Generated JSON
# --------------------------------------------------------------------------- #

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(
        ["Root", "Targets", "Snapshot", "Timestamp", "2030-01-01T00:00:00Z", "ecdsa", "AAAA"]
    ),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(
                st.text(max_size=10),
                st.sampled_from(
                    [
                        "signed",
                        "signatures",
                        "_type",
                        "version",
                        "expires",
                        "keys",
                        "roles",
                        "meta",
                        "targets",
                        "delegations",
                        "keyid",
                        "sig",
                        "method",
                        "hashes",
                        "length",
                        "threshold",
                        "keyids",
                        "keytype",
                        "keyval",
                        "public",
                        "paths",
                        "name",
                    ]
                ),
            ),
            children,
            max_size=5,
        ),
    ),
    max_leaves=25,
)
