"""A worker for crash tests: the first HTML snapshot it rewrites makes its job hang.

``WRO_TEST_GATE`` names a file. After the first snapshot write, the work horse writes its
pid there and sleeps, so a test can kill it (or the whole worker) mid-job. Once the file
exists nothing hangs any more, so a restarted worker runs normally.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from webriskops import storage
from webriskops.jobs.worker import OutboxWorker

_put = storage.LocalStorage.put


def _put_then_hang(self, key: str, data: bytes, content_type: str = "") -> None:
    _put(self, key, data, content_type)
    gate = os.environ.get("WRO_TEST_GATE")
    if gate and key.endswith(".html") and not Path(gate).exists():
        Path(gate).write_text(str(os.getpid()))
        while True:
            time.sleep(1)


storage.LocalStorage.put = _put_then_hang


class GatedWorker(OutboxWorker):
    """OutboxWorker with the hanging snapshot write above."""
