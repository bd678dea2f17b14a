"""Notification preferences over the API: a member's own, the organization's defaults, the
errors of a bad document, and unsubscribe links (signed, revocable, public)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories import create_member
from ticketcreator.accounts.permissions import Role
from ticketcreator.notifications import unsubscribe

pytestmark = pytest.mark.usefixtures("database")

MINE = "/v1/me/notification-preferences"
ORGANIZATION = "/v1/organization/notification-preferences"


async def test_members_and_administrators_set_preferences_and_defaults(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await create_member(session, role=Role.ADMIN)
    agent = await create_member(session, admin.organization, Role.AGENT)
    stranger = await create_member(session, role=Role.ADMIN)

    default = (await client.get(MINE, headers=agent.headers)).json()
    assert default == {
        "events": [
            "ticket.created",
            "ticket.updated",
            "ticket.status_changed",
            "ticket.assigned",
            "ticket.commented",
            "ticket.deleted",
            "ticket.restored",
        ],
        "channels": ["email"],
        "quiet_hours": None,
        "time_zone": "UTC",
        "digest": "off",
        "source": "default",
    }
    defaults = {
        "events": ["ticket.assigned", "ticket.commented"],
        "channels": ["email"],
        "quiet_hours": {"start": "22:00", "end": "07:00"},
        "time_zone": "Europe/Berlin",
        "digest": "daily",
    }
    forbidden = await client.put(ORGANIZATION, headers=agent.headers, json=defaults)
    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"] == "application/problem+json"
    saved = await client.put(ORGANIZATION, headers=admin.headers, json=defaults)
    assert saved.status_code == 200, saved.text
    assert saved.json()["quiet_hours"] == {"start": "22:00:00", "end": "07:00:00"}
    # The agent inherits them; another organization does not.
    inherited = (await client.get(MINE, headers=agent.headers)).json()
    assert inherited["source"] == "organization"
    assert inherited["events"] == ["ticket.assigned", "ticket.commented"]
    assert (await client.get(ORGANIZATION, headers=stranger.headers)).json()["source"] == "default"

    own = {"events": ["ticket.commented"], "channels": [], "digest": "hourly"}
    mine = await client.put(MINE, headers=agent.headers, json=own)
    assert mine.status_code == 200, mine.text
    assert mine.json() == {**own, "quiet_hours": None, "time_zone": "UTC", "source": "member"}
    assert (await client.get(ORGANIZATION, headers=agent.headers)).json()["digest"] == "daily"

    for bad, where in (
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"events": ["ticket.exploded"]}, "events"),
        ({"channels": ["carrier-pigeon"]}, "channels"),
        ({"quiet_hours": {"start": "08:00", "end": "08:00"}}, "quiet_hours"),
        ({"digest": "weekly"}, "digest"),
        ({"sound": "loud"}, "sound"),
    ):
        refused = await client.put(MINE, headers=agent.headers, json=bad)
        assert refused.status_code == 422, bad
        assert refused.headers["content-type"] == "application/problem+json"
        assert where in refused.text
    # Nothing was changed by the refused documents.
    assert (await client.get(MINE, headers=agent.headers)).json()["source"] == "member"
    assert (await client.get(MINE, headers=agent.headers)).json()["digest"] == "hourly"


async def test_an_unsubscribe_link_turns_email_off_without_login_until_revoked(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    agent = await create_member(session, role=Role.AGENT)
    token = unsubscribe.token(agent.org_id, agent.user.id, 0)

    page = await client.get("/v1/notifications/unsubscribe", params={"token": token})
    assert page.status_code == 200
    assert '<form method="post"' in page.text
    # Opening the page changed nothing (link scanners open every link).
    assert (await client.get(MINE, headers=agent.headers)).json()["channels"] == ["email"]

    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    other = unsubscribe.token(agent.org_id, uuid.uuid4(), 0)
    for bad in (forged, "nonsense", other.replace(".", "", 1)):
        refused = await client.post("/v1/notifications/unsubscribe", params={"token": bad})
        assert refused.status_code == 404, bad
        assert refused.headers["content-type"] == "application/problem+json"

    done = await client.post(
        "/v1/notifications/unsubscribe",
        params={"token": token},
        data={"List-Unsubscribe": "One-Click"},
    )
    assert done.status_code == 200, done.text
    preferences = (await client.get(MINE, headers=agent.headers)).json()
    assert preferences["channels"] == []
    assert preferences["source"] == "member"

    # Revoked: the old link no longer works, a new one does.
    revoked = await client.delete(f"{MINE}/unsubscribe-links", headers=agent.headers)
    assert revoked.status_code == 204
    stale = await client.post("/v1/notifications/unsubscribe", params={"token": token})
    assert stale.status_code == 404
    fresh = unsubscribe.token(agent.org_id, agent.user.id, 1)
    again = await client.post("/v1/notifications/unsubscribe", params={"token": fresh})
    assert again.status_code == 200
