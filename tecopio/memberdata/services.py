"""Members' own data: the rules for preferences, purchase intents and feedback.

Every function takes the owner; callers check with ``tecopio.policy`` that
the signed-in person is that owner before calling the edit functions.
Each change is recorded in the audit log with the owner as target, which is
what the member's activity timeline shows.
"""

from datetime import date, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, aliased, joinedload, selectinload

from tecopio.accounts.models import User
from tecopio.audit.services import record
from tecopio.categories.models import Category
from tecopio.db import today as current_day
from tecopio.db import utcnow
from tecopio.directory.models import Company
from tecopio.memberdata.models import (
    Feedback,
    FeedbackVisibility,
    Intent,
    IntentStatus,
    InvalidIntentTransition,
    Preference,
    PreferenceCompany,
    Stance,
    intent_locked,
    member_moves,
)
from tecopio.memberdata.vocab import UNITS, VALUES
from tecopio.money import CURRENCIES, MAX_MINOR
from tecopio.sanitize import clean_html
from tecopio.text import InvalidText, clean_paragraphs

NOTE_MAX = 1000
DESCRIPTION_MAX = 1000
FEEDBACK_MAX = 5000
QUANTITY_MAX = 1_000_000
WINDOW_MAX_DAYS = 5 * 366


class InvalidItem(ValueError):
    """Bad input for one field; ``field`` names the form field it belongs to."""

    def __init__(self, field: str, message):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class IntentLocked(ValueError):
    message = _l("This intent is committed to a deal; change it on the deal.")


def _category(session: Session, category_id) -> Category:
    category = session.get(Category, category_id) if isinstance(category_id, int) else None
    if category is None:
        raise InvalidItem("category_id", _l("Choose a category from the list."))
    return category


def _text(field: str, value: str, max_length: int) -> str:
    try:
        return clean_paragraphs(value, max_length=max_length)
    except InvalidText as exc:
        raise InvalidItem(field, exc.message) from exc


def _range(field: str, value, low: int, high: int, message) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidItem(field, message)
    return value


def _companies(session: Session, ids) -> list[Company]:
    ids = list(dict.fromkeys(ids or []))
    companies = (
        list(
            session.scalars(
                select(Company).where(Company.id.in_(ids), Company.merged_into_id.is_(None))
            )
        )
        if ids
        else []
    )
    if len(companies) != len(ids):
        raise InvalidItem("liked", _l("Choose companies from the directory."))
    return companies


# --- preferences --------------------------------------------------------------


def _preference_fields(session, *, category_id, importance, values, note, liked, avoided):
    values = list(dict.fromkeys(values or []))
    if any(value not in VALUES for value in values):
        raise InvalidItem("values", _l("Choose values from the list."))
    liked_companies, avoided_companies = _companies(session, liked), _companies(session, avoided)
    if {c.id for c in liked_companies} & {c.id for c in avoided_companies}:
        raise InvalidItem("avoided", _l("A company cannot be both liked and avoided."))
    return (
        {
            "category": _category(session, category_id),
            "importance": _range(
                "importance", importance, 1, 5, _l("Choose an importance from 1 to 5.")
            ),
            "values": values,
            "note": _text("note", note, NOTE_MAX),
        },
        liked_companies,
        avoided_companies,
    )


def _set_companies(preference: Preference, liked, avoided) -> None:
    preference.companies = [PreferenceCompany(company=c, stance=Stance.LIKE) for c in liked] + [
        PreferenceCompany(company=c, stance=Stance.AVOID) for c in avoided
    ]


def new_preference(session: Session, user: User, **fields) -> Preference:
    """Add a checked preference to the session (imports record one event for the file)."""
    values, liked, avoided = _preference_fields(session, **fields)
    preference = Preference(user=user, **values)
    _set_companies(preference, liked, avoided)
    session.add(preference)
    return preference


def create_preference(session: Session, user: User, **fields) -> Preference:
    preference = new_preference(session, user, **fields)
    session.flush()
    record(session, "preference.created", actor=user, target_user=user, item=preference.id)
    return preference


