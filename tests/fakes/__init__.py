"""In-memory stand-ins for the outside world, for unit tests.

Import as ``from fakes.fake_notary import FakeNotary`` (``tests/`` is on
``sys.path`` through ``tests/conftest.py``, as for ``builders``).
"""
