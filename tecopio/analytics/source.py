"""Where every figure's rows come from: members' consented data, narrowed by the page's filters."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func
from sqlalchemy.orm import Session

from tecopio.privacy.services import shared_with_group


@dataclass(frozen=True)
class Filters:
    root_category_id: int | None = None
    start: date | None = None  # items recorded on or after this day
    end: date | None = None  # items recorded on or before this day


def consented(model, group_id: int, filters: Filters, *columns):
    statement = shared_with_group(model, group_id, *columns, root_id=filters.root_category_id)
    if filters.start is not None:
        statement = statement.where(model.created_at >= midnight(filters.start))
    if filters.end is not None:
        statement = statement.where(model.created_at < midnight(filters.end + timedelta(days=1)))
    return statement


def midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def month_of(session: Session, column):
    if dialect(session) == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM")
    return func.strftime("%Y-%m", column)