def update_preference(session: Session, preference: Preference, **fields) -> None:
    values, liked, avoided = _preference_fields(session, **fields)
    for key, value in values.items():
        setattr(preference, key, value)
    _set_companies(preference, liked, avoided)
    preference.updated_at = utcnow()
    session.flush()
    record(
        session,
        "preference.updated",
        actor=preference.user,
        target_user=preference.user,
        item=preference.id,
    )


def record_count(session: Session, user: User) -> int:
    """How many preferences, intents and feedback the person keeps, in one query."""
    counts = [
        select(func.count(model.id)).where(model.user_id == user.id).scalar_subquery()
        for model in (Preference, Intent, Feedback)
    ]
    return session.scalar(select(counts[0] + counts[1] + counts[2]))


def preferences_of(session: Session, user: User) -> list[Preference]:
    return list(
        session.scalars(
            select(Preference)
            .where(Preference.user_id == user.id)
            .options(
                joinedload(Preference.category),
                selectinload(Preference.companies).joinedload(PreferenceCompany.company),
            )
            .order_by(Preference.created_at.desc(), Preference.id.desc())
        )
    )


# --- intents --------------------------------------------------------------------


def _intent_fields(
    session,
    *,
    category_id,
    description,
    quantity,
    unit,
    budget_min,
    budget_max,
    currency,
    window_start,
    window_end,
    today: date,
    new: bool,
):
    if unit not in UNITS:
        raise InvalidItem("unit", _l("Choose a unit from the list."))
    if currency not in CURRENCIES:
        raise InvalidItem("currency", _l("Choose a currency from the list."))
    budget_min = _range("budget_min", budget_min, 0, MAX_MINOR, _l("Enter a budget of 0 or more."))
    budget_max = _range("budget_max", budget_max, 0, MAX_MINOR, _l("Enter a budget of 0 or more."))
    if budget_min > budget_max:
        raise InvalidItem("budget_max", _l("The maximum budget must not be below the minimum."))
    if not isinstance(window_start, date) or not isinstance(window_end, date):
        raise InvalidItem("window_start", _l("Enter both dates of the time window."))
    if window_start > window_end:
        raise InvalidItem("window_end", _l("The window must not end before it starts."))
    if new and window_end < today:
        raise InvalidItem("window_end", _l("The window must not end in the past."))
    if window_end - window_start > timedelta(days=WINDOW_MAX_DAYS):
        raise InvalidItem("window_end", _l("A time window can last at most five years."))
    return {
        "category": _category(session, category_id),
        "description": _text("description", description, DESCRIPTION_MAX),
        "quantity": _range(
            "quantity", quantity, 1, QUANTITY_MAX, _l("Enter a quantity of at least 1.")
        ),
        "unit": unit,
        "budget_min": budget_min,
        "budget_max": budget_max,
        "currency": currency,
        "window_start": window_start,
        "window_end": window_end,
    }


def new_intent(session: Session, user: User, *, today: date | None = None, **fields) -> Intent:
    values = _intent_fields(session, today=today or current_day(), new=True, **fields)
    intent = Intent(user=user, status=IntentStatus.OPEN, **values)
    session.add(intent)
    return intent


def create_intent(session: Session, user: User, *, today: date | None = None, **fields) -> Intent:
    intent = new_intent(session, user, today=today, **fields)
    session.flush()
    record(session, "intent.created", actor=user, target_user=user, item=intent.id)
    return intent


def update_intent(session: Session, intent: Intent, *, today: date | None = None, **fields) -> None:
    if intent_locked(intent):
        raise IntentLocked()
    values = _intent_fields(session, today=today or current_day(), new=False, **fields)
    for key, value in values.items():
        setattr(intent, key, value)
    intent.updated_at = utcnow()
    session.flush()
    record(session, "intent.updated", actor=intent.user, target_user=intent.user, item=intent.id)


def change_intent_status(session: Session, intent: Intent, target: IntentStatus) -> None:
    if intent_locked(intent):
        raise IntentLocked()
    if target not in member_moves(intent):
        raise InvalidIntentTransition(intent.status, target)
    intent.status = target
    intent.updated_at = utcnow()
    session.flush()
    record(
        session,
        "intent.status",
        actor=intent.user,
        target_user=intent.user,
        item=intent.id,
        status=target.value,
    )


