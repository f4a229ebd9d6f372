"""The analytics page's data at scale: ``make bench`` (``make bench SCALE=10000`` for a quick run).

Builds a synthetic group (SCALE members, about ten preference/intent/feedback
rows each) in a throw-away database, then times, per figure and for the whole
page, the data the page computes against the floor: the same SQL statements
executed bare on the driver, with no Python around them. Prints medians,
ratios and peak memory, and writes them to bench/results.json.
"""

import argparse
import json
import os
import random
import statistics
import sys
import time
import tracemalloc
import uuid
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import flask_migrate  # noqa: E402
from sqlalchemy import create_engine, delete, event, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from tecopio import create_app  # noqa: E402
from tecopio.accounts.models import User  # noqa: E402
from tecopio.analytics import queries  # noqa: E402
from tecopio.analytics.cache import (  # noqa: E402
    publish_release,
    published_figures,
    release_state,
)
from tecopio.analytics.presentation import build_figures  # noqa: E402
from tecopio.analytics.release import release  # noqa: E402
from tecopio.analytics.segments import segments_tables  # noqa: E402
from tecopio.analytics.source import WHOLE  # noqa: E402
from tecopio.categories.models import Category  # noqa: E402
from tecopio.categories.services import load_tree  # noqa: E402
from tecopio.db import db  # noqa: E402
from tecopio.directory.models import Company  # noqa: E402
from tecopio.governance.charter import defaults  # noqa: E402
from tecopio.governance.charters import current_charter  # noqa: E402
from tecopio.governance.models import CharterVersion  # noqa: E402
from tecopio.groups.models import Group, Membership  # noqa: E402
from tecopio.memberdata.models import Feedback, Intent, Preference, PreferenceCompany  # noqa: E402
from tecopio.privacy.models import Consent  # noqa: E402

