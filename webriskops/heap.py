"""The garbage collector of long-lived processes: gunicorn's workers and the job workers.

Once started, a process holds some 145,000 objects (Flask, SQLAlchemy's mappers, the
schemas, the redaction automata) that live as long as it does. CPython's collector
walks every one of them at each full collection: 70-230 ms on these 2 cores, once or
twice per process in a 300-run benchmark burst, a pause taken by whichever request or
job set it off. ``settle`` moves what start-up built to the permanent generation
(``gc.freeze``), so a full collection walks only what requests and jobs made since
(1-4 ms in the same burst); and it collects young objects less often, since a request
leaves thousands of short-lived objects and each collection of them also ages the
survivors towards the next full one.
"""

from __future__ import annotations

import gc

# Allocations (minus deallocations) between two collections of the youngest generation;
# CPython's default is 700, about one collection per postback.
YOUNG_THRESHOLD = 10_000


def settle() -> None:
    """Freeze the objects start-up left and make young collections rarer."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, oldest)
