"""The online side of offtrust: talking to a Notary server over HTTPS.

Only the online commands (``fetch``, ``publish``) import this package. It holds
:mod:`offtrust.online.client`, a thin client for the notary-server HTTP API
(metadata downloads, server-held keys, the atomic multipart publish) with
Docker's token authentication. Everything that decides *what* to fetch or
publish lives in ``ops/``; this package only moves bytes and turns HTTP and
TLS failures into :class:`offtrust.errors.NetworkError` and its subclasses.
"""
