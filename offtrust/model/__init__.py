"""Pure TUF / Notary model: canonical JSON, keys, signatures, metadata, verification.

Nothing in this package reads files, the environment or the clock; callers pass
bytes in and a reference time where one matters.
"""
