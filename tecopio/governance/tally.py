"""Counting a proposal's votes under the rules of the charter it opened under: integers only."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Tally:
    yes: int
    no: int
    abstain: int
    electorate: int  # members who may vote
    quorum_percent: int
    pass_percent: int
    count_abstentions: bool

    @property
    def votes(self) -> int:
        return self.yes + self.no + self.abstain

    @property
    def quorum_votes(self) -> int:
        """Votes the quorum needs: quorum_percent of the electorate, rounded up."""
        return -(-self.quorum_percent * self.electorate // 100)

    @property
    def still_needed(self) -> int:
        return max(0, self.quorum_votes - self.votes)

    @property
    def quorum_reached(self) -> bool:
        return self.votes >= self.quorum_votes

    @property
    def counted(self) -> int:
        """The votes the threshold is a share of (abstentions only where the charter says so)."""
        return self.yes + self.no + (self.abstain if self.count_abstentions else 0)

    @property
    def passed(self) -> bool:
        """Quorum reached, and yes votes more than pass_percent of the votes counted."""
        return (
            self.quorum_reached
            and self.counted > 0
            and self.yes * 100 > self.pass_percent * self.counted
        )


def rules_tally(charter, yes: int, no: int, abstain: int, electorate: int) -> Tally:
    return Tally(
        yes=yes,
        no=no,
        abstain=abstain,
        electorate=electorate,
        quorum_percent=charter["decisions.quorum_percent"],
        pass_percent=charter["decisions.pass_percent"],
        count_abstentions=charter["decisions.count_abstentions"],
    )
