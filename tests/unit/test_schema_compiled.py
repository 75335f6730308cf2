"""The ahead-of-time compiled schema checks (offtrust/_schema_checks.py).

They must give jsonschema's verdict (with offtrust's two deliberate
differences: JSON integers only, ECMA-262 ``$``) on every document, be exactly
what ``schemas/compile.py`` generates from the current schemas, and keep
jsonschema out of the process until a document is refused.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from notary_fixtures import compatibility_dir
from test_schema import ACCEPTED, BUILDERS, REJECTED, SRC, kind_of

from offtrust import _schema_checks, schema
from offtrust.errors import SchemaError

REPO = Path(__file__).resolve().parents[2]
KINDS = tuple(sorted(set(schema._schemas()) - schema._SHARED))

_SETTINGS = settings(
    max_examples=400,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _generator() -> ModuleType:
    path = REPO / "schemas" / "compile.py"
    spec = importlib.util.spec_from_file_location("compile_schemas", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference(kind: str, document: object) -> bool:
    """jsonschema's verdict: the reference validator, every ``$ref`` through the registry."""
    return bool(schema._validator(kind).is_valid(document))


def compiled(kind: str, document: object) -> bool:
    check = schema._compiled_check(kind)
    assert check is not None, "the compiled checks do not match the schemas"
    return check(document)


def assert_same_verdict(document: object, kinds: tuple[str, ...] = KINDS) -> None:
    for kind in kinds:
        expected = reference(kind, document)
        assert compiled(kind, document) == expected, (kind, document)
        # The whole yes/no path, with the fast targets map, agrees too.
        assert schema._is_valid(kind, document) == expected, (kind, document)


# --- the module is generated and cannot drift -------------------------------------


def test_the_checked_in_module_is_what_the_generator_produces() -> None:
    text = (REPO / "offtrust" / "_schema_checks.py").read_text(encoding="utf-8")
    assert text == _generator().generate(), "run: python3 schemas/compile.py"


def test_the_module_records_the_digests_of_the_current_schemas() -> None:
    assert schema._schema_digests() == _schema_checks.SCHEMA_SHA256
    assert set(_schema_checks.VALIDATORS) == set(KINDS)
    for kind in KINDS:
        assert schema._compiled_check(kind) is not None
    header = (REPO / "offtrust" / "_schema_checks.py").read_text(encoding="utf-8")[:2000]
    for name, digest in schema._schema_digests().items():
        assert f"#   {name}: {digest}\n" in header


def test_the_generated_module_needs_no_generator_at_run_time() -> None:
    text = (REPO / "offtrust" / "_schema_checks.py").read_text(encoding="utf-8")
    imports = {line for line in text.splitlines() if re.match(r"(import|from) ", line)}
    assert imports == {
        "import re",
        "from decimal import Decimal",
        "from typing import Any, Callable, Dict",
    }


def test_a_stale_module_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    digests = dict(schema._schema_digests())
    digests["common"] = "0" * 64
    monkeypatch.setattr(schema, "_schema_digests", lambda: digests)
    schema._compiled_check.cache_clear()
    try:
        assert schema._compiled_check("root") is None
        document = BUILDERS["root"]()
        schema.validate("root", document, source=SRC)
        document["signed"]["version"] = 1.0
        with pytest.raises(SchemaError, match=r"1\.0 is not of type 'integer'"):
            schema.validate("root", document, source=SRC)
    finally:
        schema._compiled_check.cache_clear()


def test_the_patterns_are_compiled_as_ecma_262() -> None:
    for source, compiled_pattern in _schema_checks.REGEX_PATTERNS.items():
        assert compiled_pattern.pattern == schema._compile(source).pattern
        assert "$" not in compiled_pattern.pattern.replace("\\$", "")


# --- the same verdict on real documents ---------------------------------------------


def _json_files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*.json")):
        if path.is_file() and not path.is_symlink():
            yield path


def _load(path: Path) -> object:
    try:
        return json.loads(path.read_bytes())
    except ValueError:
        return None


def _real_documents() -> list[tuple[str, object]]:
    docs = [(str(p.relative_to(REPO)), _load(p)) for p in _json_files(REPO / "fixtures")]
    docs += [(str(p.relative_to(REPO)), _load(p)) for p in _json_files(REPO / "tests")]
    return [(name, doc) for name, doc in docs if doc is not None]


def test_same_verdict_on_every_json_file_of_the_repository() -> None:
    documents = _real_documents()
    # fixtures/example-trust holds root, targets, delegation, snapshot and timestamp files.
    assert len(documents) >= 10
    valid = 0
    for _, document in documents:
        assert_same_verdict(document)
        valid += any(reference(kind, document) for kind in KINDS)
    assert valid >= 10


