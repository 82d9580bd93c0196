"""Hypothesis settings of the randomized redaction tests: fixed in CI, random in a hunt.

In CI every run draws the same examples (``derandomize``: seeded from each test
function), so a red run means a change broke a property, not that this run happened
to draw a new input. ``REDACTION_EXAMPLES=N`` starts a local hunt: N examples per
test, drawn at random on every run (``--hypothesis-seed=S`` repeats one). What a hunt
finds is reduced, fixed and pinned in test_property_regressions.py, which CI runs as
plain tests.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

HUNT_EXAMPLES = os.environ.get("REDACTION_EXAMPLES")


def property_settings(examples: int) -> settings:
    """``examples`` fixed ones in CI; ``REDACTION_EXAMPLES`` random ones in a hunt."""
    # No example database is written, so runs do not depend on (or litter) the tree.
    return settings(
        max_examples=int(HUNT_EXAMPLES) if HUNT_EXAMPLES else examples,
        derandomize=not HUNT_EXAMPLES,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
