"""Queries of Slack notifications; everything a caller reaches is filtered by organization."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.models import User
from ticketcreator.core.db import utcnow
from ticketcreator.notifications.models import (
    SlackConnection,
    SlackMessage,
    SlackTeamChannel,
    SlackUserLink,
)


async def connection(
    session: AsyncSession, organization_id: uuid.UUID, *, lock: bool = False
) -> SlackConnection | None:
    return await session.get(SlackConnection, organization_id, with_for_update=lock or None)


async def connections_of_workspace(session: AsyncSession, team_id: str) -> list[SlackConnection]:
    """Connections to a Slack workspace that have a signing secret (usually one)."""
    rows = await session.scalars(
        select(SlackConnection)
        .where(
            SlackConnection.slack_team_id == team_id, SlackConnection.signing_secret.is_not(None)
        )
        .order_by(SlackConnection.created_at, SlackConnection.organization_id)
    )
    return list(rows)


async def team_channel(
    session: AsyncSession, organization_id: uuid.UUID, team_id: uuid.UUID
) -> SlackTeamChannel | None:
    return await session.scalar(
        select(SlackTeamChannel).where(
            SlackTeamChannel.team_id == team_id,
            SlackTeamChannel.organization_id == organization_id,
        )
    )


async def message_channels(session: AsyncSession, ticket_id: uuid.UUID) -> list[str]:
    """The channels where the ticket has a message."""
    rows = await session.scalars(
        select(SlackMessage.channel).where(SlackMessage.ticket_id == ticket_id)
    )
    return list(rows)


async def lock_message_of(
    session: AsyncSession, organization_id: uuid.UUID, ticket_id: uuid.UUID, channel: str
) -> SlackMessage:
    """The ticket's message in ``channel`` (created when new), locked."""
    await session.execute(
        insert(SlackMessage)
        .values(
            id=uuid.uuid4(),
            organization_id=organization_id,
            ticket_id=ticket_id,
            channel=channel,
            attempts=0,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing()
    )
    found = await session.scalar(
        select(SlackMessage)
        .where(SlackMessage.ticket_id == ticket_id, SlackMessage.channel == channel)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert found is not None
    return found


async def lock_message(session: AsyncSession, message_id: uuid.UUID) -> SlackMessage | None:
    return await session.scalar(
        select(SlackMessage)
        .where(SlackMessage.id == message_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def link(
    session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID
) -> SlackUserLink | None:
    return await session.get(SlackUserLink, (organization_id, user_id))


async def link_of_slack_user(
    session: AsyncSession, organization_id: uuid.UUID, team_id: str, slack_user_id: str
) -> SlackUserLink | None:
    return await session.scalar(
        select(SlackUserLink).where(
            SlackUserLink.organization_id == organization_id,
            SlackUserLink.slack_team_id == team_id,
            SlackUserLink.slack_user_id == slack_user_id,
        )
    )


async def links(session: AsyncSession, organization_id: uuid.UUID) -> list[SlackUserLink]:
    rows = await session.scalars(
        select(SlackUserLink)
        .where(SlackUserLink.organization_id == organization_id)
        .order_by(SlackUserLink.created_at, SlackUserLink.user_id)
    )
    return list(rows)


async def is_active(session: AsyncSession, user_id: uuid.UUID) -> bool:
    return bool(await session.scalar(select(User.is_active).where(User.id == user_id)))


async def user_name(session: AsyncSession, user_id: uuid.UUID) -> str | None:
    name: str | None = await session.scalar(select(User.name).where(User.id == user_id))
    return name
