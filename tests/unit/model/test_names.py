"""The one home of the name rules: GUNs, roles, signers, key names and tags."""

from __future__ import annotations

import pytest

from offtrust.errors import UsageError
from offtrust.model import names

# Every GUN here is one the real tools create: docker references (with and
# without a registry host and port) and names given to `notary init`.
ACCEPTED_GUNS = {
    "docker-hub": "docker.io/library/alpine",
    "localhost-port": "localhost:5000/app",
    "ip-port-nested": "127.0.0.1:4443/a/b",
    "domain": "example.com/app",
    "one-component": "alpine",
    "bare-host": "localhost",
    "registry-port": "registry:5000/a/b-c_d.e",
    "underscores": "example.com/my_org/my__app",
    "dots-dashes": "example.com/a.b-c/d--e",
    "upper-case-host": "Registry.Example.COM:443/app",
    "ipv6-host": "[::1]:5000/app",
    "notary-upper-case-path": "MyTeam/App",
    "255-characters": "example.com/" + "a" * 243,
}

REFUSED_GUNS = {
    "empty": ("", "empty"),
    "space": ("a b", "white space"),
    "hash": ("a#b", "'#'"),
    "question-mark": ("a?b", "'?'"),
    "percent": ("a%20b", "'%'"),
    "tab": ("a\tb", "control character"),
    "newline": ("example.com/app\n", "control character"),
    "nul": ("a\x00b", "control character"),
    "del": ("a\x7fb", "control character"),
    "backslash": ("a\\b", "backslash"),
    "star": ("a*", "'*'"),
    "non-ascii": ("example.com/caf\u00e9", "non-ASCII"),
    "digest": ("example.com/app@sha256:" + "0" * 64, "'@'"),
    "tag": ("example.com/app:latest", "':' is only allowed in the registry host"),
    "host-port-alone": ("localhost:5000", "needs a repository path"),
    "bad-port": ("host:http/app", "invalid registry host"),
    "host-with-underscore-port": ("my_host:5000/app", "invalid registry host"),
    "absolute": ("/abs", "absolute path"),
    "empty-component": ("a//b", "component"),
    "trailing-slash": ("a/", "component"),
    "dot-component": ("a/./b", "component"),
    "dotdot-component": ("a/../b", "component"),
    "dotdot-first": ("../x", "component"),
    "dot": (".", "component"),
    "dotdot": ("..", "component"),
    "256-characters": ("example.com/" + "a" * 244, "over the limit of 255"),
    "300-characters": ("a" * 300, "over the limit of 255"),
}


@pytest.mark.parametrize("gun", ACCEPTED_GUNS.values(), ids=ACCEPTED_GUNS.keys())
def test_accepted_guns(gun: str) -> None:
    assert names.gun_problem(gun) is None
    assert names.check_gun(gun) == gun


@pytest.mark.parametrize(("gun", "reason"), REFUSED_GUNS.values(), ids=REFUSED_GUNS.keys())
def test_refused_guns(gun: str, reason: str) -> None:
    problem = names.gun_problem(gun)
    assert problem is not None
    assert reason in problem
    with pytest.raises(UsageError, match="^invalid GUN ") as caught:
        names.check_gun(gun)
    message = caught.value.message
    assert "\n" not in message
    assert reason in message
    assert len(message) < 200  # a 300-character GUN is shortened in the message
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("role", "valid", "delegation"),
    [
        ("root", True, False),
        ("targets", True, False),
        ("snapshot", True, False),
        ("timestamp", True, False),
        ("targets/releases", True, True),
        ("targets/a/b_c-d", True, True),
        ("targets/" + "a" * 247, True, True),
        ("targets/" + "a" * 248, False, False),
        ("targets/", False, False),
        ("targets//a", False, False),
        ("targets/./a", False, False),
        ("targets/../root", False, False),
        ("targets/A", False, False),
        ("targets/a.b", False, False),
        ("targets/a b", False, False),
        ("targets/a\n", False, False),
        ("other", False, False),
        ("root/x", False, False),
        ("", False, False),
    ],
)
def test_roles(role: str, valid: bool, delegation: bool) -> None:
    assert names.is_valid_role(role) is valid
    assert names.is_delegation(role) is delegation


@pytest.mark.parametrize(
    ("role", "parent", "signer"),
    [
        ("targets/releases", "targets", "releases"),
        ("targets/a/b", "targets/a", "a/b"),
        ("targets", "", "targets"),
    ],
)
def test_parent_and_signer_name(role: str, parent: str, signer: str) -> None:
    assert names.parent_of(role) == parent
    assert names.signer_name(role) == signer


def test_roles_module_reexports_the_rules() -> None:
    from offtrust.model import roles

    assert roles.is_valid_role is names.is_valid_role
    assert roles.is_delegation is names.is_delegation
    assert roles.RELEASES == "targets/releases"


@pytest.mark.parametrize("name", ["alice", "a", "0", "ci-bot", "ci_bot", "a-b_c-9"])
def test_accepted_signer_and_key_names(name: str) -> None:
    assert names.check_signer_name(name) == name
    assert names.check_key_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "Alice", "-a", "_a", "a b", "a/b", "a.b", "targets/a", "al\u00efce", "a\n"]
)
def test_refused_signer_and_key_names(name: str) -> None:
    with pytest.raises(UsageError, match="signer name"):
        names.check_signer_name(name)
    with pytest.raises(UsageError, match="key name"):
        names.check_key_name(name)


def test_releases_is_a_reserved_signer_name_but_a_valid_key_name() -> None:
    with pytest.raises(UsageError, match="cannot be 'releases'"):
        names.check_signer_name("releases")
    assert names.check_key_name("releases") == "releases"


@pytest.mark.parametrize(
    "tag", ["latest", "v1.2.3", "1.0-rc_1", "a" * 128, "a" * 500, "file name.txt", "caf\u00e9"]
)
def test_accepted_tags(tag: str) -> None:
    assert names.check_tag(tag) == tag


@pytest.mark.parametrize("tag", ["", "a\nb", "a\x00", "\x1b[31m", "a\x7f"])
def test_refused_tags(tag: str) -> None:
    with pytest.raises(UsageError, match="non-empty and hold no control characters"):
        names.check_tag(tag)
