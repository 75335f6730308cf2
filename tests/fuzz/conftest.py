"""Hypothesis settings for the fuzz tests: reproducible in CI, no deadline, no database.

The ``ci`` profile (the default) derandomizes: every run of the suite tries
the same inputs, so a failure in CI reproduces locally with the same command.
It keeps no example database (nothing is written into the checkout). Each
test sets its own ``max_examples`` (see ``fuzzkit.cases``). ``explore`` draws
fresh random inputs, for longer local runs::

    HYPOTHESIS_PROFILE=explore OFFTRUST_FUZZ_SCALE=10 python3 -m pytest tests/fuzz
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

_COMMON = {
    "deadline": None,
    "database": None,
    "print_blob": True,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
}

settings.register_profile("ci", derandomize=True, **_COMMON)
# Fresh inputs on every run; failures it finds should become explicit examples.
settings.register_profile(
    "explore",
    derandomize=False,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    **_COMMON,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
