"""The README's screenshots, made from the demo data so that they stay current.

``make screenshots``: builds a fresh SQLite database in a temporary folder,
loads the demo, serves it on a free port with a jobs worker beside it, and
photographs four pages in Debian's Chromium (``TECOPIO_CHROMIUM`` to point
elsewhere): a member's home, a group's analytics on a phone, a proposal, and
My data. The pictures land in ``docs/screenshots/``.
"""

import contextlib
import io
import os
import sys
import tempfile
import threading
from pathlib import Path

import flask_migrate
from playwright.sync_api import sync_playwright
from sqlalchemy import select
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tecopio import create_app, jobs  # noqa: E402
from tecopio.db import db  # noqa: E402
from tecopio.demo import DEMO_ENERGY_SLUG, DEMO_PASSWORD, load_demo_data  # noqa: E402
from tecopio.governance.models import Proposal  # noqa: E402
from tecopio.groups.models import Group  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("TECOPIO_CHROMIUM", "/usr/bin/chromium")


def demo_app(folder: Path):
    app = create_app(
        {
            "TECOPIO_ENV": "development",
            "SECRET_KEY": "screenshots",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'demo.sqlite'}",
            "JOBS_BACKEND": "memory",
            "MAIL_BACKEND": "console",
            "RATELIMIT_ENABLED": False,
            "PASSWORD_HASH_PROFILE": "CHEAPEST",
        }
    )
    # The demo's emails go to the console backend: not worth printing here.
    with app.app_context(), contextlib.redirect_stderr(io.StringIO()):
        flask_migrate.upgrade(directory=str(ROOT / "migrations"))
        load_demo_data(db.session)
        db.session.commit()
        jobs.run_pending(periodic=True)
        group = db.session.scalar(select(Group).where(Group.slug == DEMO_ENERGY_SLUG))
        proposal = db.session.scalar(
            select(Proposal)
            .where(Proposal.group_id == group.id, Proposal.kind == "motion")
            .order_by(Proposal.number)
        )
        number = proposal.number
    return app, number


def serve(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stop = threading.Event()

    def work():
        while not stop.wait(0.5):
            with app.app_context():
                jobs.run_pending(periodic=True)

    threading.Thread(target=work, daemon=True).start()
    return server, stop


def photograph(base: str, number: int) -> None:
    shots = [
        ("home.png", "ane", "/", 1280, None),
        ("analytics-phone.png", "ane", f"/groups/{DEMO_ENERGY_SLUG}/analytics", 390, 1600),
        ("proposal.png", "jon", f"/groups/{DEMO_ENERGY_SLUG}/proposals/{number}", 1280, None),
        ("my-data.png", "iker", "/my/data", 1280, 1400),
        ("offer.png", "ane", f"/groups/{DEMO_ENERGY_SLUG}/offers/1", 1280, 1500),
        ("bids.png", "iker", f"/groups/{DEMO_ENERGY_SLUG}/offers/3/bids", 1280, 1100),
        ("deal.png", "iker", f"/groups/{DEMO_ENERGY_SLUG}/offers/4/deal", 1280, 1100),
        ("feed.png", "iker", f"/groups/{DEMO_ENERGY_SLUG}/feed", 1280, 1000),
        (
            "company-feedback.png",
            "nora",
            "/partners/ekiluz-energia-kooperatiba/feedback",
            1280,
            1200,
        ),
        (
            "company-offer-phone.png",
            "nora",
            f"/partners/ekiluz-energia-kooperatiba/offers/{DEMO_ENERGY_SLUG}/1",
            390,
            1600,
        ),
        ("money.png", "ane", f"/groups/{DEMO_ENERGY_SLUG}/money", 1280, 1500),
        ("my-share-phone.png", "iker", f"/groups/{DEMO_ENERGY_SLUG}/money/mine/2", 390, 1000),
    ]
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for name, person, path, width, height in shots:
            context = browser.new_context(viewport={"width": width, "height": 900}, locale="en-GB")
            page = context.new_page()
            page.goto(f"{base}/login")
            page.locator("main input[name=email]").fill(f"{person}@example.com")
            page.locator("main input[name=password]").fill(DEMO_PASSWORD)
            page.locator("main form button[type=submit]").click()
            page.wait_for_url(f"{base}/")
            page.goto(base + path)
            if height:
                page.screenshot(
                    path=OUT / name,
                    full_page=True,
                    clip={"x": 0, "y": 0, "width": width, "height": height},
                )
            else:
                page.screenshot(path=OUT / name, full_page=True)
            print(f"docs/screenshots/{name}")
            context.close()
        browser.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        app, number = demo_app(Path(folder))
        server, stop = serve(app)
        try:
            photograph(f"http://127.0.0.1:{server.server_port}", number)
        finally:
            stop.set()
            server.shutdown()


if __name__ == "__main__":
    main()
