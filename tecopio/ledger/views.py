"""The group's money pages: its ledger, a member's balance and statement, how a share was
computed, payouts; a company's invoices in its portal."""

import csv
import io

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tecopio import events, jobs, policy
from tecopio.db import db
from tecopio.errors import abort_with
from tecopio.governance.charters import GovernanceError, current_charter
from tecopio.groups.models import Group
from tecopio.guards import Child, for_company, for_group, platform, public
from tecopio.ledger import cli, personal, reserve, services, stripe_payments
from tecopio.ledger.forms import (
    PaymentForm,
    PayoutForm,
    PayoutPaidForm,
    PlainForm,
    ProviderPayoutForm,
    ReserveForm,
)
from tecopio.ledger.models import (
    Invoice,
    InvoiceStatus,
    Payment,
    Payout,
    PayoutStatus,
    TransactionKind,
)
from tecopio.ledger.posting import LedgerError, verify
from tecopio.money import format_money, plain_amount
from tecopio.text import spreadsheet_safe
from tecopio.views import ask_first, confirmed, page_number, public_url

bp = Blueprint("ledger", __name__)

INVOICE = Child(Invoice, "number", "invoice", by="number")
PAYOUT = Child(Payout, "number", "payout", by="number")
PER_PAGE = 50

KIND_WORDS = {
    TransactionKind.INVOICE: _l("Invoice issued"),
    TransactionKind.PAYMENT: _l("Payment received and shared"),
    TransactionKind.PAYOUT_ASKED: _l("Payout asked for"),
    TransactionKind.PAYOUT_PAID: _l("Payout paid"),
    TransactionKind.RESERVE_SPENT: _l("Spent from the reserve"),
    TransactionKind.REVERSAL: _l("Reversal"),
    TransactionKind.REFUND: _l("Refunded to the company"),
    TransactionKind.CHARGEBACK: _l("Taken back by the company's bank (a dispute)"),
}
METHOD_WORDS = {
    "equal": _l("in equal parts among the active members"),
    "contribution": _l("by contribution points"),
    "commitment": _l("by what each member committed to the deal"),
}
BREAK_WORDS = {
    "hash": _l("its content no longer matches its hash"),
    "link": _l("it does not point to the transaction before it"),
    "gap": _l("a transaction is missing before it"),
    "unbalanced": _l("its entries do not add up to zero"),
    "currency": _l("an entry is in another currency, or on another group's account"),
    "holder": _l("an account it moves money on no longer belongs to whom it did"),
    "reversal": _l("it reverses a transaction that does not precede it"),
}


def _money(amount: int, currency: str) -> str:
    return format_money(amount, currency, str(get_locale()))


def _line_words(kind, details: dict) -> str:
    """A statement line in the reader's language."""
    if kind == TransactionKind.PAYMENT:
        return _("Your share of the payment of invoice %(number)s", number=details.get("invoice"))
    if kind == TransactionKind.PAYOUT_ASKED:
        return _("Payout %(number)s asked for", number=details.get("payout"))
    if kind == TransactionKind.REVERSAL and details.get("returned"):
        return _("Payout %(number)s came back: in your balance again", number=details["payout"])
    if kind == TransactionKind.REVERSAL and "payout" in details:
        return _("Payout %(number)s withdrawn: back in your balance", number=details["payout"])
    if kind == TransactionKind.REFUND:
        return _(
            "Invoice %(number)s refunded to the company: your share of it taken back",
            number=details.get("invoice"),
        )
    if kind == TransactionKind.CHARGEBACK:
        return _(
            "Invoice %(number)s disputed by the company's bank: your share of it taken back",
            number=details.get("invoice"),
        )
    if kind == TransactionKind.REVERSAL and "refund" in details:
        return _(
            "The refund of invoice %(number)s did not go through: your share is back",
            number=details.get("invoice"),
        )
    if kind == TransactionKind.REVERSAL and "dispute" in details:
        return _(
            "The group won the dispute over invoice %(number)s: your share is back",
            number=details.get("invoice"),
        )
    return str(KIND_WORDS.get(kind, kind))


