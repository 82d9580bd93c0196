"""Concurrent claimers and racing sweeps, each on its own connection and really committing."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import func, select, update

from tests.scans.conftest import fresh
from webriskops.extensions import db
from webriskops.models import CreditEntry, Organization, ScanRun
from webriskops.models.base import utcnow
from webriskops.scans.services import claim_runs, create_scan_run, sweep_runs

CLAIMERS = 8
RUNS = 100


def in_threads(app, count: int, work) -> list:
    """Run ``work()`` in ``count`` threads, each in an app context (a session) of its own,
    released together by a barrier; returns their results."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list[BaseException] = []

    def target(index: int) -> None:
        with app.app_context():
            try:
                barrier.wait()
                results[index] = work()
            except BaseException as error:  # noqa: BLE001 - reported by the test below
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=target, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    return results


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"], indirect=True)
def test_eight_claimers_never_get_the_same_run(app, make_org, make_project):
    project = make_project(make_org(credits=RUNS))
    ids = [create_scan_run(project).id for _ in range(RUNS)]

    def claim_until_empty() -> list[int]:
        mine: list[int] = []
        while batch := claim_runs(3, 300):
            mine.extend(run["scanRunId"] for run in batch)
        return mine

    per_claimer = in_threads(app, CLAIMERS, claim_until_empty)

    claimed = Counter(run_id for mine in per_claimer for run_id in mine)
    assert sorted(claimed) == ids
    assert set(claimed.values()) == {1}, [i for i, n in claimed.items() if n > 1]
    # Real concurrency: the work was spread over several claimers.
    assert sum(1 for mine in per_claimer if mine) >= 2
    db.session.expire_all()
    statuses = set(db.session.scalars(select(ScanRun.status)))
    assert statuses == {"running"}


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"], indirect=True)
def test_racing_sweeps_restore_each_credit_once(app, make_org, make_project):
    org = make_org(credits=40)
    project = make_project(org)
    ids = [create_scan_run(project).id for _ in range(40)]
    # Half ran out of attempts with an expired lease, half are past their deadline.
    db.session.execute(
        update(ScanRun)
        .where(ScanRun.id.in_(ids[:20]))
        .values(status="running", attempt=3, lease_seconds=60, lease_expires_at=utcnow())
    )
    db.session.execute(
        update(ScanRun)
        .where(ScanRun.id.in_(ids[20:]))
        .values(created_at=utcnow().replace(year=2020))
    )
    db.session.commit()

    results = in_threads(app, 2, sweep_runs)

    assert sum(result["timedOut"] for result in results) == 40
    restores = db.session.scalar(
        select(func.count())
        .select_from(CreditEntry)
        .where(CreditEntry.kind == "restore", CreditEntry.settles_run_id.in_(ids))
    )
    assert restores == 40
    org = db.session.get(Organization, org.id, populate_existing=True)
    assert (org.credits, org.reserved_credits) == (40, 0)
    assert {fresh(run_id).error_code for run_id in ids} == {"SCAN_TIMEOUT"}
