"""The database: the declarative ``Base``, the Flask-SQLAlchemy handle and shared column types.

Kept out of the package ``__init__`` so that every feature's models can import
it without an import cycle.
"""

import sqlite3
from datetime import UTC, date, datetime

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, Engine, Enum, MetaData, event
from sqlalchemy.orm import DeclarativeBase, registry
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def today() -> date:
    """The platform's day, the same everywhere: the UTC date, never the server's local one.

    Intent windows, the years analytics offer and the demo's dates all use it.
    """
    return utcnow().date()


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC timestamp on every backend.

    SQLite keeps no time zone, so values are stored as naive UTC there and made
    aware again when read; naive datetimes are refused so that local times
    never slip in.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use tecopio.db.utcnow()")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def str_enum(enum_class, name: str) -> Enum:
    """Store a ``StrEnum`` by its values, checked by the database, on every backend."""
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=20,
        validate_strings=True,
        values_callable=lambda members: [member.value for member in members],
    )


class Base(DeclarativeBase):
    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime()},
    )


db = SQLAlchemy(model_class=Base)
migrate = Migrate()


SQLITE_BUSY_TIMEOUT_MS = 30_000


@event.listens_for(Engine, "connect")
def _sqlite_on_connect(dbapi_connection, connection_record):
    """Foreign keys on, and let SQLAlchemy (not the driver) start transactions.

    pysqlite's own transaction handling breaks SAVEPOINT, which the tests'
    rolled-back transactions and nested service transactions rely on.
    """
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        # Every transaction takes the write lock (below): a request waits for a long job
        # (a release being published) rather than failing after a few seconds.
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_on_begin(connection):
    """SQLite: take the write lock when the transaction begins. A deferred transaction that
    reads, then writes while another connection writes, is refused at once ("database is
    locked", no waiting, to avoid a deadlock); begun immediate, it waits its turn instead."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _render_migration_item(type_, obj, autogen_context):
    """Write UTCDateTime columns as plain ``sa.DateTime`` so migrations never import app code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def init_app(app) -> None:
    db.init_app(app)
    migrate.init_app(
        app, db, render_as_batch=True, compare_type=True, render_item=_render_migration_item
    )