def intents_of(session: Session, user: User) -> list[Intent]:
    return list(
        session.scalars(
            select(Intent)
            .where(Intent.user_id == user.id)
            .options(joinedload(Intent.category))
            .order_by(Intent.window_start, Intent.id)
        )
    )


# --- feedback -------------------------------------------------------------------


def _feedback_fields(session, *, company_id, rating, body, visibility, category_id=None):
    company = session.get(Company, company_id) if isinstance(company_id, int) else None
    if company is None or company.merged_into_id is not None:
        raise InvalidItem("company_id", _l("Choose a company from the directory."))
    try:
        visibility = FeedbackVisibility(visibility)
    except ValueError as exc:
        raise InvalidItem("visibility", _l("Choose who may see this feedback.")) from exc
    body = _text("body", body, FEEDBACK_MAX)
    category = _category(session, category_id) if category_id else company.sector
    if category is None:
        raise InvalidItem(
            "category_id", _l("This company has no sector in the directory: choose a category.")
        )
    return {
        "company": company,
        "category": category,
        "rating": _range("rating", rating, 1, 5, _l("Choose a rating from 1 to 5.")),
        "body": body,
        "body_html": clean_html(body),
        "visibility": visibility,
    }


def create_feedback(
    session: Session, user: User, *, deal_id: int | None = None, **fields
) -> Feedback:
    feedback = Feedback(user=user, deal_id=deal_id, **_feedback_fields(session, **fields))
    session.add(feedback)
    session.flush()
    record(session, "feedback.created", actor=user, target_user=user, item=feedback.id)
    return feedback


def update_feedback(session: Session, feedback: Feedback, **fields) -> None:
    if feedback.deal_id is not None and fields.get("company_id") != feedback.company_id:
        raise InvalidItem(
            "company_id", _l("This feedback rates a deal: it stays about the deal's company.")
        )
    for key, value in _feedback_fields(session, **fields).items():
        setattr(feedback, key, value)
    feedback.updated_at = utcnow()
    session.flush()
    record(
        session,
        "feedback.updated",
        actor=feedback.user,
        target_user=feedback.user,
        item=feedback.id,
    )


def feedback_of(session: Session, user: User) -> list[Feedback]:
    return list(
        session.scalars(
            select(Feedback)
            .where(Feedback.user_id == user.id)
            .options(joinedload(Feedback.company), joinedload(Feedback.category))
            .order_by(Feedback.created_at.desc(), Feedback.id.desc())
        )
    )


# --- any item ---------------------------------------------------------------------

ITEM_KINDS = {"preference": Preference, "intent": Intent, "feedback": Feedback}


def delete_item(session: Session, item) -> None:
    kind = next(name for name, model in ITEM_KINDS.items() if isinstance(item, model))
    if isinstance(item, Intent) and intent_locked(item):
        raise IntentLocked()
    record(session, f"{kind}.deleted", actor=item.user, target_user=item.user, item=item.id)
    session.delete(item)
    session.flush()


def move_company_mentions(source: Company, *, session: Session, target: Company) -> int:
    """``companies_merging``: mentions and feedback of ``source`` now name ``target``.

    A preference naming both keeps one link, to the target. Where the member
    liked one and avoided the other, they are told (in their audit trail)
    which mention was kept; the number of such conflicts is returned.
    """
    kept_links = aliased(PreferenceCompany)
    doubles = session.execute(
        select(PreferenceCompany, kept_links.stance, Preference.user_id)
        .join(kept_links, kept_links.preference_id == PreferenceCompany.preference_id)
        .join(Preference, Preference.id == PreferenceCompany.preference_id)
        .where(PreferenceCompany.company_id == source.id, kept_links.company_id == target.id)
    ).all()
    conflicts = 0
    for link, kept_stance, owner_id in doubles:
        if link.stance != kept_stance:
            conflicts += 1
            record(
                session,
                "preference.merge_conflict",
                target_user=session.get(User, owner_id),
                item=link.preference_id,
                dropped=link.stance.value,
                kept=kept_stance.value,
                company=target.name,
            )
        session.delete(link)
    session.flush()
    session.execute(
        update(PreferenceCompany)
        .where(PreferenceCompany.company_id == source.id)
        .values(company_id=target.id)
    )
    session.execute(
        update(Feedback).where(Feedback.company_id == source.id).values(company_id=target.id)
    )
    return conflicts
