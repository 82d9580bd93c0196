"""Per-task time limits inside a long-lived worker process (no fork to kill).

``time_limit`` arms the process's real-time timer (``SIGALRM``) for one task and raises
``JobTimeout`` in it when the time is up. RQ arms the same timer for the whole RQ job, so
the outer timer's remaining time is saved and re-armed afterwards. Signals reach only the
main thread: elsewhere (the background pool of a process without Redis) the limit is not
enforced, and tasks rely on their own socket timeouts and deadlines.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class JobTimeout(Exception):  # noqa: N818 - the name says what happened, as RQ's does
    """A task ran past its time limit."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise ``JobTimeout`` in the block if it runs longer than ``seconds`` (main thread only)."""
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return

    def expired(_signum, _frame) -> None:
        raise JobTimeout(f"stopped after {seconds:g} s")

    previous_handler = signal.signal(signal.SIGALRM, expired)
    outer_remaining, _interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if outer_remaining:
            left = outer_remaining - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001))
