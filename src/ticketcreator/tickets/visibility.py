"""Which tickets and comments a caller may see: the one rule every query that lists, counts or
names tickets filters by, in this domain and in others (AI outputs, captures, the stream)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import cache

from sqlalchemy import ColumnElement, and_, bindparam, false

from ticketcreator.tickets.models import Ticket


@dataclass(frozen=True)
class Visibility:
    """Which tickets and comments a caller may see."""

    organization_id: uuid.UUID
    own_only: bool  # reporters: only tickets they reported
    user_id: uuid.UUID | None
    internal: bool  # may see internal comments

    @classmethod
    def whole(cls, organization_id: uuid.UUID) -> Visibility:
        """Every ticket and comment of the organization (workers acting for it)."""
        return cls(organization_id=organization_id, own_only=False, user_id=None, internal=True)

    def tickets(self) -> ColumnElement[bool]:
        """The one rule of which tickets a caller may see or hear of: every query that lists,
        counts or names tickets for a caller (lists, search, similar tickets, stored AI
        outputs, attachments of captures) filters by it."""
        return _rule(self.own_only, self.organization_id, self.user_id)

    def parameters(self) -> dict[str, uuid.UUID | None]:
        """The values of :func:`tickets_rule`'s parameters for this caller."""
        return {"visible_organization": self.organization_id, "visible_reporter": self.user_id}


@cache
def tickets_rule(own_only: bool) -> ColumnElement[bool]:
    """:meth:`Visibility.tickets` with its values left as bound parameters, for a statement
    built once and run with :meth:`Visibility.parameters`. A reporter without a user id
    (``visible_reporter`` null) sees nothing: ``reporter_id = NULL`` is never true."""
    return _rule(own_only, bindparam("visible_organization"), bindparam("visible_reporter"))


def _rule(own_only: bool, organization: object, reporter: object | None) -> ColumnElement[bool]:
    # The table's columns, not the mapped attributes: the rule then serves statements of plain
    # columns too, which run without the ORM's per-execution work (a ticket read as a row).
    columns = Ticket.__table__.c
    condition = columns.organization_id == organization
    if own_only:
        mine = columns.reporter_id == reporter if reporter is not None else false()
        condition = and_(condition, mine)
    return condition
