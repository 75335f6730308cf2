"""The one exception hierarchy of offtrust.

Every error carries its own one-line message, an exit status (the contract's:
1 the operation failed, 2 bad usage or unreadable input) and an optional hint
naming the command that fixes it. The CLI catches :class:`OfftrustError` in one
place and prints ``offtrust: error: <message>``.
"""

from __future__ import annotations


class OfftrustError(Exception):
    """Base of every error offtrust raises on purpose."""

    exit_code: int = 1
    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        # Messages are one line: a newline would break scripts that read stderr.
        super().__init__(" ".join(str(message).split()))
        if hint is not None:
            self.hint = hint

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class UsageError(OfftrustError):
    """The command was called wrongly (bad argument value, conflicting flags)."""

    exit_code = 2


class InvalidMetadataError(OfftrustError):
    """A document could not be parsed, failed its schema or broke an invariant."""

    exit_code = 2


class SchemaError(InvalidMetadataError):
    """A document does not match its JSON schema."""


class NotFoundError(OfftrustError):
    """A file, key, GUN or role that was asked for does not exist."""

    exit_code = 2


class NothingToDoError(NotFoundError):
    """What the command would change is not there (no such signer, key not listed).

    Across ``--all`` this is not a failure: the GUN is reported as skipped.
    """


class StoreError(OfftrustError):
    """The trust directory could not be read or written (permissions, layout, I/O)."""

    exit_code = 1


class UnreadableInputError(StoreError):
    """An input file exists but cannot be read."""

    exit_code = 2


class KeyAccessError(OfftrustError):
    """A private key could not be used: wrong passphrase, unsupported or broken key."""

    exit_code = 1


class WrongPassphraseError(KeyAccessError):
    """The passphrase did not decrypt the key."""


class PassphraseRequiredError(KeyAccessError):
    """A passphrase is needed but there is no terminal and no variable set."""


class InvalidKeyError(KeyAccessError):
    """The input is not a key offtrust (and notary) can use."""

    exit_code = 2


class MissingKeyError(KeyAccessError):
    """No local private key can sign what the operation must sign."""


class KeyMismatchError(KeyAccessError):
    """A private key file holds another key than the key ID it is stored under."""


class VerificationError(OfftrustError):
    """TUF verification failed."""

    exit_code = 1


class SignatureError(VerificationError):
    """Valid signatures do not meet a role's threshold."""


class ExpiredError(VerificationError):
    """Metadata (or a key certificate) has expired."""


class RollbackError(VerificationError):
    """A version went backwards, or does not follow its predecessor."""


class HashMismatchError(VerificationError):
    """A file does not match the hash or length its parent records."""


class ConflictError(OfftrustError):
    """The operation conflicts with the current state (already exists, stale base)."""

    exit_code = 1


class BatchError(OfftrustError):
    """Some GUNs of a batch failed; each was reported on its own line.

    Its ``exit_code`` is the batch's, decided once by
    :attr:`offtrust.ops.batch.BatchResult.exit_code` from the failures' own.
    """

    def __init__(self, message: str, *, exit_code: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.exit_code = exit_code


class BundleError(OfftrustError):
    """A bundle is malformed, tampered with, or unsafe to unpack."""

    exit_code = 1


class NetworkError(OfftrustError):
    """The Notary server could not be reached or answered with an error."""

    exit_code = 1


class AuthError(NetworkError):
    """The Notary server (or its token service) refused our credentials or demanded some."""

    hint = "set --username with OFFTRUST_PASSWORD (or --password-stdin), or set OFFTRUST_TOKEN"


class BadResponseError(NetworkError):
    """The server answered with something the Notary API does not promise.

    Examples: a redirect, an oversized body, a malformed key or token response.
    """


class ServerRejectedError(NetworkError):
    """The Notary server answered a request with an error status.

    ``status`` is the HTTP status; ``code`` and ``detail`` are the first entry of
    the server's ``{"errors": [{"code", "message", "detail"}]}`` body (``None``
    when the body had none); ``errors`` keeps every entry as sent.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        detail: object = None,
        errors: list[dict[str, object]] | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = list(errors or [])


class NeedsMainProcess(Exception):  # noqa: N818 - a signal between processes, not an error
    """Not an error: what a worker process of :mod:`offtrust.store.workers` may not do.

    A worker only reads and computes; writing to the trust directory, asking
    for a passphrase or anything else that needs the main process raises this,
    and the main process then does that item itself, as it would have
    without workers. It never reaches the user.

    *give_up*: the worker's other items would need the same (a passphrase
    that only a prompt can give): it leaves them all to the main process.
    """

    def __init__(self, what: str, *, give_up: bool = False) -> None:
        super().__init__(what)
        self.give_up = give_up
