"""Which tickets and comments a caller may see: the one rule every query that lists, counts or
names tickets filters by, in this domain and in others (AI outputs, captures, the stream)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, false

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
        condition = Ticket.organization_id == self.organization_id
        if self.own_only:
            mine = Ticket.reporter_id == self.user_id if self.user_id else false()
            condition = and_(condition, mine)
        return condition
