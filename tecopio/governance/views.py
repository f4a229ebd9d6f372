import click
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.cli import AppGroup, with_appcontext
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload
from wtforms.fields.choices import SelectChoice

from tecopio import policy
from tecopio.categories.services import load_tree
from tecopio.db import db
from tecopio.governance import charters, decisions, jobs, personal
from tecopio.governance.charter import BY_PATH, RULES, SECTIONS, diff, plain_value
from tecopio.governance.forms import (
    CommentForm,
    ProposalForm,
    VoteForm,
    charter_form,
    field_name,
)
from tecopio.governance.kinds import KINDS, title_of
from tecopio.governance.models import CharterVersion, Proposal, ProposalComment
from tecopio.groups.models import Membership
from tecopio.guards import Child, for_group
from tecopio.views import ask_first, confirmed, render_form

bp = Blueprint("governance", __name__)
FORM_KINDS = ("charter", "motion")


def _category_label():
    locale = str(get_locale())
    tree = load_tree(db.session)
    return lambda slug: tree.by_slug[slug].label(locale) if slug in tree.by_slug else slug


def _sections(charter, label):
    """The rules in plain language, by section: [(section, [(rule label, value)])]."""
    sections: dict = {}
    for rule in RULES:
        sections.setdefault(rule.section, []).append(
            (str(rule.label), plain_value(rule, charter[rule.path], label))
        )
    return [(str(SECTIONS[name]), rules) for name, rules in sections.items()]


@bp.get("/groups/<slug>/charter")
@for_group(policy.can_view_charter)
def charter(group):
    versions = charters.history(db.session, group)
    by_number = {version.number: charters.charter_of(version) for version in versions}
    label = _category_label()
    changes = {
        version.number: [
            str(rule.label)
            for rule, _old, _new in diff(by_number[version.number - 1], by_number[version.number])
        ]
        for version in versions
        if version.number - 1 in by_number
    }
    current = versions[0] if versions else None
    # The vote that adopted each version, where one did.
    adopted_by_vote = dict(
        db.session.execute(
            select(Proposal.result_version_id, Proposal.number).where(
                Proposal.group_id == group.id, Proposal.result_version_id.is_not(None)
            )
        ).all()
    )
    return render_template(
        "governance/charter.html",
        adopted_by_vote=adopted_by_vote,
        group=group,
        current=current,
        sections=_sections(by_number[current.number], label) if current else [],
        versions=versions,
        changes=changes,
        admins_decide=current is not None and charters.admins_may_change(by_number[current.number]),
    )


def _version_number(name: str) -> int:
    try:
        number = int(request.args.get(name, ""))
    except ValueError:
        abort(400)
    if not 1 <= number <= 1_000_000:
        abort(400)
    return number


@bp.get("/groups/<slug>/charter/diff")
@for_group(policy.can_view_charter)
def compare(group):
    old_number, new_number = _version_number("from"), _version_number("to")
    found = {
        version.number: version
        for version in db.session.scalars(
            select(CharterVersion).where(
                CharterVersion.group_id == group.id,
                CharterVersion.number.in_([old_number, new_number]),
            )
        )
    }
    if old_number not in found or new_number not in found:
        abort(404)
    old, new = found[old_number], found[new_number]
    label = _category_label()
    rows = [
        (str(rule.label), plain_value(rule, before, label), plain_value(rule, after, label))
        for rule, before, after in diff(charters.charter_of(old), charters.charter_of(new))
    ]
    return render_template("governance/diff.html", group=group, old=old, new=new, rows=rows)


@bp.route("/groups/<slug>/charter/edit", methods=["GET", "POST"])
@for_group(policy.can_change_charter_directly)
def edit(group):
    charter = charters.current_charter(db.session, group)
    form = charter_form(_category_choices(), charter)
    pending = decisions.open_charter_changes(db.session, group)
    if form.validate_on_submit():
        try:
            changes = form.changes(_seen_charter(group, form))
            touched = [path for path in changes if path in pending]
            if touched and not confirmed():
                return _ask_before_overriding(group, touched, pending)
            version = decisions.change_charter_by_admin(
                db.session, current_user, group, changes, form.reason.data
            )
        except charters.GovernanceError as error:
            db.session.rollback()
            _show_errors(form, error)
        else:
            db.session.commit()
            flash(
                _("Version %(number)d of the charter is in force.", number=version.number),
                "success",
            )
            return redirect(url_for("governance.charter", slug=group.slug))
    return render_form(
        "governance/edit.html", group=group, form=form, sections=_fields(form), pending=pending
    )


