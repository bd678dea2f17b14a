"""The demo organization's taxonomy: what a newcomer sees triage apply.

Categories are the ten product areas of the bug-report evaluation set (data/bug_reports),
each with the one-line description zero-shot triage reads; teams, and the tags support teams
use. Safe to run again: what exists is kept.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.accounts.permissions import ROLE_PERMISSIONS, Role
from ticketcreator.taxonomy import lookups, service
from ticketcreator.taxonomy import repository as repo
from ticketcreator.taxonomy.models import Category, Team
from ticketcreator.taxonomy.schemas import CategoryCreate, TeamCreate

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
@dataclass
class DemoContent:
    categories: int = 0
    teams: int = 0
    tags: int = 0


def _as(organization_id: uuid.UUID, user_id: uuid.UUID, role: Role) -> Principal:
    return Principal(organization_id, role, ROLE_PERMISSIONS[role], user_id=user_id)


async def seed_content(
    session: AsyncSession, organization_id: uuid.UUID, owner_id: uuid.UUID
) -> DemoContent:
    """Create the missing categories, teams and tags (as the owner). Returns what was
    created."""
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
    return made
