"""The company directory: finding, adding and merging entries."""

import re
import unicodedata
from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from tecopio import events
from tecopio.accounts.models import User
from tecopio.audit.services import record
from tecopio.categories.models import Category
from tecopio.directory.models import Company
from tecopio.text import InvalidText, clean_line

NAME_MAX = 120
WEBSITE_MAX = 200


class CompanyExists(Exception):
    def __init__(self, existing: Company):
        super().__init__(existing.name)
        self.existing = existing
        self.message = _l("%(name)s is already in the directory.", name=existing.name)


class InvalidMerge(ValueError):
    message = _l("Choose two different companies that are not already merged.")


def _folded(name: str) -> str:
    """Lower case, without accents: "Eléctrica" -> "electrica"."""
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().casefold()


def normalise_company_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", _folded(name))[:NAME_MAX]


def clean_company_name(value: str | None) -> str:
    """A company name as stored, or ``InvalidText``: one plain line, not a spreadsheet formula."""
    name = clean_line(value, max_length=NAME_MAX)
    if name.startswith(("=", "+", "-", "@")):
        # Names are exported to spreadsheets and read by people; one that starts
        # a formula serves no one.
        raise InvalidText(_l("A name cannot start with =, +, - or @."))
    if not normalise_company_name(name):
        raise InvalidText(_l("Enter a name with letters or digits."))
    return name


def clean_website(value: str | None) -> str:
    value = (value or "").strip()
    if not value:
        return ""
    if len(value) > WEBSITE_MAX:
        raise InvalidText(_l("Use at most %(n)d characters.", n=WEBSITE_MAX))
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or re.search(r"[\s<>\"']", value):
        raise InvalidText(_l("Enter a web address starting with https:// or http://."))
    return value


def add_company(
    session: Session, user: User, *, name: str, website: str = "", sector_id: int | None = None
) -> Company:
    name = clean_company_name(name)
    normalized = normalise_company_name(name)
    existing = session.scalar(select(Company).where(Company.normalized_name == normalized))
    if existing is not None:
        raise CompanyExists(resolve(existing))
    sector = session.get(Category, sector_id) if sector_id else None
    if sector_id and (sector is None or sector.parent_id is not None):
        raise InvalidText(_l("Choose a sector from the list."))
    company = Company(
        name=name,
        normalized_name=normalized,
        website=clean_website(website),
        sector_id=sector.id if sector else None,
        created_by_id=user.id,
    )
    session.add(company)
    session.flush()
    record(session, "company.added", actor=user, company_id=company.id, name=company.name)
    return company


def resolve(company: Company) -> Company:
    """The entry a (possibly merged) company now lives under."""
    seen = set()
    while company.merged_into is not None and company.id not in seen:
        seen.add(company.id)
        company = company.merged_into
    return company


# Words that do not tell companies apart: articles and legal forms, in the three languages.
NOISE_WORDS = frozenset(
    [
        "a",
        "and",
        "coop",
        "cooperativa",
        "de",
        "del",
        "el",
        "kooperatiba",
        "la",
        "las",
        "los",
        "s",
        "sa",
        "sccl",
        "scoop",
        "sl",
        "slu",
        "the",
        "y",
    ]
)


def likeness_key(name: str) -> str:
    """A company's name without case, accents, punctuation, articles or legal form:
    "Red Eléctrica del Norte" and "Red Electrica Norte S.A." give the same key."""
    return "".join(w for w in re.findall(r"[a-z0-9]+", _folded(name)) if w not in NOISE_WORDS)


def possible_duplicates(companies: list[Company], limit: int = 20) -> list[tuple[Company, Company]]:
    """Pairs of entries whose names, stripped of articles and legal forms, are the same or one
    begins the other ("Som Energia" and "Som Energia SCCL"): merges worth a look.

    Sorted by that key, a key comes right before every key it begins, so each
    entry is compared only with the run of entries after it that it begins.
    The longer name is offered as the duplicate.
    """
    keyed = sorted(
        ((likeness_key(company.name), company) for company in companies),
        key=lambda pair: (pair[0], pair[1].id),
    )
    pairs: list[tuple[Company, Company]] = []
    for index, (key, shorter) in enumerate(keyed):
        if len(key) < 4:
            continue
        for other_key, longer in keyed[index + 1 :]:
            if not other_key.startswith(key):
                break
            pairs.append((longer, shorter))
            if len(pairs) == limit:
                return pairs
    return pairs


def active_companies(session: Session) -> list[Company]:
    """Every entry that was not merged away, by name."""
    return list(
        session.scalars(
            select(Company)
            .where(Company.merged_into_id.is_(None))
            .order_by(func.lower(Company.name), Company.id)
        )
    )


def search_companies(session: Session, query: str = "", *, page: int = 1, per_page: int = 50):
    condition = Company.merged_into_id.is_(None)
    query = (query or "").strip()[:100]
    if query:
        condition = condition & Company.name.icontains(query, autoescape=True)
    total = session.scalar(select(func.count(Company.id)).where(condition))
    companies = session.scalars(
        select(Company)
        .options(joinedload(Company.sector))
        .where(condition)
        .order_by(func.lower(Company.name), Company.id)
        .limit(per_page)
        .offset((max(page, 1) - 1) * per_page)
    ).all()
    return companies, total


def merge_companies(session: Session, admin: User, source: Company, target: Company) -> None:
    """Fold a duplicate into the entry kept; everything that named it now names the target."""
    if source.id == target.id or source.merged_into_id or target.merged_into_id:
        raise InvalidMerge()
    # Every feature that names companies moves its rows (memberdata: mentions, feedback).
    conflicts = sum(
        dropped or 0
        for _handler, dropped in events.companies_merging.send(
            source, session=session, target=target
        )
    )
    source.merged_into_id = target.id
    record(
        session,
        "company.merged",
        actor=admin,
        source_id=source.id,
        source=source.name,
        target_id=target.id,
        target=target.name,
        conflicts=conflicts,
    )
    session.flush()
    session.expire_all()
