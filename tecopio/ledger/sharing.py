"""Sharing a payment by the charter in force when it arrives.

The platform's fee (if configured) and the reserve's percentage come first;
the rest goes to the members who are active at that moment, by the charter's
method: in equal parts, by contribution points, or by what each committed to
the deal the payment is for. The split is one SQL statement (the largest
remainder, as ``splits.split`` computes it), so a group of any size costs one
INSERT … SELECT; each member's entry keeps their weight, and the header the
totals, so that every member can see how their share was computed.
"""

from sqlalchemy import BigInteger, Select, and_, case, cast, func, insert, literal, select
from sqlalchemy import union_all as sql_union_all
from sqlalchemy.orm import Session

from tecopio.demand.deals import count_of
from tecopio.demand.models import Commitment, CommitmentStatus, Deal
from tecopio.governance.charter import Charter
from tecopio.groups.models import Membership, MembershipStatus
from tecopio.ledger.models import AccountKind, LedgerAccount, LedgerEntry
from tecopio.ledger.splits import basis_points_of, percent_of
from tecopio.memberdata.models import Feedback, Intent, Preference
from tecopio.privacy.services import shared_with_group

METHODS = ("equal", "contribution", "commitment")


def _active(group_id: int):
    return and_(Membership.group_id == group_id, Membership.status == MembershipStatus.ACTIVE)


def equal_weights(group_id: int) -> Select:
    return select(
        Membership.user_id.label("user_id"), cast(literal(1), BigInteger).label("weight")
    ).where(_active(group_id))


def commitment_weights(session: Session, deal: Deal) -> Select:
    """What each active member committed to the deal, of the commitments that count."""
    keys = sorted(count_of(session, deal).keys) or [-1]
    return (
        select(
            Commitment.user_id.label("user_id"),
            cast(func.sum(Commitment.quantity), BigInteger).label("weight"),
        )
        .join(
            Membership,
            and_(Membership.user_id == Commitment.user_id, _active(deal.group_id)),
        )
        .where(Commitment.id.in_(keys), Commitment.status == CommitmentStatus.ACTIVE)
        .group_by(Commitment.user_id)
    )


def contribution_weights(group_id: int, charter: Charter) -> Select:
    """Points for what each active member shares with the group (preferences, intents and
    feedback in categories they consent to) and for their commitments to its deals."""
    parts = [
        shared_with_group(model, group_id, model.user_id.label("user_id")).add_columns(
            literal(points).label("points")
        )
        for model, points in (
            (Preference, charter["revenue.points_preference"]),
            (Intent, charter["revenue.points_intent"]),
            (Feedback, charter["revenue.points_feedback"]),
        )
    ]
    parts.append(
        select(Commitment.user_id.label("user_id"), literal(charter["revenue.points_commitment"]))
        .join(Deal, Deal.id == Commitment.deal_id)
        .join(Membership, and_(Membership.user_id == Commitment.user_id, _active(group_id)))
        .where(Deal.group_id == group_id, Commitment.status == CommitmentStatus.ACTIVE)
    )
    every = sql_union_all(*parts).subquery()
    return (
        select(
            every.c.user_id.label("user_id"),
            cast(func.sum(every.c.points), BigInteger).label("weight"),
        )
        .group_by(every.c.user_id)
        .having(func.sum(every.c.points) > 0)
    )


def split_rows(
    weights: Select, amount: int, *, total: int | None = None, left: int | None = None
) -> Select:
    """(user_id, weight, share) for every positive weight: the largest-remainder split.

    ``total`` (the weights' sum) and ``left`` (the cents the floors leave), where the
    caller knows them already, are given as values: a database planning the statement
    for a group whose accounts it has just opened cannot misjudge a one-row subquery then.
    """
    w = weights.subquery("w")
    positive = select(w.c.user_id, w.c.weight).where(w.c.weight > 0).cte("positive")
    amount_sql = cast(literal(amount), BigInteger)
    if total is None:
        total_sql = select(cast(func.sum(positive.c.weight), BigInteger)).scalar_subquery()
    else:
        total_sql = cast(literal(total), BigInteger)
    floors = select(
        positive.c.user_id,
        positive.c.weight,
        ((amount_sql * positive.c.weight) // total_sql).label("base"),
        ((amount_sql * positive.c.weight) % total_sql).label("rem"),
    ).cte("floors")
    if left is None:
        left_sql = amount_sql - select(cast(func.sum(floors.c.base), BigInteger)).scalar_subquery()
    else:
        left_sql = cast(literal(left), BigInteger)
    ranked = select(
        floors.c.user_id,
        floors.c.weight,
        floors.c.base,
        func.row_number().over(order_by=(floors.c.rem.desc(), floors.c.user_id)).label("rank"),
    ).cte("ranked")
    return select(
        ranked.c.user_id,
        ranked.c.weight,
        (ranked.c.base + case((ranked.c.rank <= left_sql, 1), else_=0)).label("share"),
    )


def total_weight(session: Session, weights: Select) -> int:
    """The weights' sum (0: nobody to share with by this rule)."""
    w = weights.subquery()
    return int(session.scalar(select(func.coalesce(func.sum(w.c.weight), 0)).where(w.c.weight > 0)))


def plan(amount: int, reserve_percent: int, fee_basis_points: int) -> tuple[int, int, int]:
    """(platform fee, reserve, to the members) of an amount: they add up to it."""
    fee = basis_points_of(amount, fee_basis_points)
    reserve = percent_of(amount - fee, reserve_percent)
    return fee, reserve, amount - fee - reserve


def insert_member_shares(
    session: Session, group_id: int, currency: str, number: int, weights: Select, amount: int
) -> None:
    """The members' legs of transaction ``number``: minus each share, with its weight."""
    rows = split_rows(weights, amount).subquery("shares")
    session.execute(
        insert(LedgerEntry).from_select(
            ["group_id", "transaction_number", "account_id", "amount", "weight"],
            select(
                literal(group_id),
                literal(number),
                LedgerAccount.id,
                -rows.c.share,
                rows.c.weight,
            ).join(
                LedgerAccount,
                and_(
                    LedgerAccount.group_id == group_id,
                    LedgerAccount.currency == currency,
                    LedgerAccount.kind == AccountKind.MEMBER,
                    LedgerAccount.user_id == rows.c.user_id,
                ),
            ),
        )
    )


def recorded_split(session: Session, group_id: int, number: int, amount: int) -> dict:
    """What the members' legs of transaction ``number`` add up to: how many members, their
    total weight, and the cents the floors left over (handed out one each)."""
    member_legs = (
        select(LedgerEntry.weight)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(
            LedgerEntry.group_id == group_id,
            LedgerEntry.transaction_number == number,
            LedgerAccount.kind == AccountKind.MEMBER,
        )
        .subquery()
    )
    members, total = session.execute(
        select(func.count(), func.coalesce(func.sum(member_legs.c.weight), 0))
    ).one()
    total = int(total)
    floors = 0
    if total:
        floors = session.scalar(
            select(
                func.coalesce(
                    func.sum(
                        (cast(literal(amount), BigInteger) * member_legs.c.weight)
                        // cast(literal(total), BigInteger)
                    ),
                    0,
                )
            )
        )
    return {
        "members": int(members),
        "total_weight": total,
        "extra_cents": amount - int(floors) if total else 0,
    }
