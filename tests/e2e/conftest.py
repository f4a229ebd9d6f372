"""A live server and headless Chromium (Debian's ``chromium``, driven by Playwright)."""

import os
import shutil
import threading

import pytest
from sqlalchemy import update
from werkzeug.serving import make_server

from tecopio import jobs
from tecopio.accounts.models import User
from tecopio.db import db, utcnow
from tests.ledger_tables import ledger_unlocked

CHROMIUM = os.environ.get("TECOPIO_CHROMIUM", "/usr/bin/chromium")
# Reference data the migrations insert; the live server's clean-up keeps it.
SEEDED_BY_MIGRATIONS = {"categories"}
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _work(app, stop: threading.Event) -> None:
    """The worker beside the server: queued jobs, and the periodic ones, every half second."""
    while not stop.wait(0.5):
        with app.app_context():
            jobs.run_pending(periodic=True)


@pytest.fixture
def live_server(app):
    """Serve the app on a free port, with a worker; the rows it commits are deleted afterwards."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stop = threading.Event()
    worker = threading.Thread(target=_work, args=(app, stop), daemon=True)
    worker.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        stop.set()
        worker.join(timeout=30)
        server.shutdown()
        thread.join(timeout=10)
        app.extensions["jobs"].flush()
        with app.app_context():
            db.session.remove()
            with db.engine.begin() as connection, ledger_unlocked(connection):
                # Rows of the append-only consent log leave only with erased accounts.
                connection.execute(update(User).values(erased_at=utcnow()))
                for table in reversed(db.metadata.sorted_tables):
                    if table.name not in SEEDED_BY_MIGRATIONS:
                        connection.execute(table.delete())


@pytest.fixture(scope="session")
def browser():
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM} (install Debian's chromium package)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser):
    """Pages in separate browser contexts: separate people with separate cookies."""
    contexts = []

    def open_page(locale="en-GB"):
        context = browser.new_context(locale=locale)
        contexts.append(context)
        page = context.new_page()
        # On SQLite a request may wait up to 30 s for the worker's write lock
        # (tecopio.db.SQLITE_BUSY_TIMEOUT_MS) on a loaded machine.
        page.set_default_timeout(40_000)
        return page

    yield open_page
    for context in contexts:
        context.close()