POSTGRES_URL = os.environ.get(
    "TECOPIO_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
VALUES = ["local", "organic", "renewable", "fair_trade", "repairable", "cooperative", "low_price"]
UNITS = ["unit", "kwh", "kg", "month"]
RUNS = 7
# Every page of a filter at once takes ten times the whole page: fewer runs.
SLOW = {"category pages", "release", "publication"}
SLOW_RUNS = 3
OTHER_ROWS = {"revenue_split"}  # bench/ledger.py writes them to the same file


def progress(label: str, done: int, total: int) -> None:
    width = 30
    filled = int(width * done / max(total, 1))
    bar = "#" * filled + "." * (width - filled)
    sys.stderr.write(f"\r  {label:<12} [{bar}] {done:>9,}/{total:,}")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


@contextmanager
def database(backend: str, workdir: Path):
    if backend == "sqlite":
        path = workdir / f"bench-{uuid.uuid4().hex[:6]}.sqlite"
        yield f"sqlite:///{path}"
        path.unlink(missing_ok=True)
        return
    server = make_url(POSTGRES_URL)
    name = f"tecopio_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def bulk(session, table, rows, label, batch=20_000):
    total = len(rows)
    for start in range(0, total, batch):
        session.execute(insert(table), rows[start : start + batch])
        progress(label, min(start + batch, total), total)


def bulk_members(session, group_id: int, user_ids, now, admins=()) -> None:
    """Users ``user_ids`` (ids chosen here), each an active member of the group."""
    bulk(
        session,
        User.__table__,
        [
            {
                "id": uid,
                "email": f"m{uid}@bench.example",
                "display_name": f"M{uid}",
                "password_hash": "!",
                "session_version": 1,
                "is_platform_admin": False,
                "created_at": now,
                "password_changed_at": now,
            }
            for uid in user_ids
        ],
        "members",
    )
    bulk(
        session,
        Membership.__table__,
        [
            {
                "group_id": group_id,
                "user_id": uid,
                "role": "admin" if uid in admins else "member",
                "status": "active",
                "created_at": now,
                "updated_at": now,
            }
            for uid in user_ids
        ],
        "memberships",
    )


def load(session, members: int, seed: int = 7) -> int:
    """A group of ``members`` members with preferences, intents and feedback: ~10 rows each."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    categories = session.execute(select(Category.id, Category.parent_id)).all()
    leaves = [cid for cid, parent in categories if parent is not None]
    roots = [cid for cid, parent in categories if parent is None]
    session.execute(
        insert(Group),
        [
            {
                "slug": "bench",
                "name": "Bench",
                "description": "",
                "region": "",
            }
        ],
    )
    group_id = session.scalar(select(Group.id).where(Group.slug == "bench"))
    session.execute(
        insert(CharterVersion),
        [
            {
                "group_id": group_id,
                "number": 1,
                "rules": defaults().document(),
                "adoption": "founding",
                "reason": "",
            }
        ],
    )
    companies = [
        {
            "name": f"Company {n}",
            "normalized_name": f"company{n}",
            "website": "",
            "sector_id": rng.choice(roots),
        }
        for n in range(400)
    ]
    bulk(session, Company.__table__, companies, "companies")
    company_ids = session.scalars(select(Company.id)).all()
    user_ids = list(range(1, members + 1))
    bulk_members(session, group_id, user_ids, now)
    consents = [
        {
            "user_id": uid,
            "group_id": group_id,
            "category_id": root,
            "granted": rng.random() < 0.9,
            "updated_at": now,
        }
        for uid in user_ids
        for root in rng.sample(roots, 4)
    ]
    bulk(session, Consent.__table__, consents, "consents")
    preferences, intents, feedback, links = [], [], [], []
    for uid in user_ids:
        for _ in range(3):
            created = now - timedelta(days=rng.randint(0, 720))
            preferences.append(
                {
                    "id": len(preferences) + 1,
                    "user_id": uid,
                    "category_id": rng.choice(leaves),
                    "importance": rng.randint(1, 5),
                    "values": rng.sample(VALUES, rng.randint(1, 3)),
                    "note": "",
                    "created_at": created,
                    "updated_at": created,
                }
            )
            if rng.random() < 0.3:
                links.append(
                    {
                        "preference_id": len(preferences),
                        "company_id": rng.choice(company_ids),
                        "stance": rng.choice(["like", "avoid"]),
                    }
                )
        for _ in range(3):
            created = now - timedelta(days=rng.randint(0, 720))
            start = date.today() + timedelta(days=rng.randint(0, 400))
            low = rng.randint(10, 2000) * 100
            intents.append(
                {
                    "user_id": uid,
                    "category_id": rng.choice(leaves),
                    "description": "",
                    "quantity": rng.randint(1, 500),
                    "unit": rng.choice(UNITS),
                    "budget_min": low,
                    "budget_max": low + rng.randint(0, 1000) * 100,
                    "currency": "EUR",
                    "window_start": start,
                    "window_end": start + timedelta(days=90),
                    "status": "open",
                    "created_at": created,
                    "updated_at": created,
                }
            )
        for _ in range(3):
            created = now - timedelta(days=rng.randint(0, 720))
            feedback.append(
                {
                    "user_id": uid,
                    "company_id": rng.choice(company_ids),
                    "category_id": rng.choice(leaves),
                    "rating": rng.randint(1, 5),
                    "body": "",
                    "body_html": "",
                    "visibility": "group",
                    "created_at": created,
                    "updated_at": created,
                }
            )
    bulk(session, Preference.__table__, preferences, "preferences")
    bulk(session, PreferenceCompany.__table__, links, "links")
    bulk(session, Intent.__table__, intents, "intents")
    bulk(session, Feedback.__table__, feedback, "feedback")
    session.commit()
    if session.get_bind().dialect.name == "postgresql":
        for table in ("users", "preferences"):  # fixed names, not input
            sequence = f"pg_get_serial_sequence('{table}', 'id')"
            session.execute(text(f"SELECT setval({sequence}, (SELECT max(id) FROM {table}))"))  # noqa: S608
        session.commit()
    session.execute(text("ANALYZE"))
    session.commit()
    rows = len(preferences) + len(intents) + len(feedback) + len(consents) + len(links)
    print(f"  {members:,} members, {rows:,} rows of their data", file=sys.stderr)
    return group_id


class Recorder:
    """Captures the SQL an action runs, to replay it bare as the floor."""

    def __init__(self, engine):
        self.engine, self.statements = engine, []

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self.capture)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self.capture)

    def capture(self, conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith("BEGIN"):  # the floor runs in its own
            self.statements.append((statement, parameters, executemany))


def release_all(tables, k: int) -> list:
    return [
        release(table, k) for table in (tables.values() if isinstance(tables, dict) else tables)
    ]


def new_data(session, group_id: int, tree) -> None:
    member_id = session.scalar(select(Membership.user_id).where(Membership.group_id == group_id))
    session.add(Preference(user_id=member_id, category_id=tree.roots[0].id, importance=3))
    session.commit()


def shown_release(session, group, filters, tree):
    figures = published_figures(session, group, filters, tree, wait_up_to=0)
    assert figures is not None, "one member's change leaves the release on the page"
    return figures


def removed_data(session, group_id: int) -> None:
    member_id = session.scalar(select(Membership.user_id).where(Membership.group_id == group_id))
    session.execute(delete(Preference).where(Preference.user_id == member_id))
    session.commit()


def withdrawn(session, group, filters, tree):
    figures = published_figures(session, group, filters, tree, wait_up_to=0)
    assert figures is None, "after a removal the release leaves the page"


def changed_data(session, group_id: int, tree, members: int) -> None:
    """``members`` members add a preference in every top category and an intent: every
    strand then changed for them, so a release is due."""
    ids = session.scalars(
        select(Membership.user_id).where(Membership.group_id == group_id).limit(members)
    ).all()
    today = date.today()
    for user_id in ids:
        for root in tree.roots:
            session.add(
                Preference(user_id=user_id, category_id=root.id, importance=4, values=["local"])
            )
        session.add(
            Intent(
                user_id=user_id,
                category_id=tree.roots[0].id,
                quantity=3,
                unit="unit",
                budget_min=1000,
                budget_max=2000,
                currency="EUR",
                window_start=today,
                window_end=today + timedelta(days=30),
            )
        )
    session.commit()


def publication(session, group, tree) -> None:
    """A release after changes: compared row by row with the last one, and kept as the
    basis of the next; rolled back, so that every run publishes the same release."""
    before = release_state(session, group).number
    assert publish_release(session, group, tree).number == before + 1
    session.rollback()


def median_ms(action, runs=RUNS):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def bench_backend(backend: str, scale: int, workdir: Path, only=None) -> list[dict]:
    results = []
    with database(backend, workdir) as url:
        app = create_app(
            {
                "TECOPIO_ENV": "testing",
                "SECRET_KEY": "bench",
                "SQLALCHEMY_DATABASE_URI": url,
                "TESTING": True,
                "JOBS_BACKEND": "memory",  # the figures are timed here, not queued
            }
        )
        with app.app_context(), app.test_request_context():
            flask_migrate.upgrade()
            print(f"\n{backend}: building a group of {scale:,} members", file=sys.stderr)
            group_id = load(db.session, scale)
            group = db.session.get(Group, group_id)
            # A first view publishes the release later views read.
            published_figures(db.session, group, queries.Filters(), load_tree(db.session))
            db.session.commit()
            group = db.session.get(Group, group_id)
            tree = load_tree(db.session)
            filters = queries.Filters()
            k = current_charter(db.session, group).k_anonymity
            session = db.session
            figures = {
                "demand": lambda: release_all(
                    queries.demand_tables(session, group_id, WHOLE, tree, "en", k), k
                ),
                "windows": lambda: release_all(queries.windows_tables(session, group_id, WHOLE), k),
                "preferences": lambda: [
                    release_all(tables, k)
                    for tables in queries.preference_tables(
                        session, group_id, WHOLE, tree, "en"
                    ).values()
                ],
                "ratings": lambda: release_all(
                    queries.ratings_tables(session, group_id, WHOLE, k), k
                ),
                "segments": lambda: release_all(
                    segments_tables(session, group_id, WHOLE, tree, k), k
                ),
                "trends": lambda: [
                    release_all(queries.trend_tables(session, group_id, WHOLE, model, name), k)
                    for name, model in queries.TREND_KINDS.items()
                ],
                "whole page data": lambda: build_figures(
                    queries.group_figures(session, group, filters, tree, "en"), "en", admin=True
                ),
                # Every later view, until the data changes: counters, snapshot, page rows.
                "page from snapshot": lambda: build_figures(
                    published_figures(session, group, filters, tree), "en", admin=True
                ),
                # The first views after new data: the snapshot, while a refresh (the whole
                # page data above) runs after the response.
                "page, new data": lambda: build_figures(
                    shown_release(session, group, filters, tree), "en", admin=True
                ),
                # After a removal: the page says the release was withdrawn.
                "page, removal": lambda: withdrawn(session, group, filters, tree),
                # A filter's pages are computed and released together (all top categories).
                # A release: the whole page and every page of the three filters, together.
                "release": lambda: queries.all_pages(session, group, tree, "en"),
                "category pages": lambda: queries.filter_pages(
                    session, group, queries.Filters(root_category_id=tree.roots[0].id), tree, "en"
                ),
                # Publishing a release after 1% of the members changed: the release above,
                # each changed member's part in every row before and after, the basis kept.
                "publication": lambda: publication(session, group, load_tree(session)),
            }
            raw = db.engine.raw_connection()
            for name, action in figures.items():
                if only and name not in only:
                    continue
                if name == "page, new data":
                    new_data(session, group_id, tree)
                if name == "page, removal":
                    removed_data(session, group_id)
                if name == "publication":
                    if release_state(session, group).number == 0:  # something to compare with
                        publish_release(session, group, tree)
                        session.commit()
                    changed_data(session, group_id, tree, max(scale // 100, 10))
                tree = load_tree(session)  # a commit expires the categories
                with Recorder(db.engine) as recorder:
                    action()

                def floor(statements=tuple(recorder.statements)):
                    cursor = raw.cursor()
                    if backend == "sqlite":  # its driver commits each statement otherwise
                        cursor.execute("BEGIN")
                    for statement, parameters, many in statements:
                        batch = many and isinstance(parameters, list | tuple) and parameters
                        if batch and isinstance(parameters[0], list | tuple | dict):
                            # rows written in one batch (a release's basis)
                            cursor.executemany(statement, parameters)
                            continue
                        cursor.execute(statement, parameters)
                        if cursor.description is not None:  # rows to read (not DDL or INSERT)
                            cursor.fetchall()
                    cursor.close()
                    raw.rollback()  # what a publication wrote, as the action's own rollback

                floor()
                runs = SLOW_RUNS if name in SLOW else RUNS
                measured, floor_ms = median_ms(action, runs), median_ms(floor, runs)
                tracemalloc.start()
                action()
                peak = tracemalloc.get_traced_memory()[1] / 2**20
                tracemalloc.stop()
                results.append(
                    {
                        "name": name,
                        "backend": backend,
                        "scale": scale,
                        "statements": len(recorder.statements),
                        "median_ms": round(measured, 1),
                        "floor_ms": round(floor_ms, 1),
                        "ratio": round(measured / floor_ms, 2) if floor_ms else None,
                        "peak_mb": round(peak, 2),
                    }
                )
            raw.close()
            db.session.remove()
        with app.app_context():
            db.engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=int, default=100_000, help="members in the synthetic group")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--only", nargs="*", help="measure only these (e.g. publication); others are kept"
    )
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    workdir = ROOT / "instance"
    workdir.mkdir(exist_ok=True)
    results = []
    for backend in backends:
        results += bench_backend(backend, args.scale, workdir, args.only)
    print(
        f"\nAnalytics data for a group of {args.scale:,} members"
        f" (median of {RUNS} runs, {SLOW_RUNS} for {', '.join(SLOW)})\n"
    )
    header = (
        f"{'figure':<18} {'backend':<11} {'SQL':>4} {'median ms':>10} "
        f"{'floor ms':>9} {'ratio':>6} {'peak MB':>8}"
    )
    print(header)
    for r in results:
        print(
            f"{r['name']:<18} {r['backend']:<11} {r['statements']:>4} {r['median_ms']:>10} "
            f"{r['floor_ms']:>9} {r['ratio']:>6} {r['peak_mb']:>8}"
        )
    path = ROOT / "bench" / "results.json"
    if path.exists():  # the other figures (with --only) and other scripts' rows stay
        fresh = {(r["name"], r["backend"]) for r in results}
        kept = [
            r
            for r in json.loads(path.read_text())
            if (r["name"], r["backend"]) not in fresh and (args.only or r["name"] in OTHER_ROWS)
        ]
        results = kept + results
    path.write_text(json.dumps(results, indent=2) + "\n")
    print("\nwritten to bench/results.json")


if __name__ == "__main__":
    main()
