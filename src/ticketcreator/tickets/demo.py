"""The demo organization's sample tickets, reported by the demo reporter and triaged by the
worker: an outage, a blocked login, a cosmetic bug, a question, a feature request, a crash
with a workaround. Added only to an organization that has no ticket yet."""

from __future__ import annotations

import uuid
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.accounts.permissions import ROLE_PERMISSIONS, Role
from ticketcreator.tickets import service
from ticketcreator.tickets.models import Ticket
from ticketcreator.tickets.schemas import TicketCreate

DEMO_TICKETS: Final = (
    (
        "Checkout button does nothing",
        "Clicking Pay shows a spinner forever. Console: Uncaught (in promise) TypeError: "
        "Cannot read properties of undefined (reading 'total') at checkout.js:212. "
        "POST /api/payments returned 500. All customers are affected since the deploy, "
        "nobody can buy anything.",
    ),
    (
        "2FA code rejected",
        'Since this morning my authenticator codes are rejected with "Invalid verification '
        'code". I have to approve the payouts today. Colleagues can still log in.',
    ),
    (
        "Invoice PDF shows the old company address",
        "Our invoices still show the old address although we changed it in the settings last "
        "week. Customers are confused, but they pay.",
    ),
    (
        "How do I export all orders?",
        "Is there a way to export all orders of last year to CSV for our accountant?",
    ),
    (
        "Dark mode",
        "It would be nice to have a dark mode for the dashboard, we work late shifts.",
    ),
    (
        "Android app crashes when opening an order",
        "The Android app (version 5.2) closes itself when I open any order from the list. "
        "The website works, so I use that for now.",
    ),
)


async def seed_tickets(
    session: AsyncSession, organization_id: uuid.UUID, reporter_id: uuid.UUID
) -> int:
    """The sample tickets, when the organization has none; returns how many were created."""
    count = (
        select(func.count()).select_from(Ticket).where(Ticket.organization_id == organization_id)
    )
    if await session.scalar(count):
        return 0
    reporter = Principal(
        organization_id, Role.REPORTER, ROLE_PERMISSIONS[Role.REPORTER], user_id=reporter_id
    )
    for title, description in DEMO_TICKETS:
        await service.create_ticket(
            session, reporter, TicketCreate(title=title, description=description), None
        )
    return len(DEMO_TICKETS)
