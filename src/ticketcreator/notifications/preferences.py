"""Who wants which notifications, where and when: a member's own preferences, else their
organization's defaults (set by administrators), else the product's (every event, by e-mail,
at once, no quiet hours).

A member's row also holds the version of their unsubscribe links
(:mod:`ticketcreator.notifications.unsubscribe`): revoking the links raises it.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.core.errors import Forbidden
from ticketcreator.notifications import preference_repository as repo
from ticketcreator.notifications.email_models import NotificationPreference
from ticketcreator.notifications.preference_schemas import (
    Channel,
    NotificationPreferences,
    NotificationPreferencesRead,
    QuietHours,
)


def _read(row: NotificationPreference | None, source: str) -> NotificationPreferencesRead:
    if row is None:
        return NotificationPreferencesRead(source="default")
    quiet = (
        QuietHours(start=row.quiet_start, end=row.quiet_end)
        if row.quiet_start is not None and row.quiet_end is not None
        else None
    )
    return NotificationPreferencesRead.model_validate(
        {
            "events": row.events,
            "channels": row.channels,
            "quiet_hours": quiet,
            "time_zone": row.time_zone,
            "digest": row.digest,
            "source": source,
        }
    )


def _write(row: NotificationPreference, data: NotificationPreferences) -> None:
    row.events = [event.value for event in data.events]
    row.channels = [channel.value for channel in data.channels]
    row.quiet_start = data.quiet_hours.start if data.quiet_hours else None
    row.quiet_end = data.quiet_hours.end if data.quiet_hours else None
    row.time_zone = data.time_zone
    row.digest = data.digest.value


async def effective(
    session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID
) -> NotificationPreferencesRead:
    """What applies to the member: their own, else the organization's, else the defaults."""
    mine, organization = await repo.both(session, organization_id, user_id)
    if mine is not None:
        return _read(mine, "member")
    return _read(organization, "organization" if organization else "default")


async def _save(
    session: AsyncSession,
    organization_id: uuid.UUID,
    user_id: uuid.UUID | None,
    data: NotificationPreferences,
) -> NotificationPreference:
    row = await repo.find(session, organization_id, user_id, lock=True)
    if row is None:
        row = NotificationPreference(
            id=uuid.uuid4(), organization_id=organization_id, user_id=user_id, unsubscribe_version=0
        )
        session.add(row)
    _write(row, data)
    await session.flush()
    return row


def _person(principal: Principal) -> uuid.UUID:
    if principal.user_id is None:
        raise Forbidden("Notification preferences belong to people; an API key has none.")
    return principal.user_id


async def get_mine(session: AsyncSession, principal: Principal) -> NotificationPreferencesRead:
    return await effective(session, principal.organization_id, _person(principal))


async def put_mine(
    session: AsyncSession, principal: Principal, data: NotificationPreferences
) -> NotificationPreferencesRead:
    row = await _save(session, principal.organization_id, _person(principal), data)
    return _read(row, "member")


async def get_organization(
    session: AsyncSession, principal: Principal
) -> NotificationPreferencesRead:
    row = await repo.find(session, principal.organization_id, None)
    return _read(row, "organization" if row else "default")


async def put_organization(
    session: AsyncSession, principal: Principal, data: NotificationPreferences
) -> NotificationPreferencesRead:
    return _read(await _save(session, principal.organization_id, None, data), "organization")


async def link_version(
    session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID
) -> int:
    row = await repo.find(session, organization_id, user_id)
    return row.unsubscribe_version if row else 0


async def revoke_links(session: AsyncSession, principal: Principal) -> None:
    """Make every unsubscribe link sent to the caller so far invalid."""
    user_id = _person(principal)
    current = await effective(session, principal.organization_id, user_id)
    row = await _save(session, principal.organization_id, user_id, current)
    row.unsubscribe_version += 1


async def stop_email(
    session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID, version: int
) -> bool:
    """Turn e-mail off for the member, if ``version`` is their links' current one."""
    if await link_version(session, organization_id, user_id) != version:
        return False
    current = await effective(session, organization_id, user_id)
    channels = [channel for channel in current.channels if channel is not Channel.EMAIL]
    await _save(
        session, organization_id, user_id, current.model_copy(update={"channels": channels})
    )
    return True