def _require_fresh_form() -> None:
    """A button's form (only its CSRF token) that expired or came from elsewhere: 400."""
    if not PlainForm().validate_on_submit():
        abort_with(400, _("This form has expired. Reload the page and try again."))


def _chosen_currency(choices: list[str]) -> str | None:
    """The currency the form names (a hidden field where there is one), if it is offered."""
    chosen = request.form.get("currency") or (choices[0] if choices else None)
    return chosen if chosen in choices else None


def _group_currencies(group) -> list[str]:
    return [row.currency for row in services.totals(db.session, group.id)] or ["EUR"]


def _own_currencies(group) -> list[str]:
    return [a.currency for a in services.member_accounts(db.session, group.id, current_user.id)]


@bp.get("/groups/<slug>/money")
@for_group(policy.can_view_money)
def index(group):
    return _index_page(group)


def _index_page(group, reserve_form=None, status: int = 200):
    page = page_number()
    transactions, count = services.transactions_page(db.session, group.id, page, PER_PAGE)
    manage = policy.can_manage_money(current_user, group)
    return render_template(
        "ledger/index.html",
        group=group,
        totals=services.totals(db.session, group.id),
        transactions=transactions,
        count=count,
        page=page,
        per_page=PER_PAGE,
        invoices=services.group_invoices(db.session, group),
        payouts=services.payouts_of(db.session, group) if manage else [],
        for_review=services.payments_for_review(db.session, group) if manage else [],
        kind_words=KIND_WORDS,
        method_words=METHOD_WORDS,
        payment_form=PaymentForm(),
        paid_form=PayoutPaidForm(),
        reserve_form=reserve_form or ReserveForm(),
        currencies=_group_currencies(group),
        admins_spend=reserve.admins_spend(current_charter(db.session, group)),
        money=_money,
        plain_amount=plain_amount,
        InvoiceStatus=InvoiceStatus,
        PayoutStatus=PayoutStatus,
    ), status


@bp.post("/groups/<slug>/money/reserve")
@for_group(policy.can_take_part_in_decisions)
def spend_reserve(group):
    """Propose spending from the reserve, or, where the charter lets admins, spend it."""
    form = ReserveForm()
    currency = _chosen_currency(_group_currencies(group))
    if currency is None:
        abort_with(400, _("Choose one of the group's currencies."))
    amount = form.minor_units(currency) if form.validate_on_submit() else None
    if amount is None:
        db.session.rollback()
        return _index_page(group, form, 400)
    payload = {
        "amount": amount,
        "currency": currency,
        "purpose": form.purpose.data,
        "pay_to": form.pay_to.data,
    }
    by_admins = reserve.admins_spend(current_charter(db.session, group))
    if by_admins and not policy.can_manage_money(current_user, group):
        abort_with(403, reserve.SpentByAdmins.message)
    if by_admins and not confirmed():
        return ask_first(
            title=_("Spend %(amount)s from the reserve?", amount=_money(amount, currency)),
            details=[(_("What for"), form.purpose.data), (_("Paid to"), form.pay_to.data)],
            consequences=[
                _("The ledger records that the money left the reserve and the group's account."),
                _("This cannot be undone: a mistake is corrected by a new transaction."),
            ],
            confirm_label=_("Yes, spend it"),
            cancel_url=url_for("ledger.index", slug=group.slug, _anchor="reserve"),
            danger=False,
        )
    try:
        if by_admins:
            decision = reserve.spend_by_admin(
                db.session, current_user, group, payload, form.description.data or ""
            )
        else:
            decision = reserve.propose_spending(
                db.session, current_user, group, payload, form.description.data or ""
            )
        db.session.commit()
    except GovernanceError as error:
        db.session.rollback()
        form.amount.errors = [*form.amount.errors, str(error.message)]
        return _index_page(group, form, 400)
    if by_admins:
        flash(_("Spent from the reserve: the ledger records it."), "success")
        return redirect(url_for("ledger.index", slug=group.slug))
    flash(_("Your proposal is open for votes."), "success")
    return redirect(url_for("governance.proposal", slug=group.slug, number=decision.number))


