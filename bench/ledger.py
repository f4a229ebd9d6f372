"""One payment shared among a group's members at scale: part of ``make bench``.

Builds a group of SCALE active members (its founding charter: the rest after a
10 % reserve shared in equal parts), a company and tipped deals whose bids set a
fee per member, in a throw-away database made by the real migrations; issues
their invoices; then records one payment after another (``record_offline_payment``
and the commit, as the admin's request does: the invoice paid, the money shared by
one ledger transaction with a leg for every member) after a first payment that
opened the members' accounts (its time is printed, not kept). The floor, measured in
the same run and in turn with the payments: the same number of entries written bare
by one ``INSERT … SELECT`` into the same table (with its triggers, through the same
driver), the header that seals them, and the commit that checks they balance. Prints
one payment statement by statement; writes the row ``revenue_split`` per backend to
bench/results.json, keeping the others.

    .venv/bin/python bench/ledger.py --scale 100000 --backend both [--profile]
"""

import argparse
import cProfile
import io
import json
import pstats
import re
import statistics
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # analytics.py, beside this file

import flask_migrate  # noqa: E402
from analytics import (  # noqa: E402 (puts ROOT on the path)
    ROOT,
    RUNS,
    Recorder,
    bulk_members,
    database,
)
from sqlalchemy import event, func, insert, select, text  # noqa: E402

from tecopio import create_app  # noqa: E402
from tecopio.accounts.models import User  # noqa: E402
from tecopio.categories.models import Category  # noqa: E402
from tecopio.db import db  # noqa: E402
from tecopio.demand.models import Bid, Deal, DemandOffer  # noqa: E402
from tecopio.directory.models import Company  # noqa: E402
from tecopio.governance.charter import defaults  # noqa: E402
from tecopio.governance.models import CharterVersion  # noqa: E402
from tecopio.groups.models import Group  # noqa: E402
from tecopio.ledger import services  # noqa: E402
from tecopio.ledger.models import (  # noqa: E402
    AccountKind,
    Invoice,
    InvoiceStatus,
    LedgerAccount,
)
from tecopio.partners.models import PartnerCompany  # noqa: E402

NAME = "revenue_split"
CURRENCY = "EUR"
FEE = 37  # cents per member: 10 % to the reserve, and 33.3 cents each, so cents are left over


def load(session, members: int, deals: int) -> int:
    """The group, its charter, its members (the first its admin), one company, and
    ``deals`` tipped deals, each on its own offer and bid with a fee per member."""
    now = datetime.now(UTC)
    session.execute(
        insert(Group), [{"slug": "bench", "name": "Bench", "description": "", "region": ""}]
    )
    group_id = session.scalar(select(Group.id).where(Group.slug == "bench"))
    charter = defaults()
    assert charter["revenue.split"] == "equal" and charter["revenue.reserve_percent"] == 10
    session.execute(
        insert(CharterVersion),
        [
            {
                "group_id": group_id,
                "number": 1,
                "rules": charter.document(),
                "adoption": "founding",
                "reason": "",
            }
        ],
    )
    bulk_members(session, group_id, range(1, members + 1), now, admins=(1,))
    energy = session.scalar(select(Category.id).where(Category.slug == "energy"))
    session.execute(
        insert(Company),
        [
            {
                "name": "Ekiluz Solar",
                "normalized_name": "ekiluz solar",
                "website": "",
                "sector_id": energy,
            }
        ],
    )
    company_id = session.scalar(select(Company.id))
    session.execute(
        insert(PartnerCompany),
        [
            {
                "company_id": company_id,
                "slug": "ekiluz-solar",
                "description": "",
                "contact_email": "contact@ekiluz.example",
                "verified_at": now,
            }
        ],
    )
    partner_id = session.scalar(select(PartnerCompany.id))
    closed = now - timedelta(days=2)
    for number in range(1, deals + 1):
        offer_id = session.scalar(
            insert(DemandOffer)
            .values(
                group_id=group_id,
                number=number,
                title=f"Green electricity {number}",
                category_id=energy,
                terms="",
                criteria=[{"key": "price", "weight": 100}],
                tipping_point=members,
                tiers=[],
                bid_deadline=closed,
                currency=CURRENCY,
                status="awarded",
                published_at=closed - timedelta(days=20),
                awarded_partner_id=partner_id,
                decided_at=closed,
            )
            .returning(DemandOffer.id)
        )
        bid_id = session.scalar(
            insert(Bid)
            .values(
                offer_id=offer_id,
                partner_id=partner_id,
                status="submitted",
                terms_answer="accept",
                currency=CURRENCY,
                price=10_000,
                tier_prices=[],
                fee_kind="per_member",
                fee=FEE,
                statements={},
            )
            .returning(Bid.id)
        )
        session.execute(
            insert(Deal).values(
                offer_id=offer_id,
                group_id=group_id,
                bid_id=bid_id,
                partner_id=partner_id,
                status="tipped",
                tipping_point=members,
                deadline=now + timedelta(days=20),
                tipped_at=now,
                told_members=members,
                told_quantity=members,
                told_at=now,
            )
        )
    session.commit()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT setval(pg_get_serial_sequence('users', 'id'), :n)"), {"n": members}
        )
    session.execute(text("ANALYZE"))
    session.commit()
    return group_id


