"""Where passphrases come from: the contract's variables, then a hidden prompt.

Order (docs/cli.md): the Docker variables (root, or repository for every
other key), then the Notary variables by role, then a hidden prompt on a
terminal. With neither, a one-line error names the variable to set. Values are
never echoed, logged or put in exception messages.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping

from offtrust.errors import PassphraseRequiredError, UsageError, WrongPassphraseError

DOCKER_ROOT = "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE"
DOCKER_REPOSITORY = "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE"
#: The new passphrase of ``key passwd`` for scripts (the role's variables hold the old one).
NEW_PASSPHRASE = "OFFTRUST_NEW_PASSPHRASE"

#: notary's rule for a new key's passphrase.
MIN_LENGTH = 8
#: Tries at a new passphrase (too short, or the two entries differ); notary
#: gives up after its fourth.
NEW_ATTEMPTS = 4
RETRY = "Passphrase incorrect. Please retry."
TOO_SHORT = (
    "Passphrase is too short. Please use a password manager to generate and store "
    "a good random passphrase."
)
MISMATCH = "Passphrases do not match. Please retry."


def display_role(role: str) -> str:
    """The key's name in a prompt, in docker's words.

    docker trust's alias map (``cli/trust``) calls the targets and snapshot
    keys "repository" keys; the root key and a signer's key (``jeff``) keep
    their names, as in "Enter passphrase for new jeff key with ID 9deed25:".
    """
    return "repository" if role in ("targets", "snapshot", "timestamp") else role


def variables_for(role: str) -> list[str]:
    """The environment variables tried, in order, for a key of *role*."""
    if role == "root":
        return [DOCKER_ROOT, "NOTARY_ROOT_PASSPHRASE"]
    if role in ("targets", "snapshot", "timestamp"):
        return [DOCKER_REPOSITORY, f"NOTARY_{role.upper()}_PASSPHRASE"]
    return [DOCKER_REPOSITORY, "NOTARY_DELEGATION_PASSPHRASE"]


def is_interactive() -> bool:
    """True when a hidden prompt can be shown (stdin and stderr are a terminal)."""
    try:
        return sys.stdin.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


#: True in a worker process (:mod:`offtrust.store.workers`): it never prompts.
IN_WORKER = False


def _refuse_prompt_in_worker() -> None:
    if IN_WORKER:
        from offtrust.errors import NeedsMainProcess

        raise NeedsMainProcess("a passphrase must be asked for", give_up=True)


class Passphrases:
    """A passphrase source for the key store.

    Args:
        environ: the environment to read (``os.environ`` by default).
        prompt: a hidden prompt ``(text) -> str``; None disables prompting.
    """

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        prompt: Callable[[str], str] | None = None,
        interactive: bool | None = None,
    ) -> None:
        self.environ = os.environ if environ is None else environ
        self.interactive = is_interactive() if interactive is None else interactive
        self._prompt = prompt
        #: Lines for the user between prompts ("Passphrase incorrect. ...").
        self.say: Callable[[str], None] = lambda line: print(line, file=sys.stderr)

    def _ask(self, text: str) -> str:
        """The answer to a hidden prompt.

        Raises:
            PassphraseRequiredError: the input ended, or was not text in the
                terminal's encoding (the error never shows what was typed).
        """
        _refuse_prompt_in_worker()
        try:
            if self._prompt is not None:
                return self._prompt(text)
            import getpass

            return getpass.getpass(text, stream=sys.stderr)
        except EOFError:
            pass
        except UnicodeError:
            # Its message would quote a byte of the passphrase and its position.
            raise PassphraseRequiredError(
                "the passphrase typed is not valid text in the terminal's encoding"
            ) from None
        raise PassphraseRequiredError("no passphrase: the input ended")

    def _candidates(self, role: str) -> list[str]:
        return [self.environ[v] for v in variables_for(role) if self.environ.get(v)]

    def preset(self, role: str) -> str | None:
        """What ``self(role, keyid, 0)`` answers when no prompt is needed for it, else None.

        The keyring tries it on a key before the empty passphrase (one key
        derivation instead of two for the usual key); nothing is asked or said.
        """
        candidates = self._candidates(role)
        return candidates[0] if candidates else None

    def __call__(self, role: str, keyid: str, attempt: int) -> str:
        """Passphrase number *attempt* for an existing key.

        Raises:
            WrongPassphraseError: every variable was tried and no prompt is possible.
            PassphraseRequiredError: no variable is set and there is no terminal.
        """
        candidates = self._candidates(role)
        if attempt < len(candidates):
            return candidates[attempt]
        names = " or ".join(variables_for(role))
        if self.interactive:
            _refuse_prompt_in_worker()
        if not self.interactive:
            if candidates:
                raise WrongPassphraseError(
                    f"wrong passphrase for key {keyid[:12]} (role {role}) in {names}"
                )
            raise PassphraseRequiredError(
                f"key {keyid[:12]} (role {role}) is encrypted and there is no terminal to ask "
                f"on: set {variables_for(role)[0]}",
            )
        if attempt > len(candidates):
            # The passphrase typed at the previous prompt was wrong (a wrong
            # variable is not the user's typing: no retry message for it).
            self.say(RETRY)
        return self._ask(f"Enter passphrase for {display_role(role)} key with ID {keyid[:7]}: ")

    def new(self, role: str, keyid: str) -> str:
        """The passphrase to encrypt a new key with (asked twice on a terminal).

        As notary asks: a passphrase shorter than :data:`MIN_LENGTH` is refused
        before it is asked again, and a mismatch or a short one is retried, up
        to :data:`NEW_ATTEMPTS` times.

        Raises:
            PassphraseRequiredError: no variable and no terminal, or no good
                passphrase after every try.
        """
        candidates = self._candidates(role)
        if candidates:
            return candidates[0]
        if not self.interactive:
            raise PassphraseRequiredError(
                f"a passphrase is needed for the new {role} key and there is no terminal to "
                f"ask on: set {variables_for(role)[0]}",
            )
        _refuse_prompt_in_worker()
        return self._ask_twice(role, keyid)

    def _ask_twice(self, role: str, keyid: str) -> str:
        """A passphrase typed twice at hidden prompts, at least :data:`MIN_LENGTH` long.

        The prompts are notary's for a new key, which ``notary key passwd`` shows too.

        Raises:
            PassphraseRequiredError: no good passphrase after :data:`NEW_ATTEMPTS` tries.
        """
        name = display_role(role)
        for _attempt in range(NEW_ATTEMPTS):
            first = self._ask(f"Enter passphrase for new {name} key with ID {keyid[:7]}: ")
            if len(first) < MIN_LENGTH:
                # Checked before asking to repeat it, as notary does.
                self.say(TOO_SHORT)
                continue
            second = self._ask(f"Repeat passphrase for new {name} key with ID {keyid[:7]}: ")
            if first == second:
                return first
            self.say(MISMATCH)
        raise PassphraseRequiredError(
            f"no passphrase for the new {role} key after {NEW_ATTEMPTS} tries "
            f"(at least {MIN_LENGTH} characters, typed twice)"
        )

    def replacement(self, role: str, keyid: str) -> str:
        """The new passphrase of an existing key (``key passwd``).

        Never one of the role's variables (they hold the old passphrase):
        ``$OFFTRUST_NEW_PASSPHRASE``, else asked twice at a hidden prompt. Either
        must be at least :data:`MIN_LENGTH` characters long.

        Raises:
            PassphraseRequiredError: no variable and no terminal, or no good
                passphrase after every try.
            UsageError: the variable is too short.
        """
        value = self.environ.get(NEW_PASSPHRASE)
        if value:
            if len(value) < MIN_LENGTH:
                raise UsageError(f"{NEW_PASSPHRASE} is too short: at least {MIN_LENGTH} characters")
            return value
        if not self.interactive:
            raise PassphraseRequiredError(
                f"the new passphrase for key {keyid[:12]} (role {role}) is needed and there is "
                f"no terminal to ask on: set {NEW_PASSPHRASE}",
            )
        return self._ask_twice(role, keyid)
