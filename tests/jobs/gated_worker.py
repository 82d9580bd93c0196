"""A worker for crash tests: the Nth HTML snapshot it rewrites makes it hang.

``WRO_TEST_GATE`` names a file and ``WRO_TEST_GATE_AFTER`` says which snapshot write
(default the first) hangs: after that write the worker writes its pid to the file and
sleeps, so a test can kill it mid-job (and mid-batch). Once the file exists nothing hangs
any more, so a restarted worker runs normally.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from webriskops import storage
from webriskops.jobs.worker import OutboxWorker

_put = storage.LocalStorage.put
_writes = 0
_lock = threading.Lock()


def _put_then_hang(self, key: str, data: bytes, content_type: str = "") -> None:
    global _writes
    _put(self, key, data, content_type)
    gate = os.environ.get("WRO_TEST_GATE")
    if not gate or not key.endswith(".html") or Path(gate).exists():
        return
    with _lock:
        _writes += 1
        hang = _writes == int(os.environ.get("WRO_TEST_GATE_AFTER", "1"))
    if hang:
        Path(gate).write_text(str(os.getpid()))
        while True:
            time.sleep(1)


storage.LocalStorage.put = _put_then_hang


class GatedWorker(OutboxWorker):
    """OutboxWorker with the hanging snapshot write above."""
