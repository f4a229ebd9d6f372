"""Analytics' part in a person's export and erasure (see ``tecopio/privacy/registry.py``).

Analytics keeps released figures (nobody's data), per group which members
changed what they share since the last release (so that the next release
waits for enough of them), and the copy of what members shared that the
latest release was computed from (``changes.py``: the next release is
compared with it row by row). An erasure withdraws the figures of the
person's groups and leaves the copy under a stand-in that names no one, until
each group's next release replaces it.
"""

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tecopio.accounts.models import User
from tecopio.analytics.changes import (
    BasisItem,
    BasisLink,
    BasisSegment,
    HeldPart,
    detach_member,
)
from tecopio.analytics.company import CompanyPart
from tecopio.analytics.company import detach_member as detach_company_parts
from tecopio.analytics.models import AnalyticsSnapshot, ChangedMember
from tecopio.analytics.source import allowed_roots, shared_regions
from tecopio.categories.services import load_tree
from tecopio.governance.charters import current_charters
from tecopio.groups.models import Group, Membership
from tecopio.privacy.registry import columns_of, register_personal_data


def export_changes(session: Session, user: User) -> list[dict]:
    rows = session.execute(
        select(ChangedMember.group_id, Group.name, ChangedMember.strand)
        .join(Group, Group.id == ChangedMember.group_id)
        .where(ChangedMember.user_id == user.id)
        .order_by(Group.name, ChangedMember.strand)
    )
    return [
        {"id": [group_id, user.id, strand], "group": name, "changed": strand}
        for group_id, name, strand in rows
    ]


def withdraw_figures(session: Session, user: User) -> None:
    """The releases of the person's groups are withdrawn (their data may be in them)."""
    groups = select(Membership.group_id).where(Membership.user_id == user.id)
    session.execute(delete(AnalyticsSnapshot).where(AnalyticsSnapshot.group_id.in_(groups)))


def _exporter(model):
    def export(session: Session, user: User) -> list[dict]:
        rows = session.execute(
            select(model, Group.name)
            .join(Group, Group.id == model.group_id)
            .where(model.member == user.id)
            .order_by(Group.name, model.id)
        )
        return [
            {"id": row.id, "group": name, **columns_of(row, skip={"id", "group_id", "member"})}
            for row, name in rows
        ]

    return export


def detach(session: Session, user: User) -> None:
    """The copy the next releases compare with stays, under a stand-in (``changes.py``)."""
    groups = set(session.scalars(select(BasisItem.group_id).where(BasisItem.member == user.id)))
    charters = current_charters(session, groups)
    tree = load_tree(session)
    offered = {
        group_id: [
            key
            for key, _name in shared_regions(
                session, group_id, charter.k_anonymity, allowed_roots(charter, tree)
            )
        ]
        for group_id, charter in charters.items()
    }
    detach_member(session, user.id, lambda group_id: offered.get(group_id, []))


def export_company_parts(session: Session, user: User) -> list[dict]:
    rows = session.execute(
        select(CompanyPart, Group.name)
        .join(Group, Group.id == CompanyPart.group_id)
        .where(CompanyPart.member == user.id)
        .order_by(Group.name, CompanyPart.id)
    )
    return [
        {
            "id": part.id,
            "group": name,
            "figure": part.cell,
            "shown": part.shown,
            "previous": part.previous,
        }
        for part, name in rows
    ]


def register() -> None:
    register_personal_data(
        "analytics_changes",
        table="analytics_changed_members",
        title=_l("Changes waiting for the next release of figures"),
        export=export_changes,
        erase=withdraw_figures,
        kept=_l(
            "That what you shared changed since each group's last release of figures, "
            "without your name, so that its next release still waits for enough members; "
            "the figures published with your data are withdrawn."
        ),
    )
    register_personal_data(
        "analytics_basis",
        table="analytics_basis_items",
        title=_l("What you shared that each group's latest figures were computed from"),
        export=_exporter(BasisItem),
        erase=detach,
        kept=_l(
            "What you shared, as each group's latest figures counted it: kept without your "
            "name, under a stand-in, until the group's next release of figures replaces it, "
            "so that the next figures cannot show what you had shared by comparison with the "
            "last ones (your region only where at least k members of the group live there)."
        ),
    )
    register_personal_data(
        "analytics_basis_companies",
        table="analytics_basis_links",
        title=_l("The companies your preferences named in those figures"),
        export=_exporter(BasisLink),
        kept=_l(
            "The companies your preferences named in those figures: kept the same way, "
            "until that next release."
        ),
    )
    register_personal_data(
        "analytics_basis_segments",
        table="analytics_basis_segments",
        title=_l("The segment you fell in on each page of those figures"),
        export=_exporter(BasisSegment),
        kept=_l(
            "The segment you fell in on each page of those figures: kept the same way, "
            "until that next release."
        ),
    )
    register_personal_data(
        "analytics_held_parts",
        table="analytics_held_parts",
        title=_l("Your part in figures held back since you changed them"),
        export=_exporter(HeldPart),
        kept=_l(
            "Your part in figures held back since you changed them: kept the same way, "
            "until each of those figures is shown again."
        ),
    )
    register_personal_data(
        "analytics_company_parts",
        table="analytics_company_parts",
        title=_l("Your part in the figures each group released to companies"),
        export=export_company_parts,
        erase=lambda session, user: detach_company_parts(session, user.id),
        kept=_l(
            "Your part in the figures a group released to companies in its offers: kept "
            "without your name, under a stand-in, so that its next offer cannot show what you "
            "had shared by comparison with the last one."
        ),
    )
