"""REST API of Slack: /v1/slack (the connection and team channels: administrators; linking a
member to their Slack user: the member, with the link Slack showed them, then the Slack user
with the code in a direct message; unlinking: the member or an administrator; the buttons'
and the Events API's requests: Slack)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from ticketcreator.accounts.auth import Authorizer, Principal
from ticketcreator.accounts.errors import NotAPerson
from ticketcreator.accounts.permissions import Permission
from ticketcreator.core.db import UnitOfWorkRoute
from ticketcreator.core.deps import Session, public
from ticketcreator.core.errors import (
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    documented,
)
from ticketcreator.notifications import flows, slack_links, slack_settings
from ticketcreator.notifications.errors import (
    InvalidSlackConnection,
    InvalidSlackLink,
    SlackSignatureInvalid,
    SlackUserLinked,
)
from ticketcreator.notifications.schemas import (
    SlackAnswer,
    SlackChannelSet,
    SlackConnectionRead,
    SlackConnectionSet,
    SlackLinkPending,
    SlackTeamChannelRead,
    SlackUserLinkConfirm,
    SlackUserLinkRead,
)

CanManage = Annotated[Principal, Depends(Authorizer(Permission.CONFIG_MANAGE))]
Person = Annotated[Principal, Depends(Authorizer(Permission.ACCOUNT_SELF))]
_AUTH = (Unauthorized, Forbidden)
_ONE = (*_AUTH, NotFound)

router = APIRouter(prefix="/slack", tags=["slack"], route_class=UnitOfWorkRoute)
_MAX_BODY = 1024 * 1024  # a click's or an event's payload is a few kilobytes


async def _body(request: Request, what: str) -> bytes:
    """The raw body Slack signed, refused unless its declared length is at most 1 MiB."""
    declared = request.headers.get("content-length", "")
    if not declared.isdigit() or int(declared) > _MAX_BODY:
        raise PayloadTooLarge(f"A Slack {what} is at most 1 MiB, with its length declared.")
    return await request.body()


@router.put(
    "/connection",
    response_model=SlackConnectionRead,
    responses=documented(*_AUTH, InvalidSlackConnection),
)
async def connect(
    data: SlackConnectionSet, session: Session, principal: CanManage
) -> SlackConnectionRead:
    """Connect Slack (or replace the connection). Tokens and secrets are stored sealed and
    never returned."""
    return slack_settings.read(await slack_settings.connect(session, principal, data))


@router.get("/connection", response_model=SlackConnectionRead, responses=documented(*_ONE))
async def get_connection(session: Session, principal: CanManage) -> SlackConnectionRead:
    """The connection and its health: when Slack last accepted a call, what it last refused."""
    return slack_settings.read(await slack_settings.get(session, principal.organization_id))


@router.post("/connection/test", response_model=SlackConnectionRead, responses=documented(*_ONE))
async def test_connection(session: Session, principal: CanManage) -> SlackConnectionRead:
    """Call Slack now (`auth.test`, or a message to the webhook) and record the answer."""
    return slack_settings.read(await slack_settings.test(session, principal))


@router.delete("/connection", status_code=status.HTTP_204_NO_CONTENT, responses=documented(*_ONE))
async def disconnect(session: Session, principal: CanManage) -> None:
    await slack_settings.disconnect(session, principal)


@router.put(
    "/teams/{team_id}/channel", response_model=SlackTeamChannelRead, responses=documented(*_ONE)
)
async def set_team_channel(
    team_id: uuid.UUID, data: SlackChannelSet, session: Session, principal: CanManage
) -> SlackTeamChannelRead:
    """Announce the team's tickets in this channel (the app must be in it)."""
    found = await slack_settings.set_team_channel(session, principal, team_id, data.channel)
    return SlackTeamChannelRead(team_id=found.team_id, channel=found.channel)


@router.get(
    "/teams/{team_id}/channel", response_model=SlackTeamChannelRead, responses=documented(*_ONE)
)
async def get_team_channel(
    team_id: uuid.UUID, session: Session, principal: CanManage
) -> SlackTeamChannelRead:
    found = await slack_settings.team_channel(session, principal, team_id)
    return SlackTeamChannelRead(team_id=found.team_id, channel=found.channel)


@router.delete(
    "/teams/{team_id}/channel",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented(*_ONE),
)
async def remove_team_channel(team_id: uuid.UUID, session: Session, principal: CanManage) -> None:
    await slack_settings.remove_team_channel(session, principal, team_id)


@router.get("/users", response_model=list[SlackUserLinkRead], responses=documented(*_AUTH))
async def list_links(session: Session, principal: CanManage) -> list[SlackUserLinkRead]:
    """Which Slack user each linked member is."""
    links = await slack_settings.links(session, principal)
    return [SlackUserLinkRead.model_validate(link) for link in links]


@router.post(
    "/user-links",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SlackLinkPending,
    responses=documented(*_AUTH, NotAPerson, InvalidSlackLink, SlackUserLinked),
)
async def confirm_link(
    data: SlackUserLinkConfirm, session: Session, principal: Person
) -> SlackLinkPending:
    """Confirm the link Slack offered after a click: you are shown a code, and the link is
    made when the Slack user it was offered to sends that code to the app in a direct
    message (so a link someone else got cannot make their clicks act as you). Their clicks
    then act as you, with your role. The link works once, for a few minutes, in the
    organization it was made for."""
    pending = await slack_links.confirm(session, principal, data.token)
    return SlackLinkPending(
        code=pending.code,
        team_id=pending.team_id,
        slack_user_id=pending.slack_user_id,
        expires_at=pending.expires_at,
        detail=f"To finish, send {pending.code} to the AI Ticket Creator app in Slack, in a "
        "direct message from your own Slack account. Never give this code to anyone.",
    )


@router.delete(
    "/users/{user_id}", status_code=status.HTTP_204_NO_CONTENT, responses=documented(*_ONE)
)
async def unlink_user(user_id: uuid.UUID, session: Session, principal: Person) -> None:
    await slack_settings.unlink_user(session, principal, user_id)


@router.post(
    "/events",
    dependencies=[Depends(public)],
    responses=documented(SlackSignatureInvalid, PayloadTooLarge),
)
async def events(request: Request, session: Session) -> dict[str, str]:
    """Slack's Events API Request URL (public; verified with the signing secret): the URL
    check, and direct messages to the app (`message.im`), read as a link's code."""
    return await flows.event(session, request.headers, await _body(request, "event"))


@router.post(
    "/interactions",
    response_model=SlackAnswer,
    dependencies=[Depends(public)],
    responses=documented(SlackSignatureInvalid, PayloadTooLarge),
)
async def interactions(request: Request, session: Session) -> SlackAnswer:
    """Slack's Interactivity Request URL (public; verified with the signing secret). A click
    acts as the linked member; a Slack user with no link is offered one. The answer is shown
    only to the person who clicked."""
    body = await _body(request, "interaction")
    return await flows.interaction(session, request.headers, body)
