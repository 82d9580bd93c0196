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
from typing import BinaryIO

from webriskops import storage
from webriskops.jobs.worker import OutboxWorker

_put_file = storage.LocalStorage.put_file
_writes = 0
_lock = threading.Lock()


def _put_then_hang(self, key: str, handle: BinaryIO, length: int, content_type: str) -> None:
    global _writes
    _put_file(self, key, handle, length, content_type)
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


storage.LocalStorage.put_file = _put_then_hang  # every write, streamed or not


class GatedWorker(OutboxWorker):
    """OutboxWorker with the hanging snapshot write above."""
