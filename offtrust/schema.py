"""JSON-schema checks of notary metadata against ``schemas/*.json``.

The schemas describe each file's whole envelope as notary 0.7 writes it and are
loaded once, from the ``offtrust.schemas`` package of an installed wheel or from
the ``schemas/`` folder of a source checkout. ``$ref`` between them resolves
through an in-memory registry, never the network.

Two deliberate differences from a plain ``Draft202012Validator``:

- ``integer`` means a JSON integer: ``1.0`` is refused, as Go refuses it for an
  ``int`` field.
- ``pattern`` follows ECMA-262, as JSON Schema asks: ``$`` matches only at the
  end of the string (Python's ``$`` also matches before a final newline).

A targets file's ``targets`` map is checked by a direct implementation of its
entry schema (jsonschema alone needs 14 s for 100,000 targets); the errors are
the same, see :func:`_iter_errors`.

The yes/no answer comes from offtrust/_schema_checks.py, generated ahead of
time from the same schemas by ``python3 schemas/compile.py`` (fastjsonschema,
with both differences above) and used only while its recorded schema digests
match the loaded schemas. ``jsonschema`` is imported only when a document is
refused, to name the error exactly as before (or when the compiled checks do
not match the schemas); tests on a fake filesystem call :func:`preload` first.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from offtrust.errors import InvalidMetadataError, SchemaError
from offtrust.model.canonical import has_lone_surrogate

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = ["loads_fast", "parse_and_validate", "preload", "validate", "warm_up"]

# The ``$id`` of schemas/common.json; no request is ever made to it.
_COMMON_URI = "https://offtrust.invalid/schemas/common.json"

# Files holding only shared ``$defs``; they are not documents one validates.
_SHARED = frozenset({"common"})

# Longest instance text kept in a message; longer reprs are cut with "...".
_MAX_REPR = 80
# Longest message overall, whatever jsonschema puts in it.
_MAX_MESSAGE = 300

# Validators whose failure is best explained by the subschema's ``title``.
_TITLED = frozenset({"pattern", "minLength", "maxLength"})

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def validate(kind: str, document: object, *, source: str) -> None:
    """Check *document* against ``schemas/<kind>.json``.

    Args:
        kind: The schema's file stem: ``root``, ``targets`` (also delegations),
            ``snapshot`` or ``timestamp``.
        document: The parsed JSON document.
        source: Where the document came from, used to start the message.

    Raises:
        SchemaError: The document does not match; the one-line message is
            ``"{source}: {json_path}: {message}"`` for the most relevant error.
        ValueError: There is no schema called *kind* (a programming error).
    """
    if _is_valid(kind, document):
        return
    error = _best_error(_iter_errors(kind, document))
    if error is not None:
        raise SchemaError(f"{source}: {_json_path(error.absolute_path)}: {_describe(error)}")


def parse_and_validate(kind: str, data: bytes, *, source: str) -> Any:
    """Parse JSON *data* (UTF-8) and check it against ``schemas/<kind>.json``.

    Duplicate object keys are accepted and the last one wins, as in Go.

    Args:
        kind: The schema's file stem, as for :func:`validate`.
        data: The file's bytes.
        source: Where the bytes came from, used to start every message.

    Returns:
        The parsed document.

    Raises:
        InvalidMetadataError: *data* is not UTF-8 or not JSON (``NaN`` and
            ``Infinity`` included, which Go refuses), holds a number of more
            digits than Python converts, a lone surrogate, or is nested
            too deeply.
        SchemaError: The document does not match its schema.
        ValueError: There is no schema called *kind* (a programming error).
    """
    document = _parse(data, source=source)
    try:
        validate(kind, document, source=source)
    except RecursionError:
        # orjson parses a few levels deeper (1,024) than json.loads does here;
        # such a document gets the exact parser's verdict.
        raise InvalidMetadataError(f"{source}: malformed JSON: nested too deeply") from None
    return document


def preload() -> None:
    """Read every schema and build every validator now instead of on first use.

    For tests that replace the filesystem (pyfakefs): jsonschema reads its own
    meta-schemas from disk when it is imported, and the schemas are read once.
    """
    import jsonschema.exceptions  # noqa: F401  (imported by _best_error())

    for kind in sorted(set(_schemas()) - _SHARED):
        _validator(kind)
        _inlined_validator(kind)
        _compiled_check(kind)
        _fast_map(kind)
    _common_validator("fileMeta")


def _best_error(errors: Iterable[Any]) -> Any:
    """The most relevant of *errors* (jsonschema's choice, a wrong ``_type`` first), or None."""
    from jsonschema.exceptions import best_match, relevance

    def key(error: Any) -> tuple[bool, Any]:
        # A wrong ``_type`` (say, a root file checked as targets) explains every
        # other error, however shallow those are.
        return list(error.absolute_path) == ["signed", "_type"], relevance(error)

    return best_match(errors, key=key)


def _iter_errors(kind: str, document: object) -> Iterator[Any]:
    """Every schema error of *document*, as ``jsonschema`` would report them.

    jsonschema needs about 140 µs per target entry, which is 14 s for a
    targets file with 100,000 tags. For the ``targets`` map, the rest of the
    document is validated by jsonschema with that map emptied, and each entry
    goes through :func:`_refused_file_metas`, a direct check of the same
    schema; only entries it refuses are handed to jsonschema, so the errors are
    exactly the ones a full validation yields.
    """
    validator = _validator(kind)
    fast = _fast_map(kind)
    entries = _get(document, fast) if fast else None
    if fast is None or not isinstance(entries, dict):
        yield from validator.iter_errors(document)
        return

    yield from validator.iter_errors(_replace(document, fast, {}))
    entry_validator = _common_validator("fileMeta")
    for name in _refused_file_metas(entries):
        for error in entry_validator.iter_errors(entries[name]):
            error.path.extendleft(reversed((*fast, name)))
            yield error


def _is_valid(kind: str, document: object) -> bool:
    """The quick yes/no answer of :func:`_iter_errors`, for the common valid case.

    Uses the compiled check of :func:`_compiled_check` (about 10x faster than
    jsonschema, and jsonschema is not even imported); without one, jsonschema
    on a copy of the schema with every ``$ref`` inlined (resolving references
    through the registry is most of jsonschema's cost on small documents).
    Errors are still produced by the reference validator, with their usual
    messages; tests/unit/test_schema_compiled.py checks the verdicts agree.
    """
    compiled = _compiled_check(kind)
    is_valid = compiled if compiled is not None else _inlined_validator(kind).is_valid
    fast = _fast_map(kind)
    entries = _get(document, fast) if fast else None
    if fast is None or not isinstance(entries, dict):
        return bool(is_valid(document))
    return bool(is_valid(_replace(document, fast, {}))) and not _refused_file_metas(entries)


def warm_up() -> None:
    """Load the compiled checks of every kind, and the fast parser, now rather than on first use.

    For a process about to fork worker processes: they then share what it
    loaded instead of each loading it for its first document.
    """
    for kind in _schemas():
        if kind not in _SHARED:
            _compiled_check(kind)
    _parse_fast(b"{}")


@functools.cache
def _compiled_check(kind: str) -> Callable[[object], bool] | None:
    """The ahead-of-time compiled yes/no check of *kind*, or None to use jsonschema.

    None when offtrust/_schema_checks.py was generated from other schemas than
    the ones loaded (a stale module never decides), or has no check for *kind*.
    """
    from offtrust import _schema_checks

    if _schema_digests() != _schema_checks.SCHEMA_SHA256:
        return None
    check = _schema_checks.VALIDATORS.get(kind)
    if check is None:
        return None
    refused = _schema_checks.JsonSchemaValueException

    def is_valid(document: object) -> bool:
        try:
            check(document)
        except refused:
            return False
        return True

    return is_valid


@functools.cache
def _schema_digests() -> dict[str, str]:
    """SHA-256 of each schema's sorted compact JSON, by file stem.

    schemas/compile.py records them in offtrust/_schema_checks.py.
    """
    schemas = _schemas()
    return {
        name: hashlib.sha256(
            json.dumps(schemas[name], sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
        for name in sorted(schemas)
    }


@functools.cache
def _inlined_validator(kind: str) -> Any:
    """A validator for ``schemas/<kind>.json`` with its references inlined."""
    _validator(kind)  # the same checks of *kind*
    return _validator_class()(_inline(_schemas()[kind], kind, 0))


def _inline(node: object, doc: str, depth: int) -> object:
    """*node* with each ``$ref`` (``#/...`` or ``<file>.json#/...``) replaced by its target."""
    if depth > 64:
        raise RuntimeError("schemas/ has a reference cycle")
    if isinstance(node, list):
        return [_inline(item, doc, depth + 1) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _inline(v, doc, depth + 1) for k, v in node.items() if k not in ("$ref", "$defs")}
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return out
    file, _, pointer = ref.partition("#")
    target_doc = file.removesuffix(".json").rsplit("/", 1)[-1] if file else doc
    target = _inline(_resolve_pointer(_schemas()[target_doc], "#" + pointer), target_doc, depth + 1)
    if not out:
        return target
    return {"allOf": [target, out]}


def _get(document: object, path: tuple[str, ...]) -> object:
    """The value at *path* in nested objects, or None."""
    for name in path:
        if not isinstance(document, dict):
            return None
        document = document.get(name)
    return document


def _replace(document: object, path: tuple[str, ...], value: object) -> object:
    """A copy of *document* with *path* set to *value*, copying only the objects on the path."""
    if not path or not isinstance(document, dict):
        return value
    copy = dict(document)
    copy[path[0]] = _replace(document[path[0]], path[1:], value)
    return copy


# Where a kind has a map of FileMeta entries big enough to need the fast path,
# and the subschema that map must have for the fast path to apply.
_FAST_MAPS: dict[str, tuple[tuple[str, ...], str]] = {
    "targets": (("signed", "targets"), "#/$defs/signed/properties/targets"),
}

# The schemas _refused_file_metas implements, without annotations. If a schema
# file changes, the fast path switches itself off (and a unit test fails).
_EXPECTED_FAST_SCHEMAS: dict[str, object] = {
    "map": {"type": "object", "additionalProperties": {"$ref": "common.json#/$defs/fileMeta"}},
    "fileMeta": {
        "type": "object",
        "required": ["hashes", "length"],
        "properties": {
            "custom": {},
            "hashes": {"$ref": "#/$defs/hashes"},
            "length": {"type": "integer", "minimum": 0},
        },
    },
    "hashes": {"type": "object", "additionalProperties": {"$ref": "#/$defs/base64"}},
    "base64": {
        "type": "string",
        "pattern": "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
    },
}

# The base64 pattern above, in a form Python's re runs twice as fast: given a
# length that is a multiple of 4, "alphabet then at most two '='" is the same set.
_BASE64_BODY = re.compile(r"[A-Za-z0-9+/]*={0,2}")

_ANNOTATIONS = frozenset({"title", "description", "$comment"})


def _strip(schema: object) -> object:
    """*schema* without annotation keywords."""
    if isinstance(schema, dict):
        return {k: _strip(v) for k, v in schema.items() if k not in _ANNOTATIONS}
    if isinstance(schema, list):
        return [_strip(v) for v in schema]
    return schema


@functools.cache
def _fast_map(kind: str) -> tuple[str, ...] | None:
    """The path of *kind*'s FileMeta map when the fast path applies to it, else None."""
    if kind not in _FAST_MAPS:
        return None
    path, pointer = _FAST_MAPS[kind]
    schemas = _schemas()
    common = schemas["common"]["$defs"]
    found: dict[str, object] = {
        "map": _resolve_pointer(schemas[kind], pointer),
        "fileMeta": common.get("fileMeta"),
        "hashes": common.get("hashes"),
        "base64": common.get("base64"),
    }
    if any(_strip(found[k]) != v for k, v in _EXPECTED_FAST_SCHEMAS.items()):
        return None
    return path


def _resolve_pointer(schema: dict[str, Any], pointer: str) -> object:
    node: object = schema
    for part in pointer.removeprefix("#/").split("/"):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _refused_file_metas(entries: dict[str, object]) -> list[str]:
    """Names of the *entries* that do not match ``common.json#/$defs/fileMeta``.

    A direct, exact implementation of that schema (see _EXPECTED_FAST_SCHEMAS).
    """
    is_base64_body = _BASE64_BODY.fullmatch
    refused = []
    for name, entry in entries.items():
        if type(entry) is dict:
            hashes = entry.get("hashes")
            length = entry.get("length")
            if type(hashes) is dict and type(length) is int and length >= 0:
                for value in hashes.values():
                    if type(value) is not str or len(value) % 4 or not is_base64_body(value):
                        break
                else:
                    continue
        refused.append(name)
    return refused


# Every digit made "0", so a run of 19 zeros marks 19 digits in a row: maybe an
# integer beyond 64 bits, which orjson parses as a float (10x faster than a regex).
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGITS = b"0" * 19
_orjson_loads: Any = None


def _parse_fast(data: bytes) -> tuple[bool, Any]:
    """``(True, document)`` from orjson when json.loads would give the same, else ``(False, None)``.

    orjson refuses everything the exact path refuses (invalid UTF-8, a byte
    order mark, NaN/Infinity, control characters in strings, lone surrogates
    escaped or not, trailing data), keeps the last of duplicate keys as
    json.loads does, and differs only on integers beyond 64 bits (it makes
    floats of them), which send the bytes to the exact path. Every failure
    goes there too, for its precise message.
    """
    global _orjson_loads
    if _orjson_loads is None:
        try:
            import orjson
        except ImportError:  # pragma: no cover - a dependency; only a broken install
            _orjson_loads = False
        else:
            _orjson_loads = orjson.loads
    if _orjson_loads is False or data.translate(_DIGITS_TO_ZERO).find(_LONG_DIGITS) >= 0:
        return False, None
    try:
        return True, _orjson_loads(data)
    except (ValueError, RecursionError):  # orjson.JSONDecodeError is a ValueError
        return False, None


def loads_fast(data: bytes) -> tuple[bool, Any]:
    """``(True, json.loads(data))`` computed fast when that is certain, else ``(False, None)``.

    For callers with their own exact path (and messages) to fall back to.
    """
    return _parse_fast(data)


def _parse(data: bytes, *, source: str) -> Any:
    """Decode strict UTF-8 JSON; every failure becomes one InvalidMetadataError."""
    parsed, document = _parse_fast(data)
    if parsed:
        return document
    return _parse_exact(data, source=source)


def _parse_exact(data: bytes, *, source: str) -> Any:
    """The reference parser (json.loads), with a precise message for each failure."""
    prefix = f"{source}: malformed JSON"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line, column = _position(data, e.start)
        raise InvalidMetadataError(
            f"{prefix}: invalid UTF-8 byte 0x{data[e.start]:02x} (line {line} column {column})"
        ) from e

    if text.startswith("\ufeff"):
        # Go refuses it too ("invalid character 'ï' looking for beginning of value").
        raise InvalidMetadataError(f"{prefix}: UTF-8 byte order mark (line 1 column 1)")

    def refuse_constant(name: str) -> Any:
        raise InvalidMetadataError(f"{prefix}: {name} is not a JSON value")

    try:
        document = json.loads(text, parse_constant=refuse_constant)
    except json.JSONDecodeError as e:
        raise InvalidMetadataError(f"{prefix}: {e.msg} (line {e.lineno} column {e.colno})") from e
    except RecursionError as e:
        raise InvalidMetadataError(f"{prefix}: nested too deeply") from e
    except ValueError as e:
        # int() refuses to convert more digits than sys.get_int_max_str_digits().
        raise InvalidMetadataError(f"{prefix}: a number has too many digits") from e
    if has_lone_surrogate(text, document):
        raise InvalidMetadataError(
            f"{prefix}: a string holds a lone surrogate escape (\\ud800-\\udfff), which is not text"
        )
    return document


def _position(data: bytes, offset: int) -> tuple[int, int]:
    """Line and column (in characters, from 1) of byte *offset* in *data*."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    # Everything before the first bad byte decodes, so the column counts characters.
    column = len(data[line_start:offset].decode("utf-8", errors="replace")) + 1
    return data.count(b"\n", 0, offset) + 1, column


def _json_path(path: Iterable[str | int]) -> str:
    """A JSONPath such as ``$.signed.targets['v1.0'].length``."""
    parts = ["$"]
    for element in path:
        if isinstance(element, int):
            parts.append(f"[{element}]")
        elif _IDENTIFIER.fullmatch(element):
            parts.append(f".{element}")
        else:
            parts.append(f"[{_quote(element)}]")
    return "".join(parts)


def _quote(name: str) -> str:
    """*name* in single quotes, unprintable characters escaped so it stays on one line."""
    out = []
    for char in name:
        if char in "\\'":
            out.append("\\" + char)
        elif char.isprintable():
            out.append(char)
        else:
            out.append(json.dumps(char)[1:-1])  # \n, \t, \u2028 ...
    return "'" + "".join(out) + "'"


def _short_repr(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 3] + "..."


def _describe(error: Any) -> str:
    """One line explaining *error*, a ``jsonschema.ValidationError``."""
    instance = error.instance
    shown = "the value" if _may_hold_private_key(error) else _short_repr(instance)
    title = error.schema.get("title") if isinstance(error.schema, dict) else None
    if error.validator in _TITLED and isinstance(title, str):
        message = f"{shown} is not a valid {title}"
    elif error.validator == "const":
        message = f"{shown} is not {error.validator_value!r}"
    else:
        message = str(error.message)
        # jsonschema starts most messages with the full repr of the instance,
        # which for a large object would fill the screen.
        full = repr(instance)
        if message.startswith(full):
            message = shown + message[len(full) :]
    if "propertyNames" in error.schema_path:
        message = f"property name {message}"
    message = " ".join(message.split())
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    return message


def _may_hold_private_key(error: Any) -> bool:
    """Whether showing *error*'s instance could print a private key put in metadata."""
    instance = error.instance
    return "keyval" in error.absolute_path or (
        isinstance(instance, dict) and ("keyval" in instance or "private" in instance)
    )


def _schema_files() -> Iterator[Traversable]:
    """The ``*.json`` files of the schemas folder, installed or in the checkout.

    The installed package is a plain directory, found without importing
    ``importlib.resources`` (which costs every worker process several
    milliseconds); only a package that is not one goes through it.
    """
    import importlib.util

    folder: Traversable
    try:
        spec = importlib.util.find_spec("offtrust.schemas")
    except ModuleNotFoundError:
        spec = None
    places = list(spec.submodule_search_locations or ()) if spec is not None else []
    if len(places) == 1 and Path(places[0]).is_dir():
        folder = Path(places[0])
    elif spec is not None:
        from importlib import resources

        folder = resources.files("offtrust.schemas")
    else:
        # A source checkout without the package-dir mapping of an installed wheel.
        folder = Path(__file__).resolve().parent.parent / "schemas"
    for entry in folder.iterdir():
        if entry.name.endswith(".json") and entry.is_file():
            yield entry


@functools.cache
def _schemas() -> dict[str, dict[str, Any]]:
    """Every schema, by file stem, read once."""
    schemas = {
        entry.name.removesuffix(".json"): json.loads(entry.read_text(encoding="utf-8"))
        for entry in _schema_files()
    }
    if not schemas:
        raise RuntimeError("offtrust was installed without its schemas/*.json")
    return schemas


@functools.cache
def _registry() -> Any:
    """A ``referencing.Registry`` holding every schema under its ``$id``."""
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    registry: Registry[Any] = Registry()
    for name, schema in _schemas().items():
        resource = Resource.from_contents(schema, default_specification=DRAFT202012)
        uri = resource.id()
        if uri is None:
            raise RuntimeError(f"schemas/{name}.json has no $id")
        registry = registry.with_resource(uri, resource)
    return registry.crawl()


@functools.cache
def _validator_class() -> Any:
    """Draft 2020-12 with JSON integers and ECMA-262 ``$``."""
    from jsonschema import Draft202012Validator, validators
    from jsonschema.exceptions import ValidationError

    def is_integer(checker: object, instance: object) -> bool:
        return isinstance(instance, int) and not isinstance(instance, bool)

    def pattern(validator: Any, regex: str, instance: Any, schema: object) -> Any:
        if validator.is_type(instance, "string") and not _compile(regex).search(instance):
            yield ValidationError(f"{instance!r} does not match {regex!r}")

    return validators.extend(
        Draft202012Validator,
        validators={"pattern": pattern},
        type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", is_integer),
    )


@functools.cache
def _compile(regex: str) -> re.Pattern[str]:
    """Compile an ECMA-262 pattern: ``$`` (outside a character class) is the end of input."""
    out = []
    escaped = in_class = False
    for char in regex:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "$" and not in_class:
            char = r"\Z"
        out.append(char)
    return re.compile("".join(out))


@functools.cache
def _validator(kind: str) -> Any:
    """The validator for ``schemas/<kind>.json``, built once."""
    schemas = _schemas()
    if kind in _SHARED or kind not in schemas:
        known = ", ".join(sorted(set(schemas) - _SHARED))
        raise ValueError(f"no metadata schema {kind!r} (known: {known})")
    return _validator_class()(schemas[kind], registry=_registry())


@functools.cache
def _common_validator(name: str) -> Any:
    """The validator for ``common.json#/$defs/<name>``, built once."""
    return _validator_class()({"$ref": f"{_COMMON_URI}#/$defs/{name}"}, registry=_registry())