@bp.post("/groups/<slug>/money/verify")
@for_group(policy.can_view_money)
def check(group):
    """Recompute the chain and the sums; writes nothing (a POST only because it is a button
    that does work)."""
    _require_fresh_form()
    result = verify(db.session, group.id)
    if result.intact:
        flash(
            _(
                "The ledger verifies: %(transactions)d transactions and %(entries)d entries, "
                "every hash and every sum as recorded.",
                transactions=result.transactions,
                entries=result.entries,
            ),
            "success",
        )
    else:
        for found in result.breaks[:10]:
            flash(
                _(
                    "The ledger breaks at transaction %(number)d: %(problem)s.",
                    number=found.number,
                    problem=BREAK_WORDS[found.problem],
                ),
                "error",
            )
    return redirect(url_for("ledger.index", slug=group.slug))


def _csv_response(rows: list[list], filename: str) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows([[spreadsheet_safe(cell) for cell in row] for row in rows])
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def totals_rows(group) -> list[list]:
    """The ledger page's totals as CSV rows (minor units: exact, in any spreadsheet)."""
    rows = [
        [
            "currency",
            "money_in",
            "given_back",
            "platform_fee",
            "reserve",
            "spent_from_reserve",
            "distributed",
            "paid_out",
            "awaiting_payout",
            "members_balances",
            "owed_back",
            "invoiced_unpaid",
            "held",
        ]
    ]
    for t in services.totals(db.session, group.id):
        rows.append(
            [
                t.currency,
                t.money_in,
                t.given_back,
                t.platform_fee,
                t.reserve,
                t.spent_from_reserve,
                t.distributed,
                t.paid_out,
                t.in_transit,
                t.balances,
                t.owed_back,
                t.outstanding,
                t.held,
            ]
        )
    return rows


@bp.get("/groups/<slug>/money/ledger.csv")
@for_group(policy.can_view_money)
def ledger_csv(group):
    """The totals, then every transaction with its size, hash and the hash before it."""
    rows = totals_rows(group)
    rows.append([])
    rows.append(["number", "date", "kind", "memo", "currency", "size", "previous_hash", "hash"])
    page = 1
    while True:
        transactions, count = services.transactions_page(db.session, group.id, page, 1000)
        for transaction, size in transactions:
            rows.append(
                [
                    transaction.number,
                    transaction.created_at.isoformat(),
                    transaction.kind.value,
                    transaction.memo,
                    transaction.currency,
                    transaction.details["amount"]
                    if transaction.kind == TransactionKind.PAYMENT
                    else size,
                    transaction.previous_hash,
                    transaction.hash,
                ]
            )
        if page * 1000 >= count:
            break
        page += 1
    return _csv_response(rows, f"{group.slug}-ledger.csv")


@bp.get("/groups/<slug>/money/mine")
@for_group(policy.can_see_own_money)
def mine(group):
    return _mine_page(group, ProviderPayoutForm() if _stripe_on() else PayoutForm())


def _mine_page(group, form, status: int = 200):
    accounts = services.member_accounts(db.session, group.id, current_user.id)
    statements = [(holder, services.statement(db.session, holder)) for holder in accounts]
    available = max((lines[-1].balance for _holder, lines in statements if lines), default=0)
    page = render_template(
        "ledger/mine.html",
        group=group,
        currencies=[holder.currency for holder, _lines in statements],
        statements=statements,
        available=available,
        payouts=services.payouts_of(db.session, group, current_user),
        form=form,
        by_stripe=_stripe_on(),
        payout_account=(
            stripe_payments.payout_account(db.session, current_user) if _stripe_on() else None
        ),
        money=_money,
        line_words=_line_words,
        PayoutStatus=PayoutStatus,
        TransactionKind=TransactionKind,
    )
    return page, status


