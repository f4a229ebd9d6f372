"""Partner companies' rules: registering an account, its staff, and the operator's verification.

Functions change the session and flush; the caller commits. Who may call
them is ``tecopio.policy``'s question; these keep the account's invariants
(one account per directory entry, an owner always left, staff invited by
address and accepting only through the emailed link).
"""

from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from tecopio import tokens
from tecopio.accounts.models import User
from tecopio.audit.services import record
from tecopio.db import utcnow
from tecopio.directory.models import Company
from tecopio.directory.services import (
    InvalidMerge,
    add_company,
    clean_company_name,
    clean_website,
    normalise_company_name,
    resolve,
)
from tecopio.groups.services import slugify
from tecopio.partners.models import (
    CompanyStaff,
    PartnerCompany,
    StaffInvitation,
    StaffInvitationStatus,
    StaffRole,
    StaffStatus,
)
from tecopio.text import InvalidText, clean_paragraphs, first_free_slug, normalise_email

DESCRIPTION_MAX = 4000
STAFF_INVITATION_DAYS = 14
STAFF_INVITATION_PURPOSE = "staff-invitation"
RESERVED_SLUGS = frozenset({"new", "staff-invitations"})


class PartnerError(Exception):
    message = _l("This could not be done.")

    def __init__(self, message=None):
        super().__init__(str(message or self.message))
        if message is not None:
            self.message = message


class AlreadyClaimed(PartnerError):
    message = _l(
        "This company already has an account. Ask one of its owners to invite you as staff."
    )


class AlreadyVerified(PartnerError):
    message = _l("This company is already verified.")


class LastOwner(PartnerError):
    message = _l("A company keeps at least one owner: make someone else owner first.")


class AlreadyStaff(PartnerError):
    message = _l("This person already acts for the company.")


class StaffInvitationInvalid(PartnerError):
    message = _l("This invitation link is not valid.")


class StaffInvitationUsed(PartnerError):
    message = _l("This invitation has already been answered or withdrawn.")


class StaffInvitationExpired(PartnerError):
    message = _l("This invitation has expired. Ask the company's owner for a new one.")


class StaffInvitationNotForYou(PartnerError):
    message = _l("This invitation was sent to another email address.")


def _clean_email(value: str) -> str:
    email = normalise_email(value)
    if "@" not in email or len(email) > 254:
        raise InvalidText(_l("Enter a valid email address."))
    return email


def _unique_slug(session: Session, name: str) -> str:
    base = slugify(name)
    taken = set(
        session.scalars(select(PartnerCompany.slug).where(PartnerCompany.slug.startswith(base)))
    )
    return first_free_slug(base, taken | RESERVED_SLUGS)


def _directory_entry(session: Session, user: User, name: str, website: str) -> Company:
    """The directory entry members already name under this name, or a new one."""
    name = clean_company_name(name)
    existing = session.scalar(
        select(Company).where(Company.normalized_name == normalise_company_name(name))
    )
    if existing is not None:
        return resolve(existing)
    return add_company(session, user, name=name, website=website)


def register_company(
    session: Session,
    user: User,
    *,
    name: str,
    description: str,
    website: str,
    contact_email: str,
) -> PartnerCompany:
    """A company account, its registrant its first owner; it waits for the operator's check."""
    website = clean_website(website)
    description = clean_paragraphs(description, max_length=DESCRIPTION_MAX)
    contact = _clean_email(contact_email)
    company = _directory_entry(session, user, name, website)
    claimed = session.scalar(
        select(PartnerCompany.id).where(PartnerCompany.company_id == company.id)
    )
    if claimed is not None:
        raise AlreadyClaimed()
    if website and not company.website:
        company.website = website
    partner = PartnerCompany(
        company=company,
        slug=_unique_slug(session, company.name),
        description=description,
        contact_email=contact,
        created_by_id=user.id,
    )
    session.add(partner)
    session.add(CompanyStaff(partner=partner, user=user, role=StaffRole.OWNER))
    session.flush()
    record(session, "partner.registered", actor=user, partner=partner, name=company.name)
    return partner


def update_company(
    session: Session,
    user: User,
    partner: PartnerCompany,
    *,
    description: str,
    website: str,
    contact_email: str,
) -> None:
    contact = _clean_email(contact_email)
    partner.description = clean_paragraphs(description, max_length=DESCRIPTION_MAX)
    partner.contact_email = contact
    partner.company.website = clean_website(website)
    record(session, "partner.updated", actor=user, partner=partner)
    session.flush()