class Timer(Recorder):
    """The statements an action runs (as analytics' Recorder), each with its time."""

    def __enter__(self):
        self.times, self.started = [], None
        event.listen(self.engine, "after_cursor_execute", self.done)
        return super().__enter__()

    def __exit__(self, *exc):
        event.remove(self.engine, "after_cursor_execute", self.done)
        return super().__exit__(*exc)

    def capture(self, conn, cursor, statement, parameters, context, executemany):
        super().capture(conn, cursor, statement, parameters, context, executemany)
        self.started = time.perf_counter()

    def done(self, conn, cursor, statement, parameters, context, executemany):
        self.times.append(((time.perf_counter() - self.started) * 1000, statement))


# The floor: a payment's entries written bare, in one statement, and the header sealing them.
FLOOR_ENTRIES = """
INSERT INTO ledger_entries (group_id, transaction_number, account_id, amount, weight)
SELECT :g, :n, a.id, :share, 1 FROM ledger_accounts a
 WHERE a.group_id = :g AND a.currency = :c AND a.kind = 'member'
UNION ALL SELECT :g, :n, :clearing, :received, NULL
UNION ALL SELECT :g, :n, :receivable, :settled, NULL
UNION ALL SELECT :g, :n, :invoiced, :received, NULL
UNION ALL SELECT :g, :n, :reserve, :kept, NULL
"""
FLOOR_HEADER = """
INSERT INTO ledger_transactions (group_id, number, kind, currency, memo, details,
  idempotency_key, created_at, previous_hash, hash)
VALUES (:g, :n, 'payment', :c, '', '{}', :key, CURRENT_TIMESTAMP, :hash, :hash)
"""