@bp.get("/groups/<slug>/money/mine.csv")
@for_group(policy.can_see_own_money)
def mine_csv(group):
    """The member's statement: every line with the balance after it (minor units)."""
    rows = [["transaction", "date", "description", "currency", "amount", "balance"]]
    for holder in services.member_accounts(db.session, group.id, current_user.id):
        for line in services.statement(db.session, holder):
            rows.append(
                [
                    line.number,
                    line.at.isoformat(),
                    _line_words(line.kind, line.details),
                    line.currency,
                    line.amount,
                    line.balance,
                ]
            )
    return _csv_response(rows, f"{group.slug}-my-statement.csv")


@bp.get("/groups/<slug>/money/mine/<int:number>")
@for_group(policy.can_see_own_money)
def my_share(group, number: int):
    transaction = services.transaction_of(db.session, group.id, number)
    explained = services.my_share(db.session, transaction, current_user.id) if transaction else None
    if explained is None:
        abort_with(404, _("You had no share in this transaction."))
    details = transaction.details
    # A total weight of fewer than k members, set beside one's own, tells about the others
    # (in equal parts the total is the number of active members, which members see anyway).
    totals_shown = (
        details["method"] == "equal"
        or details["members"] >= current_charter(db.session, group).k_anonymity
    )
    return render_template(
        "ledger/share.html",
        group=group,
        totals_shown=totals_shown,
        explained=explained,
        details=transaction.details,
        currency=transaction.currency,
        money=_money,
        method_words=METHOD_WORDS,
    )


@bp.post("/groups/<slug>/money/payouts")
@for_group(policy.can_see_own_money)
def ask_payout(group):
    by_stripe = _stripe_on()
    form = ProviderPayoutForm() if by_stripe else PayoutForm()
    currency = _chosen_currency(_own_currencies(group))
    if currency is None:
        abort_with(400, _("Choose a currency you have a balance in."))
    amount = form.minor_units(currency) if form.validate_on_submit() else None
    if amount is not None:
        try:
            pay_to, provider = (
                (_ready_account(), stripe_payments.PROVIDER)
                if by_stripe
                else (form.pay_to.data, "offline")
            )
            payout = services.ask_payout(
                db.session,
                group,
                current_user,
                amount=amount,
                currency=currency,
                pay_to=pay_to,
                provider=provider,
            )
            if by_stripe:
                jobs.enqueue_after_commit(db.session, "ledger.stripe_transfer", payout.id)
            db.session.commit()
        except services.MoneyError as error:
            db.session.rollback()
            form.amount.errors = [*form.amount.errors, str(error.message)]
        else:
            if by_stripe:
                said = _(
                    "Payout %(number)d asked for: %(amount)s is set aside and Stripe sends it "
                    "to your payout account within minutes.",
                    number=payout.number,
                    amount=_money(payout.amount, payout.currency),
                )
            else:
                said = _(
                    "Payout %(number)d asked for: %(amount)s is set aside. The group's admins "
                    "will pay it and record it here.",
                    number=payout.number,
                    amount=_money(payout.amount, payout.currency),
                )
            flash(said, "success")
            return redirect(url_for("ledger.mine", slug=group.slug))
    db.session.rollback()
    return _mine_page(group, form, 400)


class NoPayoutAccount(services.MoneyError):
    message = _l("Set up your payout account with Stripe first: it is where your payouts are sent.")


def _ready_account() -> str:
    """The member's connected account, if Stripe can send it transfers now."""
    kept = stripe_payments.payout_account(db.session, current_user)
    if not stripe_payments.ready(stripe_payments.client(current_app.config), kept):
        raise NoPayoutAccount()
    return kept.account_id


@bp.post("/groups/<slug>/money/payout-account")
@for_group(policy.can_see_own_money)
def connect_payout_account(group):
    """Send the member to Stripe's page to set up where their payouts go."""
    _require_fresh_form()
    if not _stripe_on():
        abort(404)
    stripe_client = stripe_payments.client(current_app.config)
    try:
        kept = stripe_payments.connect(db.session, stripe_client, current_user)
        db.session.commit()
        url = stripe_payments.onboarding_url(
            stripe_client,
            kept,
            back_url=public_url("ledger.payout_account_back", slug=group.slug),
        )
    except services.MoneyError as error:
        db.session.rollback()
        abort_with(error.status, error.message)
    except IntegrityError:  # the same member, in two tabs at once: the other one made it
        db.session.rollback()
        abort_with(409, _("Your payout account is being set up: try again in a moment."))
    return redirect(url, 303)