def get_partner(session: Session, slug: str) -> PartnerCompany | None:
    return session.scalar(
        select(PartnerCompany)
        .options(joinedload(PartnerCompany.company))
        .where(PartnerCompany.slug == slug)
    )


def staff_of(session: Session, user: User, partner: PartnerCompany) -> CompanyStaff | None:
    return session.scalar(
        select(CompanyStaff).where(
            CompanyStaff.partner_id == partner.id, CompanyStaff.user_id == user.id
        )
    )


def companies_of(session: Session, user: User) -> list[PartnerCompany]:
    """The companies a person acts for now."""
    return list(
        session.scalars(
            select(PartnerCompany)
            .join(CompanyStaff, CompanyStaff.partner_id == PartnerCompany.id)
            .join(Company, Company.id == PartnerCompany.company_id)
            .options(joinedload(PartnerCompany.company))
            .where(CompanyStaff.user_id == user.id, CompanyStaff.status == StaffStatus.ACTIVE)
            .order_by(func.lower(Company.name))
        )
    )


def active_staff(session: Session, partner: PartnerCompany) -> list[CompanyStaff]:
    return list(
        session.scalars(
            select(CompanyStaff)
            .options(joinedload(CompanyStaff.user))
            .where(CompanyStaff.partner_id == partner.id, CompanyStaff.status == StaffStatus.ACTIVE)
            .order_by(CompanyStaff.created_at, CompanyStaff.id)
        )
    )


def unverified_companies(session: Session) -> list[PartnerCompany]:
    """The operator's queue: accounts waiting to be checked, oldest first."""
    return list(
        session.scalars(
            select(PartnerCompany)
            .options(joinedload(PartnerCompany.company))
            .where(PartnerCompany.verified_at.is_(None))
            .order_by(PartnerCompany.created_at, PartnerCompany.id)
        )
    )


def verified_companies(session: Session) -> list[PartnerCompany]:
    return list(
        session.scalars(
            select(PartnerCompany)
            .join(Company, Company.id == PartnerCompany.company_id)
            .options(joinedload(PartnerCompany.company))
            .where(PartnerCompany.verified_at.is_not(None))
            .order_by(func.lower(Company.name))
        )
    )


def verify_company(session: Session, operator: User, partner: PartnerCompany) -> None:
    if partner.verified:
        raise AlreadyVerified()
    partner.verified_at = utcnow()
    partner.verified_by_id = operator.id
    record(session, "partner.verified", actor=operator, partner=partner)
    session.flush()


def _owner_count(session: Session, partner: PartnerCompany) -> int:
    return session.scalar(
        select(func.count()).where(
            CompanyStaff.partner_id == partner.id,
            CompanyStaff.role == StaffRole.OWNER,
            CompanyStaff.status == StaffStatus.ACTIVE,
        )
    )


def remove_staff(session: Session, actor: User, staff: CompanyStaff) -> None:
    """The person no longer acts for the company, at once; an owner is always left."""
    if not staff.active:
        raise PartnerError(_l("This person no longer acts for the company."))
    # Lock the company's row so that two owners removing each other leave one.
    session.execute(
        select(PartnerCompany.id).where(PartnerCompany.id == staff.partner_id).with_for_update()
    )
    if staff.role == StaffRole.OWNER and _owner_count(session, staff.partner) <= 1:
        raise LastOwner()
    staff.status = StaffStatus.REMOVED
    staff.removed_at = utcnow()
    record(session, "staff.removed", actor=actor, target_user=staff.user, partner=staff.partner)
    session.flush()


def set_role(session: Session, actor: User, staff: CompanyStaff, role: StaffRole) -> None:
    if not staff.active:
        raise PartnerError(_l("This person no longer acts for the company."))
    if staff.role == role:
        return
    session.execute(
        select(PartnerCompany.id).where(PartnerCompany.id == staff.partner_id).with_for_update()
    )
    if staff.role == StaffRole.OWNER and _owner_count(session, staff.partner) <= 1:
        raise LastOwner()
    staff.role = role
    record(
        session,
        "staff.role_changed",
        actor=actor,
        target_user=staff.user,
        partner=staff.partner,
        role=role.value,
    )
    session.flush()


