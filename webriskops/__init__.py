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

    from webriskops import database, errors, health, jobs, observability, ratelimit, storage
    from webriskops.auth.scanner import configured_secrets
    from webriskops.extensions import csrf, db, migrate
    from webriskops.redaction import Redactor

    observability.init_app(app)
    errors.init_app(app)
    db.init_app(app)
    # Batch mode lets the same migrations alter tables on SQLite as on PostgreSQL.
    migrate.init_app(
        app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True, compare_type=True
    )
    database.init_app(app)
    csrf.init_app(app)
    storage.init_app(app)
    jobs.init_app(app)
    ratelimit.init_app(app)
    health.init_app(app)
    with app.app_context():
        # The scanner secrets are redacted wherever they appear, whatever their format.
        app.extensions["redactor"] = Redactor(literal_secrets=configured_secrets())

    from webriskops.auth import bp as auth_bp
    from webriskops.ingest import bp as ingest_bp
    from webriskops.reports import bp as reports_bp
    from webriskops.scans import bp as scans_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(ingest_bp)
    app.register_blueprint(reports_bp)
    app.register_blueprint(scans_bp)
    from webriskops.docs import bp as docs_bp

    app.register_blueprint(docs_bp)
    from webriskops.ingest.routes import store_results

    # The scanner authenticates with its shared secret, not a cookie: nothing to forge.
    csrf.exempt(store_results)

    from webriskops import cli, openapi

    openapi.init_app(app)
    cli.init_app(app)
    return app