@bp.get("/groups/<slug>/money/payout-account")
@for_group(policy.can_see_own_money)
def payout_account_back(group):
    """Where Stripe sends the member back: says whether payouts can be sent now."""
    if not _stripe_on():
        abort(404)
    kept = stripe_payments.payout_account(db.session, current_user)
    try:
        is_ready = stripe_payments.ready(stripe_payments.client(current_app.config), kept)
    except services.MoneyError as error:
        abort_with(error.status, error.message)
    if is_ready:
        flash(_("Your payout account is ready: payouts you ask for are sent there."), "success")
    else:
        flash(
            _(
                "Stripe still needs some details before it can send you payouts. Set up your "
                "payout account again to finish."
            ),
            "info",
        )
    return redirect(url_for("ledger.mine", slug=group.slug))


def transfer_job(session, payout_id: int) -> None:
    """Send a Stripe payout; a time-out raises, and the queue tries again later."""
    stripe_payments.send_transfer(session, stripe_payments.client(current_app.config), payout_id)


@bp.post("/groups/<slug>/money/payouts/<int:number>/cancel")
@for_group(policy.can_see_own_money, child=PAYOUT)
def cancel_payout(group, payout):
    as_admin = policy.can_manage_money(current_user, group) and payout.user_id != current_user.id
    _require_fresh_form()
    try:
        services.cancel_payout(db.session, payout, actor=current_user, as_admin=as_admin)
        db.session.commit()
    except services.MoneyError as error:
        db.session.rollback()
        abort_with(error.status, error.message)
    flash(
        _(
            "Payout %(number)d is cancelled: the amount is back in the balance.",
            number=payout.number,
        ),
        "success",
    )
    if as_admin:
        return redirect(url_for("ledger.index", slug=group.slug, _anchor="payouts"))
    return redirect(url_for("ledger.mine", slug=group.slug))


@bp.post("/groups/<slug>/money/payouts/<int:number>/paid")
@for_group(policy.can_manage_money, child=PAYOUT)
def payout_paid(group, payout):
    form = PayoutPaidForm()
    if not form.validate_on_submit():
        abort_with(400, " ".join(form.reference.errors) or _("Enter the bank reference."))
    if payout.status != PayoutStatus.ASKED:
        abort_with(409, services.PayoutNotOpen.message)
    if not confirmed():
        return ask_first(
            title=_("Record payout %(number)d as paid?", number=payout.number),
            details=[
                (_("Amount"), _money(payout.amount, payout.currency)),
                (_("Pay to"), payout.pay_to),
                (_("Bank reference"), form.reference.data),
            ],
            consequences=[
                _("The ledger records that the money left the group's account."),
                _("This cannot be undone: a mistake is corrected by a new transaction."),
            ],
            confirm_label=_("Yes, record it as paid"),
            cancel_url=url_for("ledger.index", slug=group.slug, _anchor="payouts"),
            danger=False,
        )
    try:
        services.mark_payout_paid(
            db.session, payout, reference=form.reference.data, actor=current_user
        )
        db.session.commit()
    except services.MoneyError as error:
        db.session.rollback()
        abort_with(error.status, error.message)
    flash(_("Payout %(number)d is recorded as paid.", number=payout.number), "success")
    return redirect(url_for("ledger.index", slug=group.slug, _anchor="payouts"))


