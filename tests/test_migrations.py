"""Migrations are the only way the schema changes: they build it, undo it, and match the models."""

import flask_migrate
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

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


def test_existing_proposals_are_numbered_within_their_group(tmp_path):
    """0010 gives each group's proposals 1, 2, … in the order they were opened."""
    now = "2026-11-01 10:00:00"
    with temporary_database(tmp_path, "numbers") as url:
        app = make_test_app(url)
        with app.app_context():
            flask_migrate.upgrade(revision="0009_analytics_basis")
            with db.engine.begin() as connection:
                for group_id in (1, 2):
                    connection.execute(
                        text(
                            "INSERT INTO groups (id, slug, name, description, region, "
                            "created_at) VALUES (:id, :slug, 'G', '', '', :now)"
                        ),
                        {"id": group_id, "slug": f"g{group_id}", "now": now},
                    )
                    connection.execute(
                        text(
                            "INSERT INTO charter_versions (id, group_id, number, rules, adoption, "
                            "reason, created_at) VALUES (:id, :id, 1, '{}', 'founding', '', :now)"
                        ),
                        {"id": group_id, "now": now},
                    )
                # Opened in turn: group 1, group 2, group 1, group 1, group 2.
                for proposal_id, group_id in enumerate((1, 2, 1, 1, 2), start=1):
                    connection.execute(
                        text(
                            "INSERT INTO proposals (id, group_id, kind, title, description, "
                            "payload, charter_version_id, opens_at, closes_at, status, yes, no, "
                            "abstain, electorate, outcome_note) VALUES (:id, :group, 'motion', "
                            "'T', '', '{}', :group, :now, :now, 'open', 0, 0, 0, 0, '')"
                        ),
                        {"id": proposal_id, "group": group_id, "now": now},
                    )
            flask_migrate.upgrade()
            with db.engine.connect() as connection:
                numbers = connection.execute(
                    text("SELECT id, group_id, number FROM proposals ORDER BY id")
                ).all()
            db.engine.dispose()
    assert [tuple(row) for row in numbers] == [
        (1, 1, 1),
        (2, 2, 1),
        (3, 1, 2),
        (4, 1, 3),
        (5, 2, 2),
    ]


def test_every_revision_id_fits_alembics_version_column():
    """PostgreSQL keeps the revision in a varchar(32): a longer id fails only there."""
    from pathlib import Path

    from alembic.script import ScriptDirectory

    migrations = Path(__file__).resolve().parent.parent / "migrations"
    scripts = ScriptDirectory(str(migrations))
    too_long = [r.revision for r in scripts.walk_revisions() if len(r.revision) > 32]
    assert too_long == []
