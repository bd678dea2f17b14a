"""Organizations: creating one with a free slug, and its settings."""

from __future__ import annotations

import re
import secrets
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts import audit, repository
from ticketcreator.accounts.audit import Actor, AuditAction, Origin
from ticketcreator.accounts.auth import Principal
from ticketcreator.accounts.errors import SlugTaken
from ticketcreator.accounts.models import Organization
from ticketcreator.accounts.schemas import OrganizationSettings, OrganizationSettingsPatch

_SLUG_MAX = 60


def _slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:_SLUG_MAX].strip("-")
    return slug or "org"


async def _free_slug(session: AsyncSession, name: str) -> str:
    base = _slugify(name)
    slug = base
    while await repository.slug_taken(session, slug):
        slug = f"{base}-{secrets.token_hex(3)}"
    return slug


async def new_organization(session: AsyncSession, name: str, slug: str | None) -> Organization:
    if slug is not None and await repository.slug_taken(session, slug):
        raise SlugTaken("Another organization uses this slug.")
    organization = Organization(
        id=uuid.uuid4(), name=name, slug=slug or await _free_slug(session, name), settings={}
    )
    repository.add(session, organization)
    return organization


# ``organization.settings`` key: other members' e-mail addresses shown to every role.
MEMBER_EMAILS_VISIBLE_TO_ALL = "member_emails_visible_to_all"


def settings_of(organization: Organization) -> OrganizationSettings:
    own = organization.settings or {}
    return OrganizationSettings(
        member_emails_visible_to_all=own.get(MEMBER_EMAILS_VISIBLE_TO_ALL) is True
    )


async def organization_settings(
    session: AsyncSession, principal: Principal
) -> OrganizationSettings:
    organization = await repository.organization(session, principal.organization_id)
    return settings_of(organization)


async def change_organization_settings(
    session: AsyncSession, principal: Principal, patch: OrganizationSettingsPatch, origin: Origin
) -> OrganizationSettings:
    organization = await repository.organization(session, principal.organization_id, lock=True)
    changes = patch.model_dump(exclude_none=True)
    if changes:
        organization.settings = {**(organization.settings or {}), **changes}
        audit.record(
            session,
            AuditAction.ORGANIZATION_SETTINGS_CHANGED,
            Actor.of(principal),
            origin,
            target_type="organization",
            target_id=principal.organization_id,
            details=changes,
        )
        await session.flush()
    return settings_of(organization)