def invite_staff(
    session: Session, actor: User, partner: PartnerCompany, email: str, *, now=None
) -> StaffInvitation:
    """Invite a colleague by address; inviting it again renews the pending invitation."""
    now = now or utcnow()
    email = _clean_email(email)
    invitee = session.scalar(select(User).where(User.email == email))
    if invitee is not None:
        existing = staff_of(session, invitee, partner)
        if existing is not None and existing.active:
            raise AlreadyStaff()
    invitation = session.scalar(
        select(StaffInvitation).where(
            StaffInvitation.partner_id == partner.id,
            StaffInvitation.email == email,
            StaffInvitation.status == StaffInvitationStatus.PENDING,
        )
    )
    expires_at = now + timedelta(days=STAFF_INVITATION_DAYS)
    if invitation is None:
        invitation = StaffInvitation(
            partner=partner,
            email=email,
            created_at=now,
            invited_by_id=actor.id,
            expires_at=expires_at,
        )
        session.add(invitation)
    invitation.invited_by_id = actor.id
    invitation.expires_at = expires_at
    record(session, "staff.invited", actor=actor, partner=partner, email=email)
    session.flush()
    return invitation


def pending_staff_invitations(session: Session, partner: PartnerCompany) -> list[StaffInvitation]:
    return list(
        session.scalars(
            select(StaffInvitation)
            .where(
                StaffInvitation.partner_id == partner.id,
                StaffInvitation.status == StaffInvitationStatus.PENDING,
            )
            .order_by(StaffInvitation.created_at.desc())
        )
    )


def revoke_staff_invitation(session: Session, actor: User, invitation: StaffInvitation) -> None:
    if invitation.status != StaffInvitationStatus.PENDING:
        raise StaffInvitationUsed()
    invitation.status = StaffInvitationStatus.REVOKED
    invitation.responded_at = utcnow()
    record(
        session,
        "staff.invitation_revoked",
        actor=actor,
        partner=invitation.partner,
        email=invitation.email,
    )
    session.flush()


def staff_invitation_token(invitation: StaffInvitation, secret_key: str) -> str:
    return tokens.sign(secret_key, STAFF_INVITATION_PURPOSE, invitation.id)


def staff_invitation_from_token(session: Session, token: str, secret_key: str) -> StaffInvitation:
    try:
        invitation_id = tokens.unsign(secret_key, STAFF_INVITATION_PURPOSE, token)
    except tokens.TokenError as exc:
        raise StaffInvitationInvalid() from exc
    invitation = (
        session.get(StaffInvitation, invitation_id) if isinstance(invitation_id, int) else None
    )
    if invitation is None:
        raise StaffInvitationInvalid()
    return invitation


def accept_staff_invitation(
    session: Session, user: User, invitation: StaffInvitation, *, now: datetime | None = None
) -> CompanyStaff:
    now = now or utcnow()
    if invitation.status != StaffInvitationStatus.PENDING:
        raise StaffInvitationUsed()
    if invitation.expires_at <= now:
        raise StaffInvitationExpired()
    if normalise_email(user.email) != invitation.email:
        raise StaffInvitationNotForYou()
    staff = staff_of(session, user, invitation.partner)
    if staff is None:
        staff = CompanyStaff(partner=invitation.partner, user=user, role=StaffRole.STAFF)
        session.add(staff)
    elif staff.active:
        raise AlreadyStaff()
    else:  # removed earlier, invited back
        staff.status = StaffStatus.ACTIVE
        staff.role = StaffRole.STAFF
        staff.removed_at = None
    invitation.status = StaffInvitationStatus.ACCEPTED
    invitation.responded_at = now
    record(session, "staff.joined", actor=user, partner=invitation.partner)
    session.flush()
    return staff


class BothHaveAccounts(InvalidMerge):
    message = _l("Both companies have a partner account: they cannot be merged here.")


def move_partner_account(source: Company, *, session: Session, target: Company) -> int:
    """``companies_merging``: an account on the entry folded away moves to the one kept.

    Where both entries have an account, the merge is refused: two companies'
    staff, offers and bids are not the directory's to fold together.
    """
    accounts = {
        partner.company_id: partner
        for partner in session.scalars(
            select(PartnerCompany).where(PartnerCompany.company_id.in_([source.id, target.id]))
        )
    }
    if source.id in accounts and target.id in accounts:
        raise BothHaveAccounts()
    if source.id in accounts:
        accounts[source.id].company_id = target.id
        session.flush()
    return 0
