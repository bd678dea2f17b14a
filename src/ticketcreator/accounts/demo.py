"""Demo accounts for local development: an organization with an owner, an agent, a reporter
and an API key for the Chrome extension (``ticketcreator seed-demo`` adds the taxonomy and
sample tickets of ``taxonomy/demo.py`` and ``tickets/demo.py``). Safe to run again: what
exists is kept."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts import api_keys, flows, organizations, repository
from ticketcreator.accounts.models import Organization
from ticketcreator.accounts.permissions import Permission, Role
from ticketcreator.accounts.schemas import ApiKeyCreate

DEMO_PASSWORD_ENV = "TC_DEMO_PASSWORD"  # noqa: S105 - a variable name
# The documented development default; set TC_DEMO_PASSWORD to choose another.
DEFAULT_DEMO_PASSWORD = "ticketcreator-demo"  # noqa: S105
DEMO_ORGANIZATION_NAME = "Acme Support"
DEMO_ORGANIZATION_SLUG = "acme"
DEMO_USERS: tuple[tuple[str, str, Role], ...] = (
    ("demo@example.com", "Dana Demo", Role.OWNER),
    ("agent@example.com", "Alex Agent", Role.AGENT),
    ("reporter@example.com", "Robin Reporter", Role.REPORTER),
)
EXTENSION_KEY_NAME = "Chrome extension (demo)"
# What the extension does: upload captures, file tickets, read and comment on them.
EXTENSION_SCOPES = (
    Permission.CAPTURES_WRITE,
    Permission.TICKETS_CREATE,
    Permission.TICKETS_READ,
    Permission.COMMENTS_WRITE,
)


def demo_password() -> str:
    return os.environ.get(DEMO_PASSWORD_ENV) or DEFAULT_DEMO_PASSWORD


@dataclass
class DemoSeed:
    organization: Organization
    password: str
    created_users: list[str] = field(default_factory=list)
    existing_users: list[str] = field(default_factory=list)
    extension_key: str | None = None
    owner_id: uuid.UUID | None = None
    reporter_id: uuid.UUID | None = None


async def seed_demo(session: AsyncSession, password: str) -> DemoSeed:
    """Create whatever part of the demo data is missing. The extension key is printed only
    when it is created: keys are stored as hashes and cannot be shown again."""
    organization = await repository.get_organization_by_slug(session, DEMO_ORGANIZATION_SLUG)
    if organization is None:
        organization = await organizations.new_organization(
            session, DEMO_ORGANIZATION_NAME, DEMO_ORGANIZATION_SLUG
        )
        await session.flush()
    seed = DemoSeed(organization, password)
    for email, name, role in DEMO_USERS:
        user = await repository.get_user_by_email(session, email)
        if user is not None and await repository.get_membership(session, organization.id, user.id):
            seed.existing_users.append(email)
            continue
        added = await flows.add_user(
            session,
            email=email,
            name=name,
            password=password,
            organization_slug=DEMO_ORGANIZATION_SLUG,
            role=role,
        )
        (seed.created_users if added.new_user else seed.existing_users).append(email)
    seed.extension_key = await _extension_key(session, seed.organization)
    owner = await repository.get_user_by_email(session, DEMO_USERS[0][0])
    reporter = await repository.get_user_by_email(session, DEMO_USERS[2][0])
    seed.owner_id = owner.id if owner else None
    seed.reporter_id = reporter.id if reporter else None
    return seed


async def _extension_key(session: AsyncSession, organization: Organization) -> str | None:
    keys = await repository.list_api_keys(session, organization.id)
    if any(key.name == EXTENSION_KEY_NAME and key.revoked_at is None for key in keys):
        return None
    owner = await repository.get_user_by_email(session, DEMO_USERS[0][0])
    created = await api_keys.issue_api_key(
        session,
        organization.id,
        owner.id if owner else None,
        ApiKeyCreate(name=EXTENSION_KEY_NAME, scopes=list(EXTENSION_SCOPES)),
        Role.REPORTER,
    )
    return created.key