@bp.post("/groups/<slug>/money/invoices/<int:number>/payment")
@for_group(policy.can_manage_money, child=INVOICE)
def record_payment(group, invoice):
    form = PaymentForm()
    amount = form.minor_units(invoice.currency) if form.validate_on_submit() else None
    if amount is None:
        errors = [*form.amount.errors, *form.reference.errors, *form.csrf_token.errors]
        abort_with(400, " ".join(str(e) for e in errors))
    if invoice.status != InvoiceStatus.ISSUED:
        abort_with(409, services.InvoiceNotOpen.message)
    if not confirmed():
        return ask_first(
            title=_("Record the payment of invoice %(number)d?", number=invoice.number),
            details=[
                (_("Company"), invoice.partner.name),
                (_("Amount received"), _money(amount, invoice.currency)),
                (_("Bank reference"), form.reference.data),
            ],
            consequences=[
                _(
                    "The payment is posted to the group's ledger and shared at once, by the "
                    "charter in force: the reserve first, then the members."
                ),
                _("This cannot be undone: a mistake is corrected by a new transaction."),
            ],
            confirm_label=_("Yes, record and share it"),
            cancel_url=url_for("ledger.index", slug=group.slug, _anchor="invoices"),
            danger=False,
        )
    try:
        services.record_offline_payment(
            db.session,
            invoice,
            amount=amount,
            currency=invoice.currency,
            reference=form.reference.data,
            actor=current_user,
            fee_basis_points=_fee(),
        )
        db.session.commit()
    except services.MoneyError as error:
        db.session.rollback()
        abort_with(error.status, error.message)
    except (LedgerError, IntegrityError):
        db.session.rollback()  # the members changed while it was shared: it did not balance
        abort_with(
            409,
            _(
                "The group's members changed while the payment was shared: nothing was recorded. "
                "Try again."
            ),
        )
    flash(
        _(
            "The payment of invoice %(number)d is recorded and shared among the members.",
            number=invoice.number,
        ),
        "success",
    )
    return redirect(url_for("ledger.index", slug=group.slug))


@bp.post("/groups/<slug>/money/invoices/<int:number>/give-back")
@for_group(policy.can_manage_money, child=INVOICE)
def give_back(group, invoice):
    """Refund to the company the payments of the invoice kept for review."""
    _require_fresh_form()
    if not _stripe_on():
        abort(404)
    waiting = [
        payment
        for payment in services.payments_for_review(db.session, group)
        if payment.invoice_id == invoice.id
    ]
    if not waiting:
        abort_with(409, stripe_payments.NotForReview.message)
    total = sum(payment.amount for payment in waiting)
    if not confirmed():
        return ask_first(
            title=_(
                "Give %(amount)s back to %(company)s?",
                amount=_money(total, invoice.currency),
                company=invoice.partner.name,
            ),
            details=[
                (_("Invoice"), invoice.reference),
                (_("Company"), invoice.partner.name),
                (_("Amount to give back"), _money(total, invoice.currency)),
            ],
            consequences=[
                _(
                    "Stripe refunds all of it to the card or account it came from, within "
                    "days. The members' balances do not change: this money was never shared."
                ),
                _("A refund cannot be undone."),
            ],
            confirm_label=_("Yes, give it back"),
            cancel_url=url_for("ledger.index", slug=group.slug, _anchor="review"),
            danger=True,
        )
    stripe_client = stripe_payments.client(current_app.config)
    try:
        for payment in waiting:
            stripe_payments.give_back(
                db.session, stripe_client, payment, actor=current_user, fee_basis_points=_fee()
            )
            db.session.commit()
    except services.MoneyError as error:
        db.session.rollback()
        abort_with(error.status, error.message)
    flash(
        _(
            "%(amount)s is being given back to %(company)s: Stripe refunds it within days.",
            amount=_money(total, invoice.currency),
            company=invoice.partner.name,
        ),
        "success",
    )
    return redirect(url_for("ledger.index", slug=group.slug))


@bp.post("/admin/payment-events/<event_id>/dismiss")
@platform(policy.can_operate_platform)
def dismiss_provider_event(event_id):
    """The operator dealt, on Stripe, with an event about no payment of ours."""
    _require_fresh_form()
    try:
        stripe_payments.dismiss_event(db.session, event_id, actor=current_user)
        db.session.commit()
    except services.MoneyError as error:
        db.session.rollback()
        abort_with(error.status, error.message)
    flash(_("Event %(event)s dismissed.", event=event_id), "success")
    return redirect(url_for("home.operator", _anchor="payment-events"))


