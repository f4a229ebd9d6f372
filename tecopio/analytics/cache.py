"""Released figures kept per group until the data behind them changes.

Computing a large group's figures takes seconds; most page views ask for the
same ones. A snapshot is stored per group, filter and language with a
fingerprint of everything the figures depend on (members' items, consents,
memberships, the directory, members' regions); any change to those changes
the fingerprint, so the next view computes afresh. Consent withdrawal
therefore still takes effect at once. With calibrated noise, a snapshot also
means reloading the page shows the same noisy figures and spends no more
privacy budget until the data changes.
"""

import json
from datetime import datetime
from fractions import Fraction

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from tecopio.accounts.models import User
from tecopio.analytics.queries import Figures, group_figures
from tecopio.analytics.release import Row, Suppressed, Table
from tecopio.db import db, utcnow
from tecopio.directory.models import Company
from tecopio.groups.models import Membership
from tecopio.memberdata.models import Feedback, Intent, Preference, PreferenceCompany
from tecopio.privacy.models import Consent


class AnalyticsSnapshot(db.Model):
    __tablename__ = "analytics_snapshots"
    __table_args__ = (UniqueConstraint("group_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(400))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def data_fingerprint(session: Session) -> str:
    """One statement: counts and latest changes of every table the figures read."""
    parts = []
    for model, changed in (
        (Preference, Preference.updated_at),
        (Intent, Intent.updated_at),
        (Feedback, Feedback.updated_at),
        (Consent, Consent.updated_at),
        (Membership, Membership.updated_at),
        (User, User.region_changed_at),
    ):
        parts.append(select(func.count()).select_from(model).scalar_subquery())
        parts.append(select(func.max(changed)).scalar_subquery())
    parts.append(
        select(
            func.count(),
        )
        .select_from(PreferenceCompany)
        .scalar_subquery()
    )
    parts.append(select(func.sum(PreferenceCompany.company_id)).scalar_subquery())
    parts.append(select(func.count(Company.merged_into_id)).scalar_subquery())
    parts.append(select(func.max(Company.id)).scalar_subquery())
    return "|".join(str(value) for value in session.execute(select(*parts)).one())


def _row(data: dict) -> Row:
    return Row(
        key=data["key"],
        label=data["label"],
        members=data["members"],
        values=data["values"],
        children=[_row(child) for child in data["children"]],
        suppressed=Suppressed(data["suppressed"]) if data["suppressed"] else None,
    )


def _table(data: dict) -> Table:
    return Table(
        name=data["name"],
        rows=[_row(row) for row in data["rows"]],
        total=_row(data["total"]) if data["total"] else None,
        sums_released_elsewhere=data["sums_released_elsewhere"],
    )


def _released(row: Row) -> dict:
    """What a snapshot keeps of a row: only released numbers, never true member counts."""
    return {
        "key": row.key,
        "label": row.label,
        "members": 0,
        "values": row.values if row.released else {},
        "children": [_released(child) for child in row.children],
        "suppressed": row.suppressed,
    }


def _released_table(table: Table) -> dict:
    return {
        "name": table.name,
        "rows": [_released(row) for row in table.rows],
        "total": _released(table.total) if table.total else None,
        "sums_released_elsewhere": table.sums_released_elsewhere,
    }


def _dump(figures: Figures) -> str:
    data = {
        name: _released_table(getattr(figures, name))
        for name in (
            "demand",
            "windows",
            "preference_roots",
            "preference_values",
            "brands",
            "ratings",
            "segments",
        )
    }
    data["trends"] = {name: _released_table(table) for name, table in figures.trends.items()}
    data["k"] = figures.k
    data["noise_epsilon"] = str(figures.noise_epsilon) if figures.noise_epsilon else None
    return json.dumps(data)


def _load(payload: str) -> Figures:
    data = json.loads(payload)
    tables = {
        name: _table(data[name])
        for name in (
            "demand",
            "windows",
            "preference_roots",
            "preference_values",
            "brands",
            "ratings",
            "segments",
        )
    }
    return Figures(
        k=data["k"],
        trends={name: _table(table) for name, table in data["trends"].items()},
        noise_epsilon=Fraction(data["noise_epsilon"]) if data["noise_epsilon"] else None,
        **tables,
    )


def cached_figures(session: Session, group, filters, tree, locale: str) -> Figures:
    """The group's figures from its snapshot when nothing changed since, else computed afresh."""
    key = (
        f"{locale}|{filters.root_category_id}|{filters.region_key}|{filters.year}"
        f"|k={group.k_anonymity}|noise={group.noise_epsilon_milli}"
    )[:200]
    fingerprint = data_fingerprint(session)[:400]
    snapshot = session.scalar(
        select(AnalyticsSnapshot).where(
            AnalyticsSnapshot.group_id == group.id, AnalyticsSnapshot.key == key
        )
    )
    if snapshot is not None and snapshot.fingerprint == fingerprint:
        return _load(snapshot.payload)
    figures = group_figures(session, group, filters, tree, locale)
    # This one is replaced, and every other snapshot of the group that is out of date goes.
    session.execute(
        delete(AnalyticsSnapshot).where(
            AnalyticsSnapshot.group_id == group.id,
            (AnalyticsSnapshot.key == key) | (AnalyticsSnapshot.fingerprint != fingerprint),
        )
    )
    session.add(
        AnalyticsSnapshot(
            group_id=group.id, key=key, fingerprint=fingerprint, payload=_dump(figures)
        )
    )
    return figures


def commit_snapshot(session: Session) -> bool:
    """Commit a new snapshot; False when a concurrent view stored the same one first.

    Two first views of the same figures can run at once; the second to commit
    meets the unique (group, key) row of the first, which is just as good.
    """
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    return True
