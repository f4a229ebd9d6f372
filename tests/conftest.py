"""Test fixtures.

The schema is created once per run, by the real migrations, in a database of
its own (a temporary SQLite file, or a PostgreSQL database created and
dropped here when TECOPIO_TEST_DATABASE_URL is set). Each test then runs in a
transaction that is rolled back at its end, so tests never see each other's
rows and no test pays for a new database.
"""

import contextlib
import email
import os
import socket
import uuid
from pathlib import Path

import flask_migrate
import pytest
from aiosmtpd.controller import Controller
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import has_app_context, has_request_context
from flask.globals import app_ctx as app_context
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from tecopio import create_app
from tecopio.config import normalise_database_url
from tecopio.db import db
from tecopio.limiter import limiter
from tests import factories
from tests.forms import FormClient

TEST_DATABASE_URL = os.environ.get("TECOPIO_TEST_DATABASE_URL")
TEST_SECRET_KEY = "test-secret-key"


@contextlib.contextmanager
def temporary_database(tmp_dir, label: str):
    """A fresh, empty database for this run; dropped afterwards."""
    if not TEST_DATABASE_URL:
        yield f"sqlite:///{tmp_dir / (label + '.sqlite')}"
        return
    server_url = make_url(normalise_database_url(TEST_DATABASE_URL))
    name = f"tecopio_{label}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server_url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def make_test_app(database_url: str, **overrides):
    config = {
        "TESTING": True,
        "TECOPIO_ENV": "testing",
        "SECRET_KEY": TEST_SECRET_KEY,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "PASSWORD_HASH_PROFILE": "CHEAPEST",
        "RATELIMIT_STORAGE_URI": "memory://",
        "PUBLIC_URL": "http://localhost",
        # Jobs wait in memory; the test client runs them around each request.
        "JOBS_BACKEND": "memory",
    }
    config.update(overrides)
    return create_app(config)


class _Inbox:
    """Collects every message our SMTP server receives."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.messages.append(message)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def smtp_server():
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    with temporary_database(tmp_path_factory.mktemp("db"), "test") as url:
        yield url


def compile_translations() -> None:
    """Compile the .po catalogues, as ``make`` does, so that pytest alone works too."""
    for po_path in (Path(__file__).parent.parent / "tecopio" / "translations").glob(
        "*/LC_MESSAGES/messages.po"
    ):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with open(po_path, "rb") as po:
            catalog = read_po(po)
        with open(mo_path, "wb") as mo:
            write_mo(mo, catalog)


@pytest.fixture(scope="session")
def app(database_url, smtp_server):
    compile_translations()
    app = make_test_app(
        database_url,
        MAIL_BACKEND="smtp",
        MAIL_SERVER=smtp_server.hostname,
        MAIL_PORT=smtp_server.port,
    )
    with app.app_context():
        flask_migrate.upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


class _RequestScopedTestSession(scoped_session):
    """The test's session, and one session of its own for each request, as in production.

    All of them work on the test's one connection, inside its transaction
    (rolled back at the end of the test), each in savepoints of its own: a
    request sees what the test committed, and the test sees what a request
    committed once it reads again (the test client expires the test's
    objects after each request). At the end of a request Flask-SQLAlchemy
    calls ``remove()``: the request's session is closed, rolling back what it
    did not commit. Outside requests (the test itself, the jobs the client
    runs as a worker would) ``remove()`` rolls back what the test's session
    did not commit but keeps it, and the test's objects, attached.
    """

    def remove(self):
        key = _request_key()
        sessions = self.registry.registry
        if key is not None and key in sessions:
            sessions.pop(key).close()
        elif self.registry.has():
            self.registry().rollback()


def _request_key():
    """The session scope of the request under way (its app context), or None."""
    return id(app_context._get_current_object()) if has_app_context() else None


def _scope():
    return _request_key() if has_request_context() else "test"


@pytest.fixture
def db_session(app):
    with app.app_context():
        connection = db.engine.connect()
    transaction = connection.begin()
    factory = sessionmaker(
        bind=connection, class_=Session, join_transaction_mode="create_savepoint"
    )
    session = _RequestScopedTestSession(factory, scopefunc=_scope)
    original = db.session
    db.session = session
    try:
        yield session
    finally:
        db.session = original
        session.registry().close()
        transaction.rollback()
        connection.close()


@pytest.fixture
def app_ctx(app, db_session):
    """An application context for service tests (not for tests that use ``client``)."""
    with app.app_context():
        yield


@pytest.fixture(autouse=True)
def _reset_rate_limits(app):
    with app.app_context():
        limiter.reset()


@pytest.fixture(autouse=True)
def _empty_job_queue(app):
    """No job queued by an earlier test (whose rows were rolled back) runs in this one."""
    queue = app.extensions["jobs"]
    queue.flush()
    queue.failed = []


@pytest.fixture
def client(app, db_session):
    app.test_client_class = FormClient
    return app.test_client()


@pytest.fixture
def make_client(app, db_session):
    """Further browsers, each with its own cookies."""
    app.test_client_class = FormClient

    def make():
        return app.test_client()

    return make


@pytest.fixture
def mail(smtp_server):
    """The messages sent during this test."""
    messages = smtp_server.handler.messages
    messages.clear()
    return messages


@pytest.fixture
def make(app, db_session):
    """Factories that write through the test's session: ``make.user(...)``."""
    return factories.Factories(db_session, app)


@pytest.fixture
def auth(client, make):
    """Log the test client in as a user: ``user = auth.login()`` or ``auth.login(user)``."""

    class Auth:
        def login(self, user=None, *, remember=False):
            user = user or make.user()
            response = client.submit(
                "/login",
                {"email": user.email, "password": factories.PASSWORD, "remember": remember},
            )
            assert response.status_code == 302, response.text
            return user

        def logout(self):
            return client.submit("/", {}, action="/logout")

    return Auth()


@pytest.fixture
def count_queries(db_session):
    """Count the SQL statements requests run inside a ``with count_queries() as counter:`` block."""

    @contextlib.contextmanager
    def counting():
        counter = {"n": 0}
        connection = db_session.connection()

        def before(conn, cursor, statement, parameters, context, executemany):
            # A request's own statements, not those of the jobs the test client runs
            # around it as a worker would.
            bookkeeping = (
                statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK"))
            )
            if has_request_context() and not bookkeeping:
                counter["n"] += 1

        event.listen(connection, "before_cursor_execute", before)
        try:
            yield counter
        finally:
            event.remove(connection, "before_cursor_execute", before)

    return counting