@bp.get("/partners/<company>/invoices")
@for_company(policy.can_use_partner_portal)
def company_invoices(partner):
    return render_template(
        "ledger/company_invoices.html",
        partner=partner,
        invoices=services.company_invoices(db.session, partner.id),
        payee=current_app.config["OFFLINE_PAYEE"],
        iban=current_app.config["OFFLINE_IBAN"],
        by_card=_stripe_on(),
        cancelled=request.args.get("payment") == "cancelled",
        money=_money,
        InvoiceStatus=InvoiceStatus,
    )


def _stripe_on() -> bool:
    return current_app.config["PAYMENT_PROVIDER"] == stripe_payments.PROVIDER


def _fee() -> int:
    return current_app.config["PLATFORM_FEE_BASIS_POINTS"]


def _company_invoice(partner, slug: str, number: int) -> Invoice:
    """The company's own invoice, by the group's slug and its number there; else 404."""
    invoice = db.session.scalar(
        select(Invoice)
        .join(Group, Group.id == Invoice.group_id)
        .where(Group.slug == slug, Invoice.number == number, Invoice.partner_id == partner.id)
    )
    if invoice is None or not _stripe_on():
        abort(404)
    return invoice


def _invoices_page(partner, **values):
    return url_for("ledger.company_invoices", company=partner.slug, **values)


@bp.post("/partners/<company>/invoices/<slug>/<int:number>/pay")
@for_company(policy.can_pay_invoices)
def pay_invoice(partner, slug, number):
    """Send the company to Stripe's page for the invoice (the same page each time)."""
    form = PlainForm()
    if not form.validate_on_submit():
        abort_with(400, " ".join(str(e) for e in form.csrf_token.errors))
    invoice = _company_invoice(partner, slug, number)
    stripe_client = stripe_payments.client(current_app.config)
    try:
        payment = stripe_payments.attempt_for(db.session, invoice)
        db.session.commit()
        if payment.checkout_session_id is not None:
            status = stripe_payments.sync(
                db.session, stripe_client, payment, fee_basis_points=_fee()
            )
            db.session.commit()
            if status == "pending" and payment.checkout_url:
                return redirect(payment.checkout_url, 303)
            if status != "failed":
                flash(_("This invoice is paid already."), "info")
                return redirect(_invoices_page(partner))
            payment = stripe_payments.attempt_for(db.session, invoice)  # the last one expired
            db.session.commit()
        back = public_url("ledger.invoice_paid", company=partner.slug, slug=slug, number=number)
        checkout = stripe_payments.open_checkout(
            stripe_client,
            payment,
            success_url=back + "?session_id={CHECKOUT_SESSION_ID}",
            cancel_url=public_url(
                "ledger.company_invoices", company=partner.slug, payment="cancelled"
            ),
        )
        stripe_payments.remember_checkout(db.session, payment, checkout)
        db.session.commit()
    except stripe_payments.SpoiltAttempt as error:
        db.session.rollback()
        stripe_payments.give_up(db.session, payment)
        db.session.commit()
        abort_with(error.status, error.message)
    except services.MoneyError as error:
        db.session.rollback()
        abort_with(error.status, error.message)
    return redirect(payment.checkout_url, 303)


