"""Shared fixtures: real PostgreSQL, Redis and an S3 server; the flaskr trio; factories.

Services:
- PostgreSQL: a database of its own (``WRO_TEST_DATABASE``, default
  ``webriskops_test``) is created fresh and migrated to head once per session; tests
  commit for real and every table is truncated after each test.
- Redis: database ``WRO_TEST_REDIS_DB`` (default 15) on 127.0.0.1:6379, flushed per test
  that asks for it.
- S3: ``moto_server`` started on a free port for the session, reached through the
  real ``minio`` client.
- SQLite: the embedded default, migrated once into a template file copied per test.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import text

from config import TestConfig
from webriskops import create_app
from webriskops.extensions import db
from webriskops.models import Membership, Organization, Project, ScanRun, User, create_organization
from webriskops.scans.services import create_scan_run

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get(
    "WRO_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
PG_DATABASE = os.environ.get("WRO_TEST_DATABASE", "webriskops_test")
REDIS_DB = int(os.environ.get("WRO_TEST_REDIS_DB", "15"))
SCANNER_SECRET = TestConfig.SCANNER_SHARED_SECRET


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    """Block until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def make_config(**overrides: Any) -> type[TestConfig]:
    """A TestConfig subclass with ``overrides``."""
    return type("ConfiguredTestConfig", (TestConfig,), overrides)


# --- PostgreSQL ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A freshly created PostgreSQL database migrated to head."""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{PG_DATABASE}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{PG_DATABASE}"
    _migrate(url)
    yield url


def _migrate(url: str) -> None:
    from flask_migrate import upgrade

    app = create_app(make_config(SQLALCHEMY_DATABASE_URI=url))
    with app.app_context():
        upgrade()
        db.engine.dispose()


def _truncate_all(app: Flask) -> None:
    with app.app_context():
        db.session.remove()
        tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
        with db.engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated to head, copied for each test that uses SQLite."""
    path = tmp_path_factory.mktemp("sqlite") / "template.sqlite3"
    _migrate(f"sqlite:///{path}")
    return path


@pytest.fixture
def artifacts_dir(tmp_path: Path) -> Path:
    """The local artifact folder of this test."""
    path = tmp_path / "artifacts"
    path.mkdir()
    return path


@pytest.fixture(params=["postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Which database the ``app`` fixture uses; tests parametrize it to cover SQLite too."""
    return request.param


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    """Extra settings for the ``app`` fixture; override in a test module to change them."""
    return {}


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a clean database of the chosen backend."""
    if backend == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "test.sqlite3"
        shutil.copy(template, path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("pg_url")
    yield url
    cleanup = create_app(make_config(SQLALCHEMY_DATABASE_URI=url))
    _truncate_all(cleanup)


@pytest.fixture
def app(database_url: str, artifacts_dir: Path, app_overrides: dict[str, Any]) -> Iterator[Flask]:
    """The app on a clean database, with local artifacts and in-process jobs by default."""
    config = make_config(
        SQLALCHEMY_DATABASE_URI=database_url, ARTIFACTS_DIR=str(artifacts_dir), **app_overrides
    )
    application = create_app(config)
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of ``app``."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    """A CLI runner of ``app``."""
    return app.test_cli_runner()


# --- Redis and S3 --------------------------------------------------------------------


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A flushed Redis database for this test."""
    from redis import Redis

    url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    client = Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[dict[str, str]]:
    """A moto S3 server process; yields the WRO_S3_* settings that reach it."""
    port = free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield {
            "S3_ENDPOINT": f"127.0.0.1:{port}",
            "S3_ACCESS_KEY": "testing-access-key",
            "S3_SECRET_KEY": "testing-secret-key",
            "S3_BUCKET": "webriskops-test",
            "S3_SECURE": False,
        }
    finally:
        process.terminate()
        process.wait(10)


# --- A real server process ------------------------------------------------------------


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start ``gunicorn wsgi:app`` with an environment; returns its base URL."""
    processes: list[subprocess.Popen] = []
    logs: list = []

    def start(env: dict[str, str], workers: int = 2, threads: int = 1) -> str:
        port = free_port()
        log = open(tmp_path / f"gunicorn-{port}.log", "wb")  # noqa: SIM115 - closed at teardown
        logs.append(log)
        process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("gunicorn")),
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                "wsgi:app",
            ],
            cwd=ROOT,
            env={**os.environ, "WRO_ENV": "development", **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        processes.append(process)
        wait_for_port(port)
        return f"http://127.0.0.1:{port}"

    yield start
    for process in processes:
        process.terminate()
        process.wait(10)
    for log in logs:
        log.close()


# --- Factories -------------------------------------------------------------------------


@pytest.fixture
def make_org(app: Flask) -> Callable[..., Organization]:
    """Create an organization with credits."""

    def make(name: str = "Acme", credits: int = 10) -> Organization:
        org = create_organization(name, credits)
        db.session.commit()
        return org

    return make


@pytest.fixture
def make_project(make_org: Callable[..., Organization]) -> Callable[..., Project]:
    """Create a project (and an organization unless one is given)."""

    def make(org: Organization | None = None, name: str = "Site") -> Project:
        org = org or make_org()
        project = Project(organization_id=org.id, name=name, base_url="https://example.com")
        db.session.add(project)
        db.session.commit()
        return project

    return make


@pytest.fixture
def make_run(make_project: Callable[..., Project]) -> Callable[..., ScanRun]:
    """Create a queued scan run with a reserved credit."""

    def make(project: Project | None = None) -> ScanRun:
        return create_scan_run(project or make_project())

    return make


@pytest.fixture
def make_user(app: Flask) -> Callable[..., User]:
    """Create a user who is a member of ``org``."""
    from webriskops.auth.passwords import hash_password

    def make(
        org: Organization,
        email: str = "user@example.com",
        role: str = "owner",
        password: str = "correct horse battery",
    ) -> User:
        user = User(email=email, password_hash=hash_password(password))
        db.session.add(user)
        db.session.flush()
        db.session.add(Membership(user_id=user.id, organization_id=org.id, role=role))
        db.session.commit()
        return user

    return make


@pytest.fixture
def scanner_headers() -> dict[str, str]:
    """Headers of an authenticated scanner postback."""
    return {"X-Scanner-Secret": SCANNER_SECRET, "Content-Type": "application/json"}
