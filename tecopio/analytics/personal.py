"""Analytics' part in a person's export and erasure (see ``tecopio/privacy/registry.py``).

Analytics keeps no one's data, only released figures and, per group, which
members changed what they share since the last release (so that the next
release waits for enough of them).
"""

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tecopio.accounts.models import User
from tecopio.analytics.cache import AnalyticsSnapshot, ChangedMember
from tecopio.groups.models import Group, Membership
from tecopio.privacy.registry import register_personal_data


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
