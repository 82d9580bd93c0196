"""gunicorn settings read from this file by default: metrics files and each worker's heap.

``/metrics`` adds up the postback counts of every gunicorn worker through
prometheus_client's multiprocess mode, which keeps them in files under
``PROMETHEUS_MULTIPROC_DIR``. The folder is emptied when the server starts (old counts
would otherwise come back) and a dead worker's live gauges are dropped.
"""

from __future__ import annotations

import os
import shutil
import tempfile


def on_starting(server) -> None:
    """Give the workers an empty metrics folder before they start."""
    folder = os.environ.setdefault(
        "PROMETHEUS_MULTIPROC_DIR", os.path.join(tempfile.gettempdir(), "webriskops-metrics")
    )
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder, exist_ok=True)


def post_worker_init(worker) -> None:
    """The app is loaded: keep the collector off what start-up built (``webriskops.heap``)."""
    from webriskops import heap

    heap.settle()


def child_exit(server, worker) -> None:
    """Forget the gauges of a worker that exited (counters keep their totals)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
