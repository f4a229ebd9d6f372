"""Partner companies' part in a person's export and erasure (``tecopio/privacy/registry.py``)."""

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session, joinedload

from tecopio.accounts.models import User
from tecopio.partners.models import CompanyStaff, PartnerCompany, StaffInvitation
from tecopio.privacy.registry import iso, register_personal_data
from tecopio.text import normalise_email


def export_staff(session: Session, user: User) -> list[dict]:
    rows = session.scalars(
        select(CompanyStaff)
        .options(joinedload(CompanyStaff.partner).joinedload(PartnerCompany.company))
        .where(CompanyStaff.user_id == user.id)
        .order_by(CompanyStaff.id)
    )
    return [
        {
            "id": staff.id,
            "company": staff.partner.name,
            "role": staff.role.value,
            "status": staff.status.value,
            "created_at": iso(staff.created_at),
            "removed_at": iso(staff.removed_at),
        }
        for staff in rows
    ]


def erase_staff(session: Session, user: User) -> None:
    session.execute(delete(CompanyStaff).where(CompanyStaff.user_id == user.id))


def _staff_invitations(session: Session, user: User):
    return session.scalars(
        select(StaffInvitation)
        .options(joinedload(StaffInvitation.partner).joinedload(PartnerCompany.company))
        .where(
            or_(
                StaffInvitation.email == normalise_email(user.email),
                StaffInvitation.invited_by_id == user.id,
            )
        )
        .order_by(StaffInvitation.id)
    )


def export_staff_invitations(session: Session, user: User) -> list[dict]:
    """Invitations to her address, and those she sent (without the address they went to)."""
    mine = normalise_email(user.email)
    return [
        {
            "id": invitation.id,
            "company": invitation.partner.name,
            "to_you": invitation.email == mine,
            "sent_by_you": invitation.invited_by_id == user.id,
            "status": invitation.status.value,
            "created_at": iso(invitation.created_at),
            "expires_at": iso(invitation.expires_at),
        }
        for invitation in _staff_invitations(session, user)
    ]


def erase_staff_invitations(session: Session, user: User) -> None:
    session.execute(
        delete(StaffInvitation).where(StaffInvitation.email == normalise_email(user.email))
    )
    session.execute(
        update(StaffInvitation)
        .where(StaffInvitation.invited_by_id == user.id)
        .values(invited_by_id=None)
    )


def export_companies(session: Session, user: User) -> list[dict]:
    """Company accounts she registered or, as the operator, verified."""
    partners = session.scalars(
        select(PartnerCompany)
        .options(joinedload(PartnerCompany.company))
        .where(
            or_(PartnerCompany.created_by_id == user.id, PartnerCompany.verified_by_id == user.id)
        )
        .order_by(PartnerCompany.id)
    )
    return [
        {
            "id": partner.id,
            "company": partner.name,
            "registered_by_you": partner.created_by_id == user.id,
            "verified_by_you": partner.verified_by_id == user.id,
            "created_at": iso(partner.created_at),
            "verified_at": iso(partner.verified_at),
        }
        for partner in partners
    ]


def erase_companies(session: Session, user: User) -> None:
    for column in (PartnerCompany.created_by_id, PartnerCompany.verified_by_id):
        session.execute(update(PartnerCompany).where(column == user.id).values({column: None}))


def register() -> None:
    register_personal_data(
        "company_staff",
        table="company_staff",
        title=_l("The companies you act for"),
        export=export_staff,
        erase=erase_staff,
        deleted=_l("Your place in companies' staff: you no longer act for them."),
    )
    register_personal_data(
        "company_staff_invitations",
        table="company_staff_invitations",
        title=_l("Invitations to act for a company"),
        export=export_staff_invitations,
        erase=erase_staff_invitations,
        deleted=_l("Invitations to your address to act for a company."),
        kept=_l("Invitations you sent for a company, without your name."),
        withheld=_l("The addresses of the colleagues you invited: they are theirs."),
    )
    register_personal_data(
        "partner_companies",
        table="partner_companies",
        title=_l("Company accounts you registered or verified"),
        export=export_companies,
        erase=erase_companies,
        kept=_l("The company accounts, without saying that you registered or verified them."),
    )
