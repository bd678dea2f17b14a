"""An organization's Slack set-up: its connection (secrets sealed, never returned), the
channel of each team, and which Slack user each member is (linked in
:mod:`ticketcreator.notifications.slack_links`)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.accounts.permissions import Permission
from ticketcreator.core.db import utcnow
from ticketcreator.core.errors import Forbidden, NotFound
from ticketcreator.integrations.http import VendorError
from ticketcreator.notifications import slack_repository as repo
from ticketcreator.notifications.errors import InvalidSlackConnection
from ticketcreator.notifications.models import SlackConnection, SlackTeamChannel, SlackUserLink
from ticketcreator.notifications.schemas import SlackConnectionRead, SlackConnectionSet
from ticketcreator.notifications.slack_client import SlackClient, is_webhook_url
from ticketcreator.taxonomy import lookups as taxonomy_lookups
from ticketcreator.taxonomy.models import Team


def read(connection: SlackConnection) -> SlackConnectionRead:
    return SlackConnectionRead(
        team_id=connection.slack_team_id,
        mode="bot" if connection.bot_token else "webhook",
        interactive=connection.signing_secret is not None,
        last_ok_at=connection.last_ok_at,
        last_error=connection.last_error,
        last_error_at=connection.last_error_at,
        created_at=connection.created_at,
        updated_at=connection.updated_at,
    )


async def get(session: AsyncSession, organization_id: uuid.UUID) -> SlackConnection:
    found = await repo.connection(session, organization_id)
    if found is None:
        raise NotFound("Slack is not connected.")
    return found


async def connect(
    session: AsyncSession, principal: Principal, data: SlackConnectionSet
) -> SlackConnection:
    """Set (or replace) the organization's connection; its health starts afresh."""
    if data.webhook_url is not None and not is_webhook_url(data.webhook_url):
        raise InvalidSlackConnection(
            "The webhook URL is not a Slack incoming-webhook URL.", field="webhook_url"
        )
    connection = await repo.connection(session, principal.organization_id, lock=True)
    if connection is None:
        connection = SlackConnection(organization_id=principal.organization_id)
        session.add(connection)
    connection.slack_team_id = data.team_id
    connection.bot_token = data.bot_token
    connection.webhook_url = data.webhook_url
    connection.signing_secret = data.signing_secret
    connection.last_ok_at = connection.last_error = connection.last_error_at = None
    connection.created_by_user_id = principal.user_id
    connection.updated_at = utcnow()
    await session.flush()
    await session.refresh(connection)
    return connection


async def disconnect(session: AsyncSession, principal: Principal) -> None:
    await session.delete(await get(session, principal.organization_id))
    await session.flush()


def record(connection: SlackConnection, error: VendorError | None) -> None:
    """The connection's health after a call to Slack."""
    now = utcnow()
    if error is None:
        connection.last_ok_at = now
        return
    connection.last_error = str(error)[:500]
    connection.last_error_at = now


async def test(session: AsyncSession, principal: Principal) -> SlackConnection:
    """Ask Slack whether the connection works (``auth.test`` for a bot token, which must
    belong to the workspace given; a test message for a webhook) and record the answer."""
    connection = await get(session, principal.organization_id)
    error: VendorError | None = None
    async with SlackClient(connection.organization_id) as client:
        try:
            if connection.bot_token:
                team = await client.team_of(connection.bot_token)
                if team != connection.slack_team_id:
                    error = VendorError(f"auth.test: the token is of workspace {team}")
            elif connection.webhook_url:
                message = "AI Ticket Creator is connected to this channel."
                await client.post_to_webhook(connection.webhook_url, message, [])
        except VendorError as exc:
            error = exc
    record(connection, error)
    await session.flush()
    await session.refresh(connection)
    return connection


async def set_team_channel(
    session: AsyncSession, principal: Principal, team_id: uuid.UUID, channel: str
) -> SlackTeamChannel:
    if not await taxonomy_lookups.exists_in(session, Team, principal.organization_id, team_id):
        raise NotFound("No such team.")
    found = await repo.team_channel(session, principal.organization_id, team_id)
    if found is None:
        found = SlackTeamChannel(team_id=team_id, organization_id=principal.organization_id)
        session.add(found)
    found.channel = channel
    await session.flush()
    return found


async def team_channel(
    session: AsyncSession, principal: Principal, team_id: uuid.UUID
) -> SlackTeamChannel:
    found = await repo.team_channel(session, principal.organization_id, team_id)
    if found is None:
        raise NotFound("The team has no Slack channel.")
    return found


async def remove_team_channel(
    session: AsyncSession, principal: Principal, team_id: uuid.UUID
) -> None:
    await session.delete(await team_channel(session, principal, team_id))
    await session.flush()


async def unlink_user(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> None:
    """Members unlink themselves; administrators unlink anyone."""
    if user_id != principal.user_id and not principal.can(Permission.CONFIG_MANAGE):
        raise Forbidden(
            "Only administrators unlink other members from Slack.",
            required_permission=Permission.CONFIG_MANAGE.value,
        )
    found = await repo.link(session, principal.organization_id, user_id)
    if found is None:
        raise NotFound("The member is not linked to Slack.")
    await session.delete(found)
    await session.flush()


async def links(session: AsyncSession, principal: Principal) -> list[SlackUserLink]:
    return await repo.links(session, principal.organization_id)
