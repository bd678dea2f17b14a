"""REST API of notification preferences (`/v1/me/...`, `/v1/organization/...`) and the
public one-click unsubscribe link of e-mails (`/v1/notifications/unsubscribe`)."""

from __future__ import annotations

from html import escape
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from fastapi.responses import HTMLResponse

from ticketcreator.accounts.auth import Authorizer, Principal
from ticketcreator.accounts.permissions import Permission
from ticketcreator.core.db import UnitOfWorkRoute
from ticketcreator.core.deps import Session, public
from ticketcreator.core.errors import Forbidden, Unauthorized, UnprocessableEntity, documented
from ticketcreator.notifications import preferences, unsubscribe
from ticketcreator.notifications.errors import InvalidUnsubscribeLink
from ticketcreator.notifications.preference_schemas import (
    NotificationPreferences,
    NotificationPreferencesRead,
)

Person = Annotated[Principal, Depends(Authorizer(Permission.ACCOUNT_SELF))]
ConfigReader = Annotated[Principal, Depends(Authorizer(Permission.CONFIG_READ))]
ConfigManager = Annotated[Principal, Depends(Authorizer(Permission.CONFIG_MANAGE))]
_AUTH = (Unauthorized, Forbidden)
Token = Annotated[str, Query(max_length=200, description="From the e-mail's unsubscribe link.")]

router = APIRouter(tags=["notification preferences"], route_class=UnitOfWorkRoute)


@router.get(
    "/me/notification-preferences",
    response_model=NotificationPreferencesRead,
    responses=documented(*_AUTH),
)
async def get_my_preferences(session: Session, principal: Person) -> NotificationPreferencesRead:
    """The preferences that apply to you: your own, else your organization's defaults."""
    return await preferences.get_mine(session, principal)


@router.put(
    "/me/notification-preferences",
    response_model=NotificationPreferencesRead,
    responses=documented(*_AUTH, UnprocessableEntity),
)
async def put_my_preferences(
    data: NotificationPreferences, session: Session, principal: Person
) -> NotificationPreferencesRead:
    """Set which ticket events reach you, on which channels, your quiet hours (held until
    they end, in your time zone) and whether changes come as a digest."""
    return await preferences.put_mine(session, principal, data)


@router.delete(
    "/me/notification-preferences/unsubscribe-links",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented(*_AUTH),
)
async def revoke_unsubscribe_links(session: Session, principal: Person) -> None:
    """Make the unsubscribe links of every e-mail sent to you so far invalid."""
    await preferences.revoke_links(session, principal)


@router.get(
    "/organization/notification-preferences",
    response_model=NotificationPreferencesRead,
    responses=documented(*_AUTH),
)
async def get_organization_preferences(
    session: Session, principal: ConfigReader
) -> NotificationPreferencesRead:
    """The defaults of members who set no preferences of their own."""
    return await preferences.get_organization(session, principal)


@router.put(
    "/organization/notification-preferences",
    response_model=NotificationPreferencesRead,
    responses=documented(*_AUTH, UnprocessableEntity),
)
async def put_organization_preferences(
    data: NotificationPreferences, session: Session, principal: ConfigManager
) -> NotificationPreferencesRead:
    """Set the defaults of members who set no preferences of their own."""
    return await preferences.put_organization(session, principal, data)


def _page(title: str, body: str) -> HTMLResponse:
    html = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head><body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(
        html, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    )


@router.get(
    "/notifications/unsubscribe",
    dependencies=[Depends(public)],
    response_class=HTMLResponse,
    summary="The page an e-mail's unsubscribe link opens (HTML); opening it changes nothing",
    description="A button that POSTs to this address. Link scanners that open every link "
    "in an e-mail therefore unsubscribe nobody.",
    responses={200: {"content": {"text/html": {}}, "description": "The page."}},
)
async def unsubscribe_page(token: Token) -> HTMLResponse:
    form = (
        f'<form method="post" action="?token={escape(token, quote=True)}">'
        '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Stop e-mail notifications</button></form>'
    )
    return _page("Stop e-mail notifications?", form)


@router.post(
    "/notifications/unsubscribe",
    dependencies=[Depends(public)],
    response_class=HTMLResponse,
    summary="Turn e-mail notifications off, without signing in (RFC 8058 one-click)",
    description="Mail clients POST `List-Unsubscribe=One-Click` here; the signed token names "
    "the member and organization. A revoked or forged token answers 404.",
    responses={
        200: {"content": {"text/html": {}}, "description": "Unsubscribed."},
        **documented(InvalidUnsubscribeLink),
    },
)
async def unsubscribe_one_click(token: Token, session: Session) -> HTMLResponse:
    found = unsubscribe.read(token)
    if found is None or not await preferences.stop_email(
        session, found.organization_id, found.user_id, found.version
    ):
        raise InvalidUnsubscribeLink("This unsubscribe link is not valid, or no longer.")
    return _page(
        "You will no longer receive e-mail notifications",
        "<p>Change this any time in your notification preferences.</p>",
    )