def _ask_before_overriding(group, touched: list[str], pending: dict):
    """An admin's change to a rule that a member's open proposal would change: said first."""
    return ask_first(
        title=_("Change rules that an open proposal is about?"),
        details=[
            (
                str(BY_PATH[path].label),
                ", ".join(f"#{proposal.number} {title_of(proposal)}" for proposal in pending[path]),
            )
            for path in touched
        ],
        consequences=[
            _("Members are voting on a proposal to change these rules."),
            _("Your change is in force at once, but the proposal stays open."),
            _("If the proposal passes, its rules replace yours."),
            _("Consider commenting on the proposal, or waiting for its result."),
        ],
        confirm_label=_("Change them anyway"),
        cancel_url=url_for("governance.edit", slug=group.slug),
        back_label=_("Go back to the form"),
        danger=False,
    )


def _fields(form):
    """The charter form's fields by section, each with its rule's path, for the template."""
    sections: dict = {}
    for rule in RULES:
        sections.setdefault(rule.section, []).append((form[field_name(rule)], rule.path))
    return [(str(SECTIONS[name]), fields) for name, fields in sections.items()]


def _seen_charter(group, form):
    """The charter version the form was filled from (its hidden ``based_on``)."""
    try:
        number = int(form.based_on.data)
    except (TypeError, ValueError):
        raise charters.OutdatedForm() from None
    version = db.session.scalar(
        select(CharterVersion).where(
            CharterVersion.group_id == group.id, CharterVersion.number == number
        )
    )
    if version is None:
        raise charters.OutdatedForm()
    return charters.charter_of(version)


def _category_choices():
    locale = str(get_locale())
    return [SelectChoice(root.slug, root.label(locale)) for root in load_tree(db.session).roots]


def _show_errors(form, error) -> None:
    if isinstance(error, charters.InvalidCharter):
        for path, message in error.errors.items():
            form[field_name(BY_PATH[path])].errors.append(message)
    else:
        form.form_errors.append(error.message)


# --- proposals ----------------------------------------------------------------------


# A proposal of the group, for one of its members (else 403; unknown: 404).
PROPOSAL = Child(Proposal, "number", "proposal", by="number")


@bp.get("/groups/<slug>/proposals")
@for_group(policy.can_take_part_in_decisions)
def proposals(group):
    found = decisions.proposals_of(db.session, group)
    return render_template("governance/proposals.html", group=group, proposals=found, kinds=KINDS)


@bp.post("/groups/<slug>/members/<int:membership_id>/admission-vote")
@for_group(policy.can_put_admission_to_vote, child=Child(Membership, "membership_id", "membership"))
def propose_admission(group, membership):
    """Put a request to join to the members' vote (where the charter says members admit)."""
    try:
        proposal = decisions.open_proposal(
            db.session,
            current_user,
            group,
            kind="admission",
            title=_("Admit %(name)s", name=membership.user.display_name),
            description="",
            payload={"membership_id": membership.id},
        )
    except charters.GovernanceError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("groups.members", slug=group.slug))
    db.session.commit()
    flash(_("The request to join is put to a vote."), "success")
    return redirect(url_for("governance.proposal", slug=group.slug, number=proposal.number))


@bp.route("/groups/<slug>/proposals/new", methods=["GET", "POST"])
@for_group(policy.can_take_part_in_decisions)
def new_proposal(group):
    kind = request.args.get("kind", "motion")
    if kind not in FORM_KINDS:  # admissions open from the members page
        abort(404)
    if kind == "charter":
        charter = charters.current_charter(db.session, group)
        form = charter_form(_category_choices(), charter, base=ProposalForm)
    else:
        form = ProposalForm()
    if form.validate_on_submit():
        try:
            proposal = decisions.open_proposal(
                db.session,
                current_user,
                group,
                kind=kind,
                title=form.title.data,
                description=form.description.data,
                payload=(
                    {"changes": form.changes(_seen_charter(group, form))}
                    if kind == "charter"
                    else {}
                ),
            )
        except charters.GovernanceError as error:
            db.session.rollback()
            _show_errors(form, error)
        else:
            db.session.commit()
            flash(_("Your proposal is open for votes."), "success")
            return redirect(url_for("governance.proposal", slug=group.slug, number=proposal.number))
    return render_form(
        "governance/new_proposal.html",
        group=group,
        form=form,
        kind=KINDS[kind],
        sections=_fields(form) if kind == "charter" else [],
    )