def test_same_verdict_on_notary_compatibility_fixtures() -> None:
    found = compatibility_dir()
    if not isinstance(found, Path):
        pytest.skip(f"notary's compatibility fixtures: {found}")
    files = list(_json_files(found))
    # The metadata of notary 0.1 and 0.3 (root, targets, snapshot, timestamp, a delegation).
    assert len([p for p in files if "/metadata/" in str(p)]) >= 9
    documents = [doc for p in files if (doc := _load(p)) is not None]
    assert sum(reference(kind, doc) for doc in documents for kind in KINDS) >= 9
    for document in documents:
        assert_same_verdict(document)


def test_same_verdict_on_the_schema_tests_documents() -> None:
    for name, build in BUILDERS.items():
        document = build()
        assert reference(kind_of(name), document)
        assert_same_verdict(document)
    for kind, mutate, _ in ACCEPTED:
        document = BUILDERS[kind]()
        mutate(document)
        assert reference(kind, document)
        assert_same_verdict(document)
    for kind, mutate, _ in REJECTED:
        document = BUILDERS[kind]()
        mutate(document)
        assert not reference(kind, document)
        assert_same_verdict(document)


def _real_manifest() -> dict[str, Any]:
    sys.path.insert(0, str(REPO / "tests" / "fuzz"))
    try:
        import fuzzkit
    finally:
        sys.path.remove(str(REPO / "tests" / "fuzz"))
    from offtrust.bundle import read_bundle

    return read_bundle(fuzzkit.real_bundle()).manifest


def test_same_verdict_on_bundle_manifests() -> None:
    manifest = _real_manifest()
    assert reference("bundle-manifest", manifest)
    assert_same_verdict(manifest)
    gun = next(iter(manifest["guns"]))
    variants: list[Any] = []
    for key, value in [
        ("delete", True),
        ("delete", False),
        ("delete", 1),
        ("trusted_root", None),
        ("trusted_root", "x"),
        ("trusted_root", 1.0),
    ]:
        variant = copy.deepcopy(manifest)
        variant["guns"][gun][key] = value
        variants.append(variant)
    for variant in variants:
        assert_same_verdict(variant)


# --- edge cases and the two deliberate differences ----------------------------------

EDGE_VALUES: list[object] = [
    True,
    False,
    0,
    1,
    -1,
    1.0,
    2.0,
    0.5,
    -0.0,
    2**53 + 1,
    2**64,
    10**40,
    -(10**40),
    None,
    "",
    "\n",
    "Root",
    "Targets",
    "Snapshot",
    "Timestamp",
    "targets/releases",
    "targets/releases\n",
    "2030-01-01T00:00:00Z",
    "2030-01-01T00:00:00Z\n",
    "2030-01-01T00:00:00.123456789+01:00",
    "२०३०-01-01T00:00:00Z",  # non-ASCII digits
    "AAAA",
    "AAAA\n",
    "AA==",
    "é",
    "\u2028",
    "a" * 64,
    "a" * 64 + "\n",
    "０" * 64,  # full-width digits
    [],
    [None],
    {},
    {"": None},
]


