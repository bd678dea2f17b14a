"""Acting on a click in Slack: as the linked member, with that member's permissions, on a
ticket of the organization whose signing secret verified the request (never another's). A
Slack user with no link acts on nothing and is offered a link (:mod:`.slack_links`), which
a direct message to the app with the member's code completes (:func:`event`)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts.auth import Principal
from ticketcreator.accounts.permissions import ROLE_PERMISSIONS, Permission
from ticketcreator.core.config import get_settings
from ticketcreator.core.errors import AppError
from ticketcreator.core.events import Topic, emit
from ticketcreator.notifications import slack, slack_interactions, slack_links, slack_repository
from ticketcreator.notifications.errors import SlackSignatureInvalid
from ticketcreator.notifications.schemas import SlackAnswer
from ticketcreator.notifications.slack_client import is_webhook_url
from ticketcreator.taxonomy import lookups as taxonomy_lookups
from ticketcreator.tickets import service as tickets
from ticketcreator.tickets.schemas import TicketUpdate


async def interaction(
    session: AsyncSession, headers: Mapping[str, str], body: bytes
) -> SlackAnswer:
    """Verify a request from Slack's buttons and do what was clicked; the answer is shown
    only to the person who clicked (sent to the click's ``response_url`` after commit)."""
    team_id, payload = slack_interactions.workspace(body)
    candidates = await slack_repository.connections_of_workspace(session, team_id)
    connection = await slack_interactions.verify(headers, body, candidates)
    clicked = slack_interactions.parse(payload)
    answer = await _answer(session, connection.organization_id, clicked)
    if answer.text and clicked.response_url and is_webhook_url(clicked.response_url):
        reply = {"response_url": clicked.response_url, "text": answer.text}
        emit(session, Topic.SLACK_REPLY_DUE, reply, organization_id=connection.organization_id)
    return answer


async def event(session: AsyncSession, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """An Events API request: the URL check when the app is set up, and direct messages to
    the app, read as the code that completes a link. Anything else is acknowledged only."""
    payload = slack_interactions.event_payload(body)
    if payload.get("type") == "url_verification":
        # Slack's check of the Request URL carries no workspace: answering it changes and
        # reveals nothing but the challenge Slack sent.
        return {"challenge": str(payload.get("challenge", ""))[:200]}
    candidates = await slack_repository.connections_of_workspace(
        session, str(payload.get("team_id", ""))
    )
    connection = await slack_interactions.verify(headers, body, candidates)
    message = payload.get("event")
    if payload.get("type") != "event_callback" or not _direct_message(message):
        return {}
    assert isinstance(message, dict)
    try:  # Slack delivers again what was not acknowledged in time: act once per event
        ttl = 2 * get_settings().slack.signature_max_age_s
        await slack_interactions.first_use(
            f"slack:event:{payload.get('event_id')}", ttl, SlackSignatureInvalid, "event"
        )
    except SlackSignatureInvalid:
        return {}
    organization_id = connection.organization_id
    try:
        async with session.begin_nested():
            text = await slack_links.complete(
                session, organization_id, str(payload["team_id"]), message["user"], message["text"]
            )
    except AppError as exc:
        text = exc.detail or exc.title
    reply = {"channel": message["channel"], "text": text}
    emit(session, Topic.SLACK_REPLY_DUE, reply, organization_id=organization_id)
    return {}


def _direct_message(event: object) -> bool:
    """A person's own message in their conversation with the app (not a bot's, not an edit)."""
    return (
        isinstance(event, dict)
        and event.get("type") == "message"
        and event.get("channel_type") == "im"
        and not event.get("bot_id")
        and not event.get("subtype")
        and all(isinstance(event.get(key), str) for key in ("user", "text", "channel"))
    )


async def _answer(
    session: AsyncSession, organization_id: uuid.UUID, clicked: slack_interactions.BlockActions
) -> SlackAnswer:
    link = await slack_repository.link_of_slack_user(
        session, organization_id, clicked.team.id, clicked.user.id
    )
    if link is None:
        token = slack_links.issue(organization_id, clicked.team.id, clicked.user.id)
        minutes = get_settings().slack.link_ttl_s // 60
        return SlackAnswer(
            text="Your Slack account is not linked to AI Ticket Creator yet, so nothing "
            f"changed. Link it here, signed in (the link works once, for {minutes} "
            f"minutes): <{slack_links.url(token)}|link your account>"
        )
    role = None
    if await slack_repository.is_active(session, link.user_id):
        role = await taxonomy_lookups.member_role(session, organization_id, link.user_id)
    if role is None:
        return SlackAnswer(text="Your linked account may no longer act in this organization.")
    principal = Principal(organization_id, role, ROLE_PERMISSIONS[role], user_id=link.user_id)
    done = []
    for action in clicked.actions:
        if action.action_id not in (slack.ASSIGN_TO_ME, slack.SET_STATUS):
            continue  # "Open" is a link: nothing to do
        if not principal.can(Permission.TICKETS_WRITE):
            return SlackAnswer(text="Your role may not change tickets.")
        try:
            async with session.begin_nested():
                done.append(await _act(session, principal, action))
        except (AppError, ValueError) as exc:
            detail = exc.detail if isinstance(exc, AppError) else "The action is malformed."
            return SlackAnswer(text=f"Nothing changed: {detail}")
    return SlackAnswer(text=" ".join(done))


async def _act(
    session: AsyncSession, principal: Principal, action: slack_interactions.Action
) -> str:
    if action.action_id == slack.ASSIGN_TO_ME:
        ticket = await tickets.load(
            session, principal, str(uuid.UUID(action.value or "")), lock=True
        )
        await tickets.assign(session, principal, ticket, principal.user_id, None)
        return f"{ticket.key} is assigned to you."
    if action.selected_option is None:
        raise ValueError("no status chosen")
    ticket_id, status = slack.parse_status_value(action.selected_option.value)
    ticket = await tickets.load(session, principal, str(ticket_id), lock=True)
    await tickets.update_ticket(session, principal, ticket, TicketUpdate(status=status), None)
    return f"{ticket.key} is now {status.value}."