def _render_proposal(group, proposal, vote_form=None, comment_form=None, status=200):
    comments = db.session.scalars(
        select(ProposalComment)
        .where(ProposalComment.proposal_id == proposal.id)
        .options(joinedload(ProposalComment.author))
        .order_by(ProposalComment.id)
    ).all()
    vote = decisions.vote_of(db.session, current_user, proposal)
    return render_template(
        "governance/proposal.html",
        group=group,
        proposal=proposal,
        kind=KINDS[proposal.kind],
        details=KINDS[proposal.kind].describe(proposal, _category_label()),
        tally=decisions.current_tally(db.session, proposal),
        # The rules the vote opened with say whether the running tally is shown.
        show_tally=charters.charter_of(proposal.charter_version)["decisions.show_tally"],
        vote=vote,
        may_vote=decisions.may_vote(db.session, current_user, proposal),
        vote_form=vote_form or VoteForm(data={"choice": vote.choice if vote else None}),
        comment_form=comment_form or CommentForm(),
        comments=comments,
    ), status


@bp.get("/groups/<slug>/proposals/<int:number>")
@for_group(policy.can_take_part_in_decisions, child=PROPOSAL)
def proposal(group, proposal):
    return _render_proposal(group, proposal)


def _cast(proposal, choice: str) -> None:
    try:
        decisions.cast_vote(db.session, current_user, proposal, choice)
        db.session.commit()
    except IntegrityError:
        # The same member's first vote, sent twice at once: the other request recorded
        # it, so this one changes it (or meets the same refusal).
        db.session.rollback()
        decisions.cast_vote(db.session, current_user, proposal, choice)
        db.session.commit()


@bp.post("/groups/<slug>/proposals/<int:number>/vote")
@for_group(policy.can_take_part_in_decisions, child=PROPOSAL)
def vote(group, proposal):
    form = VoteForm()
    if not form.validate_on_submit():
        return _render_proposal(group, proposal, vote_form=form, status=400)
    try:
        _cast(proposal, form.choice.data)
    except charters.GovernanceError as error:
        db.session.rollback()
        form.form_errors.append(error.message)
        return _render_proposal(group, proposal, vote_form=form, status=409)
    flash(_("Your vote is recorded. You may change it until the vote closes."), "success")
    return redirect(url_for("governance.proposal", slug=group.slug, number=proposal.number))


@bp.post("/groups/<slug>/proposals/<int:number>/withdraw")
@for_group(policy.can_take_part_in_decisions, child=PROPOSAL)
def withdraw(group, proposal):
    # Only a withdrawal that can happen is asked about; any other is refused at once.
    if decisions.may_withdraw(db.session, current_user, proposal) and not confirmed():
        return ask_first(
            title=_("Withdraw proposal #%(number)d?", number=proposal.number),
            details=[(_("Proposal"), title_of(proposal))],
            consequences=[
                _("Voting stops now; the votes cast so far are not counted."),
                _("The proposal stays on the decisions page, marked withdrawn, with its comments."),
                _("It cannot be reopened: to try again, make a new proposal."),
            ],
            confirm_label=_("Withdraw the proposal"),
            cancel_url=url_for("governance.proposal", slug=group.slug, number=proposal.number),
            back_label=_("Keep it open"),
        )
    try:
        decisions.withdraw(db.session, current_user, proposal)
        db.session.commit()
    except charters.GovernanceError as error:
        db.session.rollback()
        flash(error.message, "error")
        return _render_proposal(group, proposal, status=409)
    flash(_("Your proposal is withdrawn."), "success")
    return redirect(url_for("governance.proposal", slug=group.slug, number=proposal.number))


@bp.post("/groups/<slug>/proposals/<int:number>/comments")
@for_group(policy.can_take_part_in_decisions, child=PROPOSAL)
def comment(group, proposal):
    form = CommentForm()
    if not form.validate_on_submit():
        return _render_proposal(group, proposal, comment_form=form, status=400)
    try:
        decisions.add_comment(db.session, current_user, proposal, form.body.data)
    except charters.GovernanceError as error:
        db.session.rollback()
        form.body.errors.append(error.message)
        return _render_proposal(group, proposal, comment_form=form, status=400)
    db.session.commit()
    return redirect(
        url_for("governance.proposal", slug=group.slug, number=proposal.number) + "#comments"
    )


@click.command("close-due")
@with_appcontext
def close_due_command():
    """Close every proposal whose voting period has ended now (the jobs worker does it too)."""
    closed = decisions.close_due_proposals(db.session)
    db.session.commit()
    click.echo(f"{closed} proposal(s) closed.")


proposals_cli = AppGroup("proposals", help="Group decisions.")
proposals_cli.add_command(close_due_command)


def init_app(app) -> None:
    app.register_blueprint(bp)
    charters.init_app(app)
    jobs.init_app(app)
    personal.register()  # what it keeps about a person: export and erasure
    app.cli.add_command(proposals_cli)
    app.jinja_env.globals["proposal_title"] = title_of
