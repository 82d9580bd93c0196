"""Settings an operator gets wrong: the S3 endpoint's form, the default environment, .env."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from config import CONFIGS, Config, config_from_environment, s3_endpoint
from tests.conftest import ROOT, make_config
from webriskops import create_app
from webriskops.extensions import db
from webriskops.storage import S3Storage, storage


@pytest.mark.parametrize(
    ("raw", "secure", "expected"),
    [
        ("127.0.0.1:9000", True, ("127.0.0.1:9000", True)),
        ("127.0.0.1:9000", False, ("127.0.0.1:9000", False)),
        ("http://127.0.0.1:5132", True, ("127.0.0.1:5132", False)),
        ("http://127.0.0.1:5132/", True, ("127.0.0.1:5132", False)),
        ("https://s3.example.com", False, ("s3.example.com", True)),
        ("HTTPS://s3.example.com:8443", False, ("s3.example.com:8443", True)),
        ("", True, (None, True)),
        (None, True, (None, True)),
    ],
)
def test_s3_endpoint_accepts_host_port_and_urls(raw, secure, expected):
    assert s3_endpoint(raw, secure) == expected


@pytest.mark.parametrize(
    "raw",
    ["http://127.0.0.1:5132/bucket", "ftp://host:21", "http://user:pw@host:9000", "http://", "h:x"],
)
def test_a_bad_s3_endpoint_names_the_variable_and_the_forms(raw):
    with pytest.raises(ValueError, match=r"WRO_S3_ENDPOINT must be host:port, http://host:port"):
        s3_endpoint(raw, True)


def test_an_http_url_endpoint_reaches_the_s3_server(s3_server, database_url, artifacts_dir):
    endpoint, secure = s3_endpoint(f"http://{s3_server['S3_ENDPOINT']}", True)
    settings = {**s3_server, "S3_ENDPOINT": endpoint, "S3_SECURE": secure}
    app = create_app(make_config(SQLALCHEMY_DATABASE_URI=database_url, **settings))
    with app.app_context():
        assert isinstance(storage(), S3Storage)
        storage().put("scan-runs/1/a.png", b"png")
        assert storage().get("scan-runs/1/a.png") == b"png"
        assert app.test_client().get("/readyz").json["checks"]["storage"] == "ok"
        db.session.remove()
        db.engine.dispose()


def test_one_off_commands_default_to_production(monkeypatch):
    monkeypatch.delenv("WRO_ENV", raising=False)
    assert config_from_environment() is Config
    monkeypatch.setenv("WRO_ENV", "development")
    assert config_from_environment() is CONFIGS["development"]


def test_make_run_and_make_test_choose_their_environment():
    makefile = (ROOT / "Makefile").read_text()
    assert "run: export WRO_ENV ?= development" in makefile
    assert "WRO_ENV=test $(BIN)/python -m pytest" in makefile


def test_dotenv_files_are_never_committed():
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def _hung_server() -> tuple[object, int]:
    """A socket that accepts connections (the kernel does) and never answers."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    return server, server.getsockname()[1]


@pytest.mark.parametrize("how", ["refused", "hung"])
def test_readyz_answers_within_a_second_when_storage_is_down(database_url, how, tmp_path: Path):
    from tests.conftest import free_port

    listener, port = _hung_server() if how == "hung" else (None, free_port())
    try:
        app = create_app(
            make_config(
                SQLALCHEMY_DATABASE_URI=database_url,
                S3_ENDPOINT=f"127.0.0.1:{port}",
                S3_ACCESS_KEY="k",
                S3_SECRET_KEY="s",
                S3_SECURE=False,
                REDIS_URL="redis://127.0.0.1:1/0" if how == "refused" else None,
            )
        )
        with app.app_context():
            client = app.test_client()
            started = time.perf_counter()
            ready = client.get("/readyz")
            elapsed = time.perf_counter() - started
            db.session.remove()
            db.engine.dispose()
    finally:
        if listener is not None:
            listener.close()
    assert ready.status_code == 503
    assert ready.json["checks"]["storage"].startswith("error")
    assert ready.json["checks"]["database"] == "ok"
    assert elapsed < 1.0, elapsed
