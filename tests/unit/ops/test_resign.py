"""resign: new version and expiry, same content, for the roles the local keys hold."""

from __future__ import annotations

from datetime import timedelta

import pytest
from builders import EXAMPLE_NOW

from offtrust.errors import MissingKeyError, UsageError
from offtrust.ops.context import Context
from offtrust.ops.edit import parse_duration, resign
from offtrust.ops.verify import verify_state
from offtrust.passphrase import Passphrases

APP, TOOLS = "example.com/app", "example.com/tools"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90d", timedelta(days=90)),
        ("12h", timedelta(hours=12)),
        ("6W", timedelta(weeks=6)),
        ("3y", timedelta(days=3 * 365)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "d", "0d", "-1d", "5x", "1.5d", "10"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(UsageError):
        parse_duration(text)


def test_resign_everything_local_keeps_content_and_verifies(
    ctx: Context, passphrases: Passphrases
) -> None:
    before = ctx.repos.load(TOOLS)
    result = resign(ctx, TOOLS, [], passphrases, expires_in=timedelta(days=400))
    after = ctx.repos.load(TOOLS)
    # The notary-made GUN holds its snapshot key locally: it is re-signed too.
    assert set(result.changed) == {"root", "targets", "targets/releases", "snapshot"}
    for role in result.changed:
        old, new = before.roles[role].signed, after.roles[role].signed
        assert new.version == old.version + 1
        assert new.expires_at == EXAMPLE_NOW + timedelta(days=400)
        old_doc, new_doc = old.to_dict(), new.to_dict()
        for doc in (old_doc, new_doc):
            for key in ("version", "expires", "meta"):
                doc.pop(key, None)
        assert old_doc == new_doc, role
    assert verify_state(ctx, after).ok


def test_resign_snapshot_held_by_server_is_refused(ctx: Context, passphrases: Passphrases) -> None:
    with pytest.raises(MissingKeyError, match="snapshot key is not local"):
        resign(ctx, APP, ["snapshot"], passphrases)
    assert not ctx.repos.staged_files(APP)


def test_resign_timestamp_is_refused(ctx: Context, passphrases: Passphrases) -> None:
    with pytest.raises(UsageError, match="timestamp"):
        resign(ctx, APP, ["timestamp"], passphrases)
