"""Migrations: one head, upgrade from empty works on both databases, models match."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from tests.conftest import make_config
from webriskops import MIGRATIONS_DIR, create_app
from webriskops.extensions import db


def test_single_head():
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"], indirect=True)
def test_models_match_migrations(app):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_upgrade_downgrade_upgrade_from_empty_sqlite(tmp_path):
    app = create_app(make_config(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'm.sqlite3'}"))
    with app.app_context():
        upgrade()
        downgrade(revision="base")
        upgrade()
        assert "scan_runs" in db.inspect(db.engine).get_table_names()
        db.engine.dispose()