def _paths(document: object, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(document, dict):
        for key, value in document.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            out += _paths(value, (*prefix, index))
    return out


def _with(document: object, path: tuple[Any, ...], value: object) -> object:
    if not path:
        return value
    out = copy.deepcopy(document)
    node: Any = out
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return out


def _seed_documents() -> list[object]:
    docs: list[object] = [BUILDERS[name]() for name in sorted(BUILDERS)]
    docs += [d for _, d in _real_documents() if isinstance(d, dict) and "signed" in d][:12]
    docs.append(_real_manifest())
    return docs


SEEDS = _seed_documents()


@st.composite
def edge_mutation(draw: st.DrawFn) -> object:
    """A real or built document with one value set to an edge value, or a string suffixed."""
    document = SEEDS[draw(st.integers(0, len(SEEDS) - 1))]
    paths = _paths(document)
    path = paths[draw(st.integers(0, len(paths) - 1))]
    old: Any = document
    for part in path:
        old = old[part]
    how = draw(st.sampled_from(("edge", "suffix", "unicode", "int-float", "key")))
    if how == "suffix" and isinstance(old, str):
        value: object = old + draw(st.sampled_from(("\n", "\r\n", " ", "=", "\x00", "é")))
    elif how == "unicode" and isinstance(old, str) and old:
        at = draw(st.integers(0, len(old) - 1))
        value = old[:at] + draw(st.sampled_from(("é", "٣", "Ａ", "\n", "\u2028"))) + old[at + 1 :]
    elif how == "int-float" and isinstance(old, int) and not isinstance(old, bool):
        value = draw(st.sampled_from((float(old), old == 1, old + 2**64, -old)))
    elif how == "key" and path and isinstance(path[-1], str):
        parent_path, name = path[:-1], path[-1]
        parent: Any = document
        for part in parent_path:
            parent = parent[part]
        renamed = {
            (name + draw(st.sampled_from(("\n", "é", "X"))) if k == name else k): v
            for k, v in parent.items()
        }
        return _with(document, parent_path, renamed)
    else:
        value = draw(st.sampled_from(EDGE_VALUES))
    return _with(document, path, value)


@_SETTINGS
@given(edge_mutation())
def test_same_verdict_on_edge_mutations(document: object) -> None:
    assert_same_verdict(document)


@st.composite
def fuzz_mutation(draw: st.DrawFn) -> object:
    """The fuzz suite's JSON-level mutation of a real metadata file or manifest."""
    sys.path.insert(0, str(REPO / "tests" / "fuzz"))
    try:
        import fuzzkit
    finally:
        sys.path.remove(str(REPO / "tests" / "fuzz"))
    seed = SEEDS[draw(st.integers(0, len(SEEDS) - 1))]
    data = fuzzkit.mutate_json(draw, json.dumps(seed).encode())
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        assume(False)
        raise AssertionError("unreachable") from None


@_SETTINGS
@given(fuzz_mutation())
def test_same_verdict_on_fuzz_mutations(document: object) -> None:
    assert_same_verdict(document)


def test_the_two_deliberate_differences() -> None:
    root = BUILDERS["root"]()
    for value in (1.0, True, 2.0):
        document = _with(root, ("signed", "version"), value)
        assert not compiled("root", document)
    assert compiled("root", _with(root, ("signed", "version"), 2**70))
    expires = root["signed"]["expires"]
    assert not compiled("root", _with(root, ("signed", "expires"), expires + "\n"))
    kid = next(iter(root["signed"]["keys"]))
    keys = {kid + "\n": root["signed"]["keys"][kid]}
    assert not compiled("root", _with(root, ("signed", "keys"), keys))
    assert_same_verdict(_with(root, ("signed", "keys"), keys))


# --- messages and imports -----------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "mutate", "expected"), REJECTED, ids=[r[2][:50] for r in REJECTED]
)
def test_messages_are_jsonschemas(
    kind: str, mutate: Any, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = BUILDERS[kind]()
    mutate(document)
    with pytest.raises(SchemaError) as with_compiled:
        schema.validate(kind, document, source=SRC)
    monkeypatch.setattr(schema, "_compiled_check", lambda kind: None)
    with pytest.raises(SchemaError) as without:
        schema.validate(kind, document, source=SRC)
    assert str(with_compiled.value) == str(without.value) == f"{SRC}: {expected}"


def _imported(stderr: str) -> set[str]:
    """Module names from ``-X importtime`` output."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def _offtrust(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFTRUST_")}
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "offtrust", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_verify_all_imports_no_jsonschema() -> None:
    result = _offtrust("-d", "fixtures/example-trust", "verify", "--all")
    assert result.returncode == 0, result.stderr[-2000:]
    modules = _imported(result.stderr)
    assert "offtrust._schema_checks" in modules
    assert not {m for m in modules if m.split(".")[0] in ("jsonschema", "fastjsonschema")}


def test_an_invalid_document_still_gets_todays_message(tmp_path: Path) -> None:
    trust = tmp_path / "trust"
    shutil.copytree(REPO / "fixtures" / "example-trust", trust)
    for path in [trust, *trust.rglob("*")]:
        path.chmod(0o700 if path.is_dir() else 0o600)
    path = trust / "tuf" / "example.com" / "app" / "metadata" / "snapshot.json"
    document = json.loads(path.read_bytes())
    document["signed"]["version"] = 1.0
    path.write_text(json.dumps(document))
    result = _offtrust("-d", str(trust), "verify", "example.com/app")
    assert result.returncode != 0
    modules = _imported(result.stderr)
    assert "jsonschema" in modules
    assert "$.signed.version: 1.0 is not of type 'integer'" in result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.startswith("import time:")]
    error = next(line for line in lines if "1.0 is not of type" in line)
    source = error.split(": $.signed.version")[0].rsplit(": ", 1)[-1]
    with pytest.raises(SchemaError) as info:
        schema.validate("snapshot", document, source=source)
    assert str(info.value) in error
