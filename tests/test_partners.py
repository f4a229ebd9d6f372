"""Company accounts: registering, staff and their invitations, verification, merges."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tecopio.db import utcnow
from tecopio.directory.services import InvalidMerge, merge_companies
from tecopio.partners import services
from tecopio.partners.models import CompanyStaff, PartnerCompany, StaffRole, StaffStatus
from tests.conftest import TEST_SECRET_KEY
from tests.factories import PASSWORD


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def login(client, user):
    assert client.submit("/login", {"email": user.email, "password": PASSWORD}).status_code == 302


def test_a_registration_links_the_directory_entry_and_an_entry_is_claimed_once(
    client, make, db_session
):
    entry = make.company(name="Ekiluz Energia Kooperatiba")
    first, second = make.user(), make.user()
    login(client, first)
    form = {
        "name": "EKILUZ energia kooperatiba",
        "description": "Solar.",
        "website": "https://ekiluz.example.org",
        "contact_email": "partners@ekiluz.example.org",
    }
    assert client.submit("/partners/new", form).status_code == 302
    partner = db_session.scalar(select(PartnerCompany))
    assert partner.company_id == entry.id and not partner.verified
    assert services.staff_of(db_session, first, partner).role == StaffRole.OWNER
    client.get("/logout")
    login(client, second)
    response = client.submit("/partners/new", form)
    assert response.status_code == 409
    assert "already has an account" in response.get_data(as_text=True)
    assert count(db_session, PartnerCompany) == 1
    bad = client.submit("/partners/new", {**form, "name": "Other", "contact_email": "nope"})
    assert bad.status_code == 400 and count(db_session, PartnerCompany) == 1


def test_only_the_operator_verifies_and_only_once(make_client, make, db_session):
    partner = make.partner(verified=False)
    someone = make_client()
    login(someone, make.user())
    assert someone.submit(f"/admin/partners/{partner.slug}/verify").status_code == 403
    operator = make_client()
    login(operator, make.user(is_platform_admin=True))
    assert "Companies waiting to be verified" in operator.get("/admin/").get_data(as_text=True)
    assert operator.submit(f"/admin/partners/{partner.slug}/verify").status_code == 302
    db_session.refresh(partner)
    assert partner.verified
    assert operator.submit(f"/admin/partners/{partner.slug}/verify").status_code == 409


def test_a_company_keeps_an_owner(make, db_session):
    owner = make.user()
    partner = make.partner(owner)
    mine = services.staff_of(db_session, owner, partner)
    with pytest.raises(services.LastOwner):
        services.remove_staff(db_session, owner, mine)
    with pytest.raises(services.LastOwner):
        services.set_role(db_session, owner, mine, StaffRole.STAFF)
    colleague = make.staff(partner)
    services.set_role(db_session, owner, colleague, StaffRole.OWNER)
    services.remove_staff(db_session, owner, mine)
    assert mine.status == StaffStatus.REMOVED


def test_a_staff_invitation_is_accepted_by_its_address_only(make_client, make, db_session):
    owner, invitee, other = make.user(), make.user(), make.user()
    partner = make.partner(owner)
    invitation = services.invite_staff(db_session, owner, partner, invitee.email.upper())
    make.commit()
    token = services.staff_invitation_token(invitation, TEST_SECRET_KEY)
    url = f"/partners/staff-invitations/{token}"
    wrong = make_client()
    login(wrong, other)
    assert wrong.submit(url).status_code == 403
    assert services.staff_of(db_session, other, partner) is None
    right = make_client()
    login(right, invitee)
    assert right.submit(url).status_code == 302
    assert services.staff_of(db_session, invitee, partner).active
    assert right.submit(url).status_code == 400  # used once
    assert make_client().get("/partners/staff-invitations/forged").status_code == 404


def test_an_expired_staff_invitation_is_refused(make, db_session):
    owner, invitee = make.user(), make.user()
    partner = make.partner(owner)
    invitation = services.invite_staff(db_session, owner, partner, invitee.email)
    with pytest.raises(services.StaffInvitationExpired):
        services.accept_staff_invitation(
            db_session, invitee, invitation, now=utcnow() + timedelta(days=15)
        )
    assert count(db_session, CompanyStaff) == 1


def test_a_merge_moves_an_account_and_is_refused_between_two_accounts(make, db_session):
    operator = make.user(is_platform_admin=True)
    partner = make.partner(name="Red Electrica Norte S.A.")
    kept = make.company(name="Red Eléctrica del Norte")
    merge_companies(db_session, operator, partner.company, kept)
    db_session.refresh(partner)
    assert partner.company_id == kept.id
    other = make.partner(name="Other Energy")
    with pytest.raises(InvalidMerge):
        merge_companies(db_session, operator, other.company, kept)


def test_the_home_of_someone_acting_for_a_company_leads_to_its_portal(client, make):
    owner = make.user()
    partner = make.partner(owner, name="Solar Coop")
    login(client, owner)
    page = client.get("/").get_data(as_text=True)
    assert "Companies you act for" in page and f"/partners/{partner.slug}" in page
