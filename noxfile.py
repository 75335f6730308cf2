"""Sessions: tests (unit + interop), unit, crash, lint, typecheck, fixtures, bench."""

from __future__ import annotations

import nox

nox.needs_version = ">=2024.3.2"
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests", "lint", "typecheck"]

PYPROJECT = nox.project.load_toml("pyproject.toml")


def _install(session: nox.Session, *groups: str) -> None:
    session.install("-e", ".")
    for group in groups:
        session.install(*nox.project.dependency_groups(PYPROJECT, group))


@nox.session
def tests(session: nox.Session) -> None:
    """The whole suite: unit tests and interop tests against the real notary/docker."""
    _install(session, "test")
    session.run("pytest", *session.posargs)


@nox.session
def unit(session: nox.Session) -> None:
    """Unit tests only (no real tools needed)."""
    _install(session, "test")
    session.run("pytest", "-m", "not interop and not crash and not packaging", *session.posargs)


@nox.session
def crash(session: nox.Session) -> None:
    """Crash tests of the store: random SIGKILLs, ENOSPC, read-only dirs (mounts need root)."""
    session.install("-e", ".[test]")
    session.run("pytest", "-m", "crash", "tests/crash", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the package, tests and fixtures scripts; the import layers contract."""
    _install(session, "lint")
    session.run("ruff", "check", "offtrust", "tests", "fixtures", "benchmarks", *session.posargs)
    session.run("lint-imports")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package."""
    _install(session, "lint")
    session.run("mypy", *session.posargs)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """offtrust side by side with notary and docker trust; writes benchmarks/RESULTS.md."""
    _install(session, "test")
    session.run("python", "benchmarks/bench.py", *session.posargs)


@nox.session(default=False)
def fixtures(session: nox.Session) -> None:
    """Rebuild fixtures/example-trust with the real notary and docker tools."""
    _install(session, "test")
    session.run("python", "fixtures/make_example.py", *session.posargs)
