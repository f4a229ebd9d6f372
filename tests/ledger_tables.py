"""Clearing a test database's ledger: its tables refuse DELETE (they are append-only), so a
clean-up sets their triggers aside for the time of its own statements, and only then."""

import contextlib
import importlib.util
from pathlib import Path

from sqlalchemy import text

MIGRATION = Path(__file__).resolve().parent.parent / "migrations" / "versions" / "0019_ledger.py"
LEDGER_TABLES = ("ledger_entries", "ledger_transactions", "ledger_accounts")


def _migration():
    spec = importlib.util.spec_from_file_location("ledger_migration", MIGRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def ledger_unlocked(connection):
    """Within the block, the connection may delete ledger rows; the triggers are back after."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
        for table in LEDGER_TABLES:
            connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        yield
        for table in LEDGER_TABLES:
            connection.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
        connection.execute(text("SET CONSTRAINTS ALL DEFERRED"))
        return
    names = [
        row[0]
        for row in connection.execute(
            text(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN "
                "('ledger_entries', 'ledger_transactions', 'ledger_accounts')"
            )
        )
    ]
    for name in names:
        connection.execute(text(f"DROP TRIGGER {name}"))
    yield
    for statement in _migration().SQLITE_TRIGGERS:
        connection.execute(text(statement))