def floor_statements(backend: str, session, group_id: int) -> tuple[str, str, dict]:
    """The floor's statements in the driver's placeholders, and their values."""
    ids = dict(
        session.execute(
            select(LedgerAccount.kind, LedgerAccount.id).where(
                LedgerAccount.group_id == group_id,
                LedgerAccount.currency == CURRENCY,
                LedgerAccount.kind.in_(
                    [
                        AccountKind.CLEARING,
                        AccountKind.RECEIVABLE,
                        AccountKind.INVOICED,
                        AccountKind.RESERVE,
                    ]
                ),
            )
        ).all()
    )
    members = session.scalar(
        select(func.count()).where(
            LedgerAccount.group_id == group_id, LedgerAccount.kind == AccountKind.MEMBER
        )
    )
    amount = FEE * members
    share = (amount - amount // 10) // members
    values = {
        "g": group_id,
        "c": CURRENCY,
        "share": -share,
        "clearing": ids[AccountKind.CLEARING],
        "receivable": ids[AccountKind.RECEIVABLE],
        "invoiced": ids[AccountKind.INVOICED],
        "reserve": ids[AccountKind.RESERVE],
        "received": amount,
        "settled": -amount,
        "kept": -(amount - share * members),  # so that they balance
        "hash": "0" * 64,
    }
    if backend == "postgresql":  # psycopg's placeholders
        return (
            re.sub(r":(\w+)", r"%(\1)s", FLOOR_ENTRIES),
            re.sub(r":(\w+)", r"%(\1)s", FLOOR_HEADER),
            values,
        )
    return FLOOR_ENTRIES, FLOOR_HEADER, values


def bench_backend(backend: str, scale: int, workdir: Path, profile: bool) -> dict:
    runs = RUNS
    # A first payment opens the accounts; one is timed statement by statement; `runs`
    # are timed; one is traced for memory; one is profiled, if asked.
    deals = runs + 3 + (1 if profile else 0)
    with database(backend, workdir) as url:
        app = create_app(
            {
                "TECOPIO_ENV": "testing",
                "SECRET_KEY": "bench",
                "SQLALCHEMY_DATABASE_URI": url,
                "TESTING": True,
                "JOBS_BACKEND": "memory",
            }
        )
        with app.app_context(), app.test_request_context():
            flask_migrate.upgrade()
            print(f"\n{backend}: a group of {scale:,} members", file=sys.stderr)
            session = db.session
            group_id = load(session, scale, deals)
            for deal in session.scalars(select(Deal).order_by(Deal.id)).all():
                assert services.issue_invoice(session, deal) is not None
                session.commit()
            invoices = iter(
                session.scalars(
                    select(Invoice.id)
                    .where(Invoice.status == InvoiceStatus.ISSUED)
                    .order_by(Invoice.number)
                ).all()
            )
            session.close()
            commit_ms = []

            def pay() -> None:
                """The admin's request: who they are, the invoice, the payment, the commit."""
                admin = session.get(User, 1)
                invoice = session.get(Invoice, next(invoices))
                services.record_offline_payment(
                    session,
                    invoice,
                    amount=invoice.amount,
                    currency=invoice.currency,
                    reference=f"TRF-{invoice.number}",
                    actor=admin,
                )
                start = time.perf_counter()
                session.commit()
                commit_ms.append((time.perf_counter() - start) * 1000)
                session.close()

            start = time.perf_counter()
            pay()  # opens the members' accounts
            first_ms = (time.perf_counter() - start) * 1000
            # Statistics as PostgreSQL's autovacuum keeps them after so many new accounts
            # (SQLite gathers none by itself: an ANALYZE, as after loading).
            session.execute(text("ANALYZE"))
            session.commit()
            entries, header, values = floor_statements(backend, session, group_id)
            session.close()

            with Timer(db.engine) as timer:
                start = time.perf_counter()
                pay()
                one_ms = (time.perf_counter() - start) * 1000
            one_commit_ms = commit_ms[-1]

            raw = db.engine.raw_connection()
            numbers = iter(range(-1, -10 * runs, -1))  # the floor's transaction numbers

            def floor() -> None:
                # A negative number never becomes the head the next payment extends.
                number = next(numbers)
                cursor = raw.cursor()
                if backend == "sqlite":  # as the app begins (tecopio.db)
                    cursor.execute("BEGIN IMMEDIATE")
                cursor.execute(entries, {**values, "n": number})
                cursor.execute(header, {**values, "n": number, "key": f"floor:{number}"})
                cursor.close()
                raw.commit()

            floor()
            measured, floors = [], []
            for _ in range(runs):  # in turn, so that both meet the same table sizes
                for action, times in ((pay, measured), (floor, floors)):
                    start = time.perf_counter()
                    action()
                    times.append((time.perf_counter() - start) * 1000)
            raw.close()
            tracemalloc.start()
            pay()
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            if profile:
                profiler = cProfile.Profile()
                profiler.runcall(pay)
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(18)
                print(out.getvalue(), file=sys.stderr)
            rows = session.scalar(text("SELECT COUNT(*) FROM ledger_entries"))
            session.remove()
        with app.app_context():
            db.engine.dispose()
    median, floor_ms = statistics.median(measured), statistics.median(floors)
    sql_ms = sum(ms for ms, _statement in timer.times)
    print(
        f"  first payment (opens {scale:,} accounts) {first_ms:,.0f} ms;"
        f" one more, statement by statement: {one_ms:,.0f} ms, {sql_ms:,.0f} in SQL before"
        f" the commit, {one_commit_ms:,.0f} in the commit; {rows:,} entries in the end",
        file=sys.stderr,
    )
    for ms, statement in timer.times:
        print(f"    {ms:9.1f} ms  {' '.join(statement.split())[:110]}", file=sys.stderr)
    print(
        f"  runs {[round(m) for m in measured]} ms"
        f" (their commits {[round(c) for c in commit_ms[2 : 2 + len(measured)]]}),"
        f" floor {[round(f) for f in floors]} ms",
        file=sys.stderr,
    )
    return {
        "name": NAME,
        "backend": backend,
        "scale": scale,
        "statements": len(timer.statements),
        "median_ms": round(median, 1),
        "floor_ms": round(floor_ms, 1),
        "ratio": round(median / floor_ms, 2) if floor_ms else None,
        "peak_mb": round(peak, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=int, default=100_000, help="members in the synthetic group")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--profile", action="store_true", help="print where Python spends one payment's time"
    )
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    workdir = ROOT / "instance"
    workdir.mkdir(exist_ok=True)
    results = [bench_backend(backend, args.scale, workdir, args.profile) for backend in backends]
    print(f"\nOne payment shared among {args.scale:,} members (median of {RUNS} runs)\n")
    print(
        f"{'figure':<18} {'backend':<11} {'SQL':>4} {'median ms':>10} "
        f"{'floor ms':>9} {'ratio':>6} {'peak MB':>8}"
    )
    for r in results:
        print(
            f"{r['name']:<18} {r['backend']:<11} {r['statements']:>4} {r['median_ms']:>10} "
            f"{r['floor_ms']:>9} {r['ratio']:>6} {r['peak_mb']:>8}"
        )
    path = ROOT / "bench" / "results.json"
    fresh = {(r["name"], r["backend"]) for r in results}
    kept = json.loads(path.read_text()) if path.exists() else []
    kept = [r for r in kept if (r["name"], r["backend"]) not in fresh]
    path.write_text(json.dumps(kept + results, indent=2) + "\n")
    print("\nwritten to bench/results.json")


if __name__ == "__main__":
    main()
