"""``inspect`` writes its JSON piece by piece: byte for byte what print_json writes."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

from builders import REPOSITORY_PASSPHRASE, ROOT_PASSPHRASE, copy_example
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from offtrust.cli import app
from offtrust.cli._common import print_json
from offtrust.ops.inspect import json_chunks

ENV = {
    "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE": ROOT_PASSPHRASE,
    "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": REPOSITORY_PASSPHRASE,
}

_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=10) | st.sampled_from(
    ["", "<&>", 'a"b\\c', "\x00\x1f\x7f", "é\u2028\u2029", "Repo Admin", "v10"]
)
_TAG = st.fixed_dictionaries(
    {"SignedTag": _TEXT, "Digest": _TEXT, "Signers": st.lists(_TEXT, min_size=1, max_size=3)}
)
# Entries inspect_repo never makes: they must take the general writer.
_ODD_TAG = (
    st.fixed_dictionaries({"Digest": _TEXT, "SignedTag": _TEXT, "Signers": st.just(["a"])})
    | st.fixed_dictionaries({"SignedTag": _TEXT, "Digest": _TEXT, "Signers": st.just([])})
    | st.fixed_dictionaries(
        {"SignedTag": st.integers() | st.none(), "Digest": _TEXT, "Signers": st.just(["a"])}
    )
    | st.fixed_dictionaries({"SignedTag": _TEXT, "Digest": _TEXT, "Signers": st.just([1, "b"])})
    | st.fixed_dictionaries({"SignedTag": _TEXT})
)
_KEYS = st.lists(st.fixed_dictionaries({"ID": _TEXT}), max_size=2)
_DOC = st.fixed_dictionaries(
    {
        "Name": _TEXT,
        "SignedTags": st.lists(_TAG | _ODD_TAG, max_size=7),
        "Signers": st.lists(st.fixed_dictionaries({"Name": _TEXT, "Keys": _KEYS}), max_size=2),
        "AdministrativeKeys": st.lists(
            st.fixed_dictionaries({"Name": _TEXT}, optional={"Keys": _KEYS}), max_size=2
        ),
    }
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_DOC, max_size=3), st.integers(min_value=1, max_value=4))
def test_chunks_are_json_dumps(docs: list[dict[str, Any]], batch: int) -> None:
    expected = json.dumps(docs, indent=4, ensure_ascii=False)
    assert "".join(json_chunks(docs, batch=batch)) == expected


def test_chunks_of_other_documents_take_the_general_writer() -> None:
    docs: list[dict[str, Any]] = [
        {"SignedTags": {"not": "a list"}, "Name": 3},
        {"Name": "x", "SignedTags": [], "Extra": [1.5, None, True]},
        {"SignedTags": [[1, 2], "s", {"SignedTag": "v1", "Digest": "d", "Signers": ["a"]}]},
    ]
    for batch in (1, 2, 100):
        assert "".join(json_chunks(docs, batch=batch)) == json.dumps(
            docs, indent=4, ensure_ascii=False
        )
    assert "".join(json_chunks([])) == "[]"


def test_inspect_output_is_what_print_json_writes(tmp_path: Path) -> None:
    """Real repositories, tags with characters Go escapes and natural order to keep."""
    trust = copy_example(tmp_path / "trust")
    runner = CliRunner()
    digest = "sha256:" + "ab" * 32
    for tag in ["v10", "v9", "v09", "a<b>&c", "é-1", "v1.10", "v1.9"]:
        added = runner.invoke(
            app,
            ["-d", str(trust), "target", "add", "example.com/app", tag, "--digest", digest,
             "--size", "7"],
            env=ENV,
        )  # fmt: skip
        assert added.exit_code == 0, added.output
    result = runner.invoke(app, ["-d", str(trust), "inspect", "--all"], env=ENV)
    assert result.exit_code == 0, result.output
    docs = json.loads(result.stdout)
    assert len(docs) == 2
    tags = [t["SignedTag"] for t in docs[0]["SignedTags"]]
    mine = {"v10", "v9", "v09", "v1.10", "v1.9"}
    assert [t for t in tags if t in mine] == ["v1.9", "v1.10", "v9", "v09", "v10"]
    assert "\\u003c" in result.stdout
    assert "<" not in result.stdout
    out = io.StringIO()
    with redirect_stdout(out):
        print_json(docs, indent=4, sort_keys=False)
    assert result.stdout == out.getvalue()
