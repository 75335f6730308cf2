"""The fuzz suite keeps its promise to CI: at least 10,000 cases, fixed inputs, no deadline."""

from __future__ import annotations

import importlib
from pathlib import Path

import fuzzkit
from hypothesis import settings

MODULES = sorted(
    p.stem for p in Path(__file__).parent.glob("test_fuzz_*.py") if p.stem != Path(__file__).stem
)


def fuzz_tests() -> list[tuple[str, settings]]:
    found = []
    for name in MODULES:
        module = importlib.import_module(name)
        for attr in dir(module):
            test = getattr(module, attr)
            chosen = getattr(test, "_hypothesis_internal_use_settings", None)
            if attr.startswith("test_") and chosen is not None:
                found.append((f"{name}.{attr}", chosen))
    return found


def test_at_least_10000_cases_with_ci_settings() -> None:
    tests = fuzz_tests()
    assert len(tests) >= 20
    total = sum(chosen.max_examples for _, chosen in tests)
    assert total >= 10_000 * min(fuzzkit.scale(), 1.0), total
    for name, chosen in tests:
        assert chosen.deadline is None, name
        assert chosen.database is None, name
    if settings.default.derandomize is False:
        return  # HYPOTHESIS_PROFILE=explore
    assert all(chosen.derandomize for _, chosen in tests)
