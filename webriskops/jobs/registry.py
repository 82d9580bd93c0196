"""The job registry: each feature declares its background tasks with ``@job("name")``.

Tasks live in their feature's package (``ingest/tasks.py``, ``reports/tasks.py``,
``webhooks/tasks.py``); each package imports its ``tasks`` module, so building the app
registers them all. The job infrastructure (outbox, queue, runner, worker) looks tasks
up here by the name stored in an outbox row and imports none of them. Periodic work a
feature needs (``scans``: expired leases and deadlines) registers with ``@sweep_step``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from webriskops.vocabulary import JOB_TIMEOUT

# Reports, redaction and garbage collection go to the main queue; webhook deliveries wait
# on remote servers for up to their deadline, so they get a queue (and workers) of their
# own and never stand in front of another organization's report.
DEFAULT_QUEUE = "webriskops"
WEBHOOKS_QUEUE = "webriskops-webhooks"
QUEUES = (DEFAULT_QUEUE, WEBHOOKS_QUEUE)
DEFAULT_TIMEOUT = JOB_TIMEOUT  # seconds one run of a task may take before it is stopped


@dataclass(frozen=True)
class Task:
    """A registered background task: its function, the queue it runs on and its time limit."""

    name: str
    function: Callable[..., None]
    queue: str = DEFAULT_QUEUE
    timeout: int = DEFAULT_TIMEOUT


TASKS: dict[str, Task] = {}


def job(
    name: str, *, queue: str = DEFAULT_QUEUE, timeout: int = DEFAULT_TIMEOUT
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register the decorated function as the task ``name`` (the function is unchanged)."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")

    def register(function: Callable[..., None]) -> Callable[..., None]:
        existing = TASKS.get(name)
        if existing is not None and existing.function is not function:
            raise ValueError(f"job {name!r} is registered twice")
        TASKS[name] = Task(name, function, queue, timeout)
        return function

    return register


# Functions every sweep runs before the outbox's (the worker's and the background pool's).
SWEEPS: list[Callable[[], object]] = []


def sweep_step(function: Callable[[], object]) -> Callable[[], object]:
    """Register the decorated function as a step of every periodic sweep (unchanged)."""
    if function not in SWEEPS:
        SWEEPS.append(function)
    return function


def run_sweep_steps() -> None:
    """Run the registered sweep steps, in the order they were registered."""
    for step in SWEEPS:
        step()


def get(name: str) -> Task:
    """The task registered as ``name``; raises ``KeyError`` for an unknown one."""
    return TASKS[name]
