"""Migrations are the only way the schema changes: they build it, undo it, and match the models."""

import flask_migrate
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from tecopio.db import db
from tests.conftest import make_test_app, temporary_database


def test_upgrade_to_head_and_back_to_base_on_an_empty_database(tmp_path):
    with temporary_database(tmp_path, "migrations") as url:
        app = make_test_app(url)
        with app.app_context():
            flask_migrate.upgrade()
            tables = set(inspect(db.engine).get_table_names())
            assert {"users", "groups", "memberships", "invitations", "audit_events"} <= tables
            flask_migrate.downgrade(revision="base")
            assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
            flask_migrate.upgrade()
            db.engine.dispose()


def test_models_and_migrations_agree(app):
    """What ``flask db check`` does: autogenerate finds nothing to change at head."""
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "render_as_batch": True}
        )
        differences = compare_metadata(context, db.metadata)
    assert differences == []