@bp.get("/partners/<company>/invoices/<slug>/<int:number>/paid")
@for_company(policy.can_pay_invoices)
def invoice_paid(partner, slug, number):
    """Where Stripe sends the company back: the payment is fulfilled here if the webhook
    has not done it yet (a listed GET that writes: ``sync`` is idempotent)."""
    invoice = _company_invoice(partner, slug, number)
    payment = db.session.scalar(
        select(Payment).where(
            Payment.invoice_id == invoice.id,
            Payment.checkout_session_id == request.args.get("session_id", ""),
        )
    )
    if payment is None:
        abort(404)
    try:
        status = stripe_payments.sync(
            db.session,
            stripe_payments.client(current_app.config),
            payment,
            fee_basis_points=_fee(),
        )
        db.session.commit()
    except services.MoneyError as error:
        db.session.rollback()
        abort_with(error.status, error.message)
    words = {
        "received": (_("Thank you: invoice %(ref)s is paid.", ref=invoice.reference), "success"),
        "pending": (
            _(
                "Thank you: your payment of invoice %(ref)s is on its way. This page shows it "
                "as paid when it arrives.",
                ref=invoice.reference,
            ),
            "info",
        ),
        "failed": (
            _(
                "The payment of invoice %(ref)s did not go through. Nothing was charged.",
                ref=invoice.reference,
            ),
            "error",
        ),
        "review": (
            _(
                "Your payment of invoice %(ref)s arrived, but the invoice was paid already or "
                "the amount differs: the group will give it back.",
                ref=invoice.reference,
            ),
            "info",
        ),
        "given_back": (
            _(
                "Your payment of invoice %(ref)s was not needed: it was given back to you.",
                ref=invoice.reference,
            ),
            "info",
        ),
    }
    message, category = words[status]
    flash(message, category)
    return redirect(_invoices_page(partner))


@bp.post("/webhooks/stripe")
@public
def stripe_webhook():
    """Stripe's events: verified, kept once by id, acted on by asking Stripe what is true."""
    config = current_app.config
    if not _stripe_on():
        abort(404)
    try:
        event = stripe_payments.verify_event(
            request.get_data(),
            request.headers.get("Stripe-Signature"),
            config["STRIPE_WEBHOOK_SECRET"],
            config["STRIPE_WEBHOOK_TOLERANCE_SECONDS"],
        )
    except stripe_payments.BadSignature:
        return jsonify(error="The signature is missing, wrong or not fresh."), 400
    try:
        kept = stripe_payments.keep_event(db.session, event)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # the same event, delivered at the same moment, was kept
        return jsonify(received=True, duplicate=True)
    try:
        status = stripe_payments.process(
            db.session,
            stripe_payments.client(config),
            kept,
            fee_basis_points=_fee(),
        )
        db.session.commit()
    except (services.MoneyError, LedgerError, IntegrityError):
        # Kept as received: Stripe delivers it again, and the catch-up job retries it.
        db.session.rollback()
        return jsonify(received=True, processed=False), 503
    return jsonify(received=True, status=str(status))


def catch_up_job(session) -> None:
    """Events a delivery could not finish, and payments nobody told us about."""
    config = current_app.config
    if config["PAYMENT_PROVIDER"] != stripe_payments.PROVIDER:
        return
    stripe_payments.catch_up(
        session,
        stripe_payments.client(config),
        fee_basis_points=_fee(),
    )


def _issue_invoice(deal, session, **_kwargs) -> None:
    services.invoice_deal(session, deal)


def init_app(app) -> None:
    events.connect(events.deal_tipped, _issue_invoice)
    events.connect(events.deal_closed, _issue_invoice)
    reserve.register_kind()
    cli.init_app(app)
    personal.register()  # what it keeps about a person: export and erasure
    _check_provider(app.config)
    jobs.register(app, "ledger.stripe_catch_up", catch_up_job, every_minutes=10)
    jobs.register(app, "ledger.stripe_transfer", transfer_job, retries=5, retry_delay=30)
    app.register_blueprint(bp)
    app.extensions["csrf"].exempt(stripe_webhook)  # Stripe signs its requests instead


def _check_provider(config) -> None:
    provider = config["PAYMENT_PROVIDER"]
    if provider not in ("offline", stripe_payments.PROVIDER):
        raise RuntimeError("PAYMENT_PROVIDER must be offline or stripe")
    if provider == stripe_payments.PROVIDER and not (
        config["STRIPE_SECRET_KEY"] and config["STRIPE_WEBHOOK_SECRET"]
    ):
        raise RuntimeError(
            "PAYMENT_PROVIDER=stripe needs STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET"
        )
    if int(config["STRIPE_WEBHOOK_TOLERANCE_SECONDS"]) <= 0:
        # The SDK reads 0 as "do not check the timestamp": every replay would pass.
        raise RuntimeError("STRIPE_WEBHOOK_TOLERANCE_SECONDS must be above 0")
