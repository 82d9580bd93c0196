"""Benchmarks with their floors: ``make bench`` runs ``python -m bench``.

``bench.ingest`` measures ``POST /api/scanner/results`` under gunicorn on PostgreSQL,
``bench.floor`` measures the least any implementation must do for the same work, and
``bench.__main__`` runs both in one go and prints every figure as a ratio to its floor.
See ``bench/README.md``.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Overridable so that two benchmarks on one machine do not drop each other's database or
# flush each other's queue.
DATABASE = os.environ.get("WRO_BENCH_DATABASE", "webriskops_bench")
# psycopg wants ``postgresql://``; the app is given Heroku's ``postgres://`` spelling.
PG_URL = f"postgresql://postgres@127.0.0.1:5432/{DATABASE}"
APP_DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DATABASE}"
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = os.environ.get("WRO_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
SECRET = "bench-secret"
