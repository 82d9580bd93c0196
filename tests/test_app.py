"""Application wiring: config parsing, health probes, OpenAPI, error shape, logs."""

from __future__ import annotations

import json
import logging

import psycopg
import pytest

from config import database_url, parse_boolean, parse_int, parse_rate_limit
from tests import payloads


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("postgres://u:p@h:5432/d", "postgresql+psycopg://u:p@h:5432/d"),
        ("postgresql://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_database_url_accepts_herokus_scheme(raw, expected):
    assert database_url(raw) == expected


def test_database_url_defaults_to_sqlite_under_instance():
    url = database_url(None)
    assert url.startswith("sqlite:///") and url.endswith("instance/webriskops.sqlite3")


def test_bad_settings_fail_loudly(monkeypatch):
    monkeypatch.setenv("WRO_WEBHOOKS_ALLOW_PRIVATE", "maybe")
    with pytest.raises(ValueError, match="WRO_WEBHOOKS_ALLOW_PRIVATE"):
        parse_boolean("WRO_WEBHOOKS_ALLOW_PRIVATE")
    with pytest.raises(ValueError, match="WRO_SCANNER_RATE_LIMIT"):
        parse_rate_limit("lots")
    assert parse_rate_limit("600/minute") == "600/minute"
    monkeypatch.setenv("WRO_TRUSTED_PROXIES", "-1")
    with pytest.raises(ValueError, match="WRO_TRUSTED_PROXIES must be at least 0"):
        parse_int("WRO_TRUSTED_PROXIES", 0, minimum=0)
    monkeypatch.setenv("WRO_TRUSTED_PROXIES", "0")
    assert parse_int("WRO_TRUSTED_PROXIES", 1, minimum=0) == 0


def test_postgres_scheme_works_end_to_end(pg_url, tmp_path):
    from sqlalchemy import text

    from tests.conftest import make_config
    from webriskops import create_app
    from webriskops.extensions import db

    heroku = pg_url.replace("postgresql+psycopg://", "postgres://")
    app = create_app(make_config(SQLALCHEMY_DATABASE_URI=database_url(heroku)))
    with app.app_context():
        assert (
            db.session.execute(text("SELECT current_database()")).scalar()
            == pg_url.rsplit("/", 1)[1]
        )
        db.session.remove()
        db.engine.dispose()


def test_production_refuses_to_start_without_secret_key(monkeypatch):
    from config import Config
    from webriskops import create_app

    monkeypatch.setattr(Config, "SECRET_KEY", None)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(Config)


def test_healthz_and_readyz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"database": "ok", "queue": "ok", "storage": "ok"}


@pytest.fixture
def app_overrides(request):
    if request.node.name.startswith("test_readyz_reports_an_unreachable_queue"):
        return {"REDIS_URL": "redis://127.0.0.1:1/0"}
    return {}


def test_readyz_reports_an_unreachable_queue(client):
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json()["checks"]["queue"].startswith("error")


def test_openapi_is_generated_from_the_schemas(client):
    spec = client.get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    operation = spec["paths"]["/api/scanner/results"]["post"]
    assert operation["operationId"] == "scanner.results.store"
    completed = spec["components"]["schemas"]["CompletedResult"]
    assert {"scanRunId", "status"} <= set(completed["required"])
    issue = spec["components"]["schemas"]["Issue"]
    assert issue["properties"]["confidence"]["maximum"] == 100
    assert issue["properties"]["severity"]["enum"] == ["high", "medium", "low", "info"]
    assert set(operation["responses"]) >= {"202", "400", "401", "409", "413", "415", "422", "429"}
    assert "/api/scan-runs/{scanRunId}" in spec["paths"]


def test_unknown_api_route_uses_the_error_shape(client):
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "NOT_FOUND"
    wrong_method = client.get("/api/scanner/results")
    assert wrong_method.status_code == 405
    assert wrong_method.get_json()["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_request_log_is_one_json_line_without_payload(client, make_run, scanner_headers, caplog):
    run = make_run()
    body = payloads.completed(run.id, [payloads.issue(1, evidence="very-distinctive-evidence")])
    with caplog.at_level(logging.INFO, logger="webriskops"):
        client.post("/api/scanner/results", json=body, headers=scanner_headers)
    access = [r for r in caplog.records if r.name == "webriskops.access"]
    assert len(access) == 1
    fields = access[0].fields
    assert fields["route"] == "/api/scanner/results"
    assert fields["status"] == 202
    assert fields["requestId"] and fields["durationMs"] >= 0
    from webriskops.observability import JsonFormatter

    line = JsonFormatter().format(access[0])
    assert json.loads(line)["status"] == 202
    assert "very-distinctive-evidence" not in caplog.text


def test_a_pooled_connection_the_server_ended_is_replaced_before_use(
    app, pg_url, client, scanner_headers, make_run
):
    # As after a PostgreSQL restart: the pooled connections are dead, the next request works.
    from webriskops.extensions import db

    run = make_run()
    db.session.remove()
    assert db.engine.pool.checkedin() >= 1
    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as admin:
        ended = admin.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    assert ended and all(done for (done,) in ended)
    body = json.dumps(payloads.completed(run.id))
    response = client.post(
        "/api/scanner/results", data=body, headers=scanner_headers, content_type="application/json"
    )
    assert response.status_code == 202, response.json
