"""The demo organization's taxonomy and sample tickets: what a newcomer sees triage apply.

Categories are the ten product areas of the bug-report evaluation set (data/bug_reports),
each with the one-line description zero-shot triage reads; teams, the tags support teams
use, and a handful of tickets reported by the demo reporter, which the worker triages.
Safe to run again: what exists is kept, and tickets are only added to an organization that
has none.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.accounts.permissions import ROLE_PERMISSIONS, Role
from ticketcreator.taxonomy import lookups, service
from ticketcreator.taxonomy import repository as repo
from ticketcreator.taxonomy.models import Category, Team
from ticketcreator.taxonomy.schemas import CategoryCreate, TeamCreate
from ticketcreator.tickets import service as tickets
from ticketcreator.tickets.models import Ticket
from ticketcreator.tickets.schemas import TicketCreate

DEMO_CATEGORIES: Final = (
    (
        "Payments & billing",
        "Checkout, card payments, charges, refunds, payouts, invoices, subscriptions and plans",
    ),
    (
        "Login & accounts",
        "Signing in, passwords, two-factor codes, single sign-on, invitations, user and admin "
        "accounts",
    ),
    ("Performance & outages", "The whole site or app is down, unreachable, slow or timing out"),
    (
        "Data & sync",
        "Records missing, duplicated, wrong or lost; imports, exports and synchronisation of data",
    ),
    ("User interface", "Layout, buttons, forms, text, typos, translations and how pages look"),
    ("Notifications", "Emails, SMS, push notifications and reminders: not sent, late or wrong"),
    (
        "Integrations & API",
        "Public API, API keys, webhooks and connections to other tools such as Slack, Zapier or "
        "calendars",
    ),
    ("Mobile app", "The iOS, Android or tablet app: crashes, app login, app updates, offline use"),
    (
        "Security & permissions",
        "Data exposed to the wrong people, roles and access rights, sessions, security "
        "weaknesses and privacy",
    ),
    ("Reports & dashboards", "Analytics, charts, statistics, totals and report exports"),
)
DEMO_TEAMS: Final = (
    ("Support desk", "First line: answers questions, reproduces bugs, routes the rest"),
    ("Payments", "Checkout, billing, invoices and payouts"),
    ("Platform", "Availability, performance, data, API and integrations"),
    ("Identity & security", "Login, SSO, permissions and security reports"),
    ("Mobile", "The iOS and Android apps"),
)
DEMO_TAGS: Final = (
    "checkout",
    "payments",
    "refunds",
    "invoices",
    "login",
    "sso",
    "2fa",
    "api",
    "webhooks",
    "mobile-app",
    "ios",
    "android",
    "email",
    "import",
    "export",
    "performance",
    "outage",
    "security",
    "dashboard",
    "typo",
)
# (title, description) as reporters write them; the worker triages each one.
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


@dataclass
class DemoContent:
    categories: int = 0
    teams: int = 0
    tags: int = 0
    tickets: int = 0


def _as(organization_id: uuid.UUID, user_id: uuid.UUID, role: Role) -> Principal:
    return Principal(organization_id, role, ROLE_PERMISSIONS[role], user_id=user_id)


async def seed_content(
    session: AsyncSession, organization_id: uuid.UUID, owner_id: uuid.UUID, reporter_id: uuid.UUID
) -> DemoContent:
    """Create the missing categories, teams and tags (as the owner), and the sample tickets
    (as the reporter) when the organization has no ticket yet. Returns what was created."""
    owner = _as(organization_id, owner_id, Role.OWNER)
    made = DemoContent()
    for name, description in DEMO_CATEGORIES:
        if not await repo.name_taken(session, Category, organization_id, name):
            await service.create_category(
                session, owner, CategoryCreate(name=name, description=description)
            )
            made.categories += 1
    for name, description in DEMO_TEAMS:
        if not await repo.name_taken(session, Team, organization_id, name):
            await service.create_team(
                session, owner, TeamCreate(name=name, description=description)
            )
            made.teams += 1
    existing = {tag.name for tag in await lookups.list_tags(session, organization_id, None, 500)}
    await service.ensure_tags(session, owner, list(DEMO_TAGS))
    made.tags = len(set(DEMO_TAGS) - existing)
    count = (
        select(func.count()).select_from(Ticket).where(Ticket.organization_id == organization_id)
    )
    if not await session.scalar(count):
        reporter = _as(organization_id, reporter_id, Role.REPORTER)
        for title, description in DEMO_TICKETS:
            data = TicketCreate(title=title, description=description)
            await tickets.create_ticket(session, reporter, data, None)
            made.tickets += 1
    return made
