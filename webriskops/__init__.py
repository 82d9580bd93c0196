"""WebRiskOps: scanner result ingest, reports and the read API.

``create_app`` only binds extensions and registers blueprints; nothing connects to a
database, Redis or object storage at import time.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from config import Config, config_from_environment

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def create_app(config: type[Config] | None = None) -> Flask:
    """Build the Flask application for ``config`` (default: the class ``WRO_ENV`` names)."""
    config = config or config_from_environment()
    config.check()

    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object(config)
    app.json.sort_keys = False
    if proxies := app.config["TRUSTED_PROXIES"]:
        # Behind a router every request comes from the router's address: login throttling
        # would lump all customers together. Believe only the hops we were told about.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        # A database that does not answer must fail a request in seconds, not minutes.
        options = app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {})
        connect_args = {"connect_timeout": 3, **options.get("connect_args", {})}
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {**options, "connect_args": connect_args}

    # Late, on purpose: every webriskops module (the scanner runtime, the worker) imports this
    # package first, and must not load the whole web app just to start.
    from webriskops import (
        accounts,
        auth,
        cli,
        database,
        docs,
        errors,
        health,
        ingest,
        jobs,
        metrics,
        observability,
        openapi,
        ratelimit,
        redis_client,
        reports,
        scans,
        security,
        storage,
    )
    from webriskops.auth import throttle
    from webriskops.auth.scanner import configured_secrets
    from webriskops.extensions import db, migrate
    from webriskops.redaction import Redactor

    # Every extension and service is bound here, in this one block.
    observability.init_app(app)
    errors.init_app(app)
    security.init_app(app)
    db.init_app(app)
    # Batch mode lets the same migrations alter tables on SQLite as on PostgreSQL.
    migrate.init_app(
        app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True, compare_type=True
    )
    database.init_app(app)
    redis_client.init_app(app)  # the one Redis client; the services below share it
    storage.init_app(app)
    jobs.init_app(app)
    ratelimit.init_app(app)
    throttle.init_app(app)
    health.init_app(app)
    metrics.init_app(app)
    with app.app_context():
        # The scanner secrets are redacted wherever they appear, whatever their format.
        app.extensions["redactor"] = Redactor(literal_secrets=configured_secrets())

    for feature in (auth, ingest, reports, scans, accounts, docs):
        app.register_blueprint(feature.bp)
    openapi.init_app(app)
    cli.init_app(app)
    return app
