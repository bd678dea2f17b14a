"""Tenant isolation: every resource route answers 404 to another organization.

The test walks the app's routes. Each route with a path parameter is called by the owner of
organization B with identifiers of real objects of organization A, and must answer 404
problem+json; the same call by A's owner must then not be 404 (the object exists, and B's
call did not remove it). A new route whose parameter or body is unknown here fails the test,
so no resource route can skip the check.
"""

from __future__ import annotations

import base64
import functools
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.dependencies.utils import get_flat_dependant
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories import Member, create_member
from ticketcreator.accounts.permissions import Role
from ticketcreator.main import create_app

TUS = {"Tus-Resumable": "1.0.0"}
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)

# Routes that identify their object by something other than the caller's organization.
NOT_TENANT_SCOPED = {
    # A signed link is its own authorization (HMAC over the attachment and expiry).
    ("GET", "/v1/signed/attachments/{attachment_id}/{variant}"),
    # Vendor webhooks: the installation's webhook secret is the authorization.
    ("POST", "/v1/integrations/{provider}/webhook/{installation_id}"),
}

# A valid body for each route that needs one (validation would otherwise answer 422).
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/attachments/{attachment_id}/signed-urls"): {"variant": "original"},
    ("PATCH", "/v1/members/{user_id}"): {"role": "viewer"},
    ("PATCH", "/v1/tickets/{ticket_ref}"): {"title": "Renamed by someone else"},
    ("PUT", "/v1/tickets/{ticket_ref}/assignee"): {"assignee_id": "{user_id}"},
    ("POST", "/v1/tickets/{ticket_ref}/tags"): {"tags": ["cross-tenant"]},
    ("POST", "/v1/tickets/{ticket_ref}/comments"): {"body": "hello from elsewhere"},
    ("PATCH", "/v1/tickets/{ticket_ref}/comments/{comment_id}"): {"body": "edited elsewhere"},
    ("POST", "/v1/tickets/{ticket_ref}/links"): {
        "provider": "github",
        "external_id": "acme/web#2",
        "url": "https://github.com/acme/web/issues/2",
    },
    ("PATCH", "/v1/categories/{category_id}"): {"name": "Renamed"},
    ("PATCH", "/v1/teams/{team_id}"): {"name": "Renamed"},
    ("PATCH", "/v1/custom-fields/{field_id}"): {"label": "Renamed"},
    ("PATCH", "/v1/integrations/{installation_id}"): {"name": "Renamed"},
    ("POST", "/v1/integrations/{installation_id}/tickets/{ticket_ref}/link"): {
        "external_id": "acme/web#1"
    },
    ("PATCH", "/v1/routing/rules/{rule_id}"): {"name": "Renamed"},
    ("PUT", "/v1/routing/teams/{team_id}/strategy"): {"strategy": "skills"},
    ("PATCH", "/v1/routing/agents/{user_id}"): {"availability": "off"},
    ("PUT", "/v1/routing/agents/{user_id}/skills"): {"skills": []},
    ("PATCH", "/v1/routing/calendars/{calendar_id}"): {"name": "Renamed"},
    ("PATCH", "/v1/routing/sla-policies/{policy_id}"): {"name": "Renamed"},
    ("PATCH", "/v1/webhooks/{webhook_id}"): {"description": "Renamed"},
    ("PUT", "/v1/slack/teams/{team_id}/channel"): {"channel": "C0ELSEWHERE"},
}

# Headers a route needs to get past protocol checks to the lookup.
HEADERS: dict[tuple[str, str], dict[str, str]] = {
    ("HEAD", "/v1/uploads/{upload_id}"): TUS,
    ("DELETE", "/v1/uploads/{upload_id}"): TUS,
    ("PATCH", "/v1/uploads/{upload_id}"): {
        **TUS,
        "Content-Type": "application/offset+octet-stream",
        "Upload-Offset": "0",
    },
}
CONTENT: dict[tuple[str, str], bytes] = {("PATCH", "/v1/uploads/{upload_id}"): b"\x1a\x45"}


@dataclass
class World:
    """Objects of organization A, created through the API by A's owner."""

    client: httpx.AsyncClient
    a: Member
    a_agent: Member
    ids: dict[str, str] = field(default_factory=dict)

    async def post(self, path: str, **kwargs: Any) -> dict[str, Any]:
        response = await self.client.post(path, headers=self.a.headers, **kwargs)
        assert response.status_code in (200, 201), f"{path}: {response.text}"
        body: dict[str, Any] = response.json()
        return body


Factory = Callable[[World], Awaitable[str]]


async def _ticket(world: World) -> str:
    return str((await world.post("/v1/tickets", json={"title": "A's private ticket"}))["id"])


async def _comment(world: World) -> str:
    ticket = await _param(world, "ticket_ref")
    comment = await world.post(f"/v1/tickets/{ticket}/comments", json={"body": "private"})
    return str(comment["id"])


async def _link(world: World) -> str:
    ticket = await _param(world, "ticket_ref")
    link = await world.post(
        f"/v1/tickets/{ticket}/links",
        json={
            "provider": "jira",
            "external_id": "ACME-1",
            "url": "https://acme.atlassian.net/browse/ACME-1",
        },
    )
    return str(link["id"])


async def _tag_name(world: World) -> str:
    ticket = await _param(world, "ticket_ref")
    await world.post(f"/v1/tickets/{ticket}/tags", json={"tags": ["private-tag"]})
    return "private-tag"


async def _tag_id(world: World) -> str:
    return str((await world.post("/v1/tags", json={"name": "a-only"}))["id"])


async def _user(world: World) -> str:
    return str(world.a_agent.user.id)


async def _category(world: World) -> str:
    body = {"name": "Billing", "description": "Invoices and payments"}
    return str((await world.post("/v1/categories", json=body))["id"])


async def _team(world: World) -> str:
    return str((await world.post("/v1/teams", json={"name": "Tier 1"}))["id"])


async def _field(world: World) -> str:
    body = {"key": "plan", "label": "Plan", "type": "text"}
    return str((await world.post("/v1/custom-fields", json=body))["id"])


async def _invitation(world: World) -> str:
    body = {"email": "new.agent@example.com", "role": "agent"}
    return str((await world.post("/v1/invitations", json=body))["id"])


async def _api_key(world: World) -> str:
    body = {"name": "extension", "scopes": ["captures:write"]}
    return str((await world.post("/v1/api-keys", json=body))["id"])


async def _organization(world: World) -> str:
    return str(world.a.org_id)


async def _attachment(world: World) -> str:
    files = {"file": ("shot.png", PNG, "image/png")}
    return str((await world.post("/v1/attachments", files=files))["id"])


async def _upload(world: World) -> str:
    response = await world.client.post(
        "/v1/uploads", headers={**world.a.headers, **TUS, "Upload-Length": "100"}
    )
    assert response.status_code == 201, response.text
    return response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]


async def _derivative(world: World) -> str:
    """A thumbnail of A's screenshot, made by the same processing the worker runs."""
    from ticketcreator.attachments import processing
    from ticketcreator.core.db import commit, session_factory
    from ticketcreator.storage import get_storage

    attachment_id = uuid.UUID(await _param(world, "attachment_id"))
    async with session_factory()() as db:
        await processing.start(db, attachment_id)
        await processing.process(db, get_storage(), attachment_id)
        await commit(db)
    return "thumbnail"


async def _suggestion(world: World) -> str:
    """A pending AI suggestion on A's ticket: the triage service with every field held back."""
    from ticketcreator.ai.triage import service as triage
    from ticketcreator.core.db import commit, session_factory

    await _param(world, "category_id")
    held_back = {"confidence_threshold": 1.0}
    config = await world.client.patch(
        "/v1/ai/config",
        headers=world.a.headers,
        json={"agents": {"categorization": held_back, "priority": held_back}},
    )
    assert config.status_code == 200, config.text
    ticket = await _param(world, "ticket_ref")
    async with session_factory()() as db:
        await triage.triage(db, uuid.UUID(ticket))
        await commit(db)
    view = await world.client.get(f"/v1/tickets/{ticket}/ai", headers=world.a.headers)
    suggestions = view.json()["suggestions"]
    assert suggestions, view.text
    return str(suggestions[0]["id"])


async def _capture(world: World) -> str:
    attachment = await _param(world, "attachment_id")
    body = {
        "kind": "screenshot",
        "attachment_ids": [attachment],
        "page_url": "https://app.example.com/billing",
        "page_title": "Billing",
        "ticket": {"description": "The invoice page is blank."},
    }
    return str((await world.post("/v1/captures", json=body))["id"])


async def _extracted(world: World, attachment_id: str) -> None:
    """Process the attachment and extract its text as the worker would."""
    from ticketcreator.attachments import processing
    from ticketcreator.core.db import commit, session_factory
    from ticketcreator.storage import get_storage
    from ticketcreator.transcripts import flows

    attachment = uuid.UUID(attachment_id)
    async with session_factory()() as db:
        await processing.start(db, attachment)
        await commit(db)
    async with session_factory()() as db:
        await processing.process(db, get_storage(), attachment)
        await commit(db)
    async with session_factory()() as db:
        await flows.extract(db, get_storage(), attachment)
        await commit(db)


async def _screenshot_text(world: World) -> None:
    await _param(world, "capture_id")
    await _extracted(world, world.ids["attachment_id"])


async def _silent_recording(world: World) -> None:
    """A captured tab recording without an audio track: its transcript is empty, with a reason."""
    import subprocess
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as scratch:
        webm = Path(scratch) / "silent.webm"
        subprocess.run(
            ["ffmpeg", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-t", "1",
             "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", str(webm)],
            check=True, capture_output=True,
        )  # fmt: skip
        files = {"file": ("silent.webm", webm.read_bytes(), "video/webm")}
        recording = str((await world.post("/v1/attachments", files=files))["id"])
    body = {"kind": "tab_recording", "attachment_ids": [recording], "ticket": {"title": "Tab"}}
    await world.post("/v1/captures", json=body)
    await _extracted(world, recording)
    world.ids["attachment_id"] = recording


async def _event_delivery(world: World) -> str:
    """A dead-lettered delivery of an event of A's organization."""
    from sqlalchemy import select, update

    from ticketcreator.core import events, outbox
    from ticketcreator.core.db import commit, session_factory

    async with session_factory()() as db:
        event_id = events.emit(db, "probe.ping", {}, organization_id=world.a.org_id)
        await commit(db)
    async with session_factory()() as db:
        await db.execute(
            update(outbox.ProcessedEvent)
            .where(outbox.ProcessedEvent.event_id == event_id)
            .values(state="dead", last_error="OSError: gone")
        )
        await db.commit()
        delivery = await db.scalar(
            select(outbox.ProcessedEvent.id).where(outbox.ProcessedEvent.event_id == event_id)
        )
    assert delivery is not None
    return str(delivery)


async def _installation(world: World) -> str:
    """A GitHub installation pointing at a closed port (calls to it fail fast)."""
    body = {
        "provider": "github",
        "name": "A's repository",
        "base_url": "http://127.0.0.1:9",
        "config": {"owner": "acme", "repo": "web"},
        "secrets": {"token": "a-token", "webhook_secret": "a-secret"},
    }
    return str((await world.post("/v1/integrations", json=body))["id"])


async def _provider(world: World) -> str:
    return "github"


async def _rule(world: World) -> str:
    body = {"name": "A's rule", "actions": [{"type": "add_tags", "tags": ["a-rule"]}]}
    return str((await world.post("/v1/routing/rules", json=body))["id"])


async def _calendar(world: World) -> str:
    body = {"name": "A's hours", "timezone": "Europe/Berlin", "hours": {"0": [["09:00", "17:00"]]}}
    return str((await world.post("/v1/routing/calendars", json=body))["id"])


async def _policy(world: World) -> str:
    body = {"name": "A's SLA", "targets": [{"priority": "normal", "resolution_minutes": 60}]}
    return str((await world.post("/v1/routing/sla-policies", json=body))["id"])


async def _webhook(world: World) -> str:
    # A public address literal: no DNS lookup, and allowed by the SSRF check.
    body = {"url": "https://93.184.215.14/hooks", "event_types": ["ticket.created"]}
    return str((await world.post("/v1/webhooks", json=body))["id"])


async def _delivery(world: World) -> str:
    """A delivery of a ticket event to A's endpoint, recorded as the worker records it."""
    from ticketcreator.core.db import commit, session_factory, utcnow
    from ticketcreator.notifications import webhooks

    await _param(world, "webhook_id")
    message = {
        "id": str(uuid.uuid4()),
        "topic": "ticket.created",
        "organization_id": str(world.a.org_id),
        "occurred_at": utcnow().isoformat(),
        "payload": {"ticket_id": str(uuid.uuid4())},
    }
    async with session_factory()() as db:
        [delivery_id] = await webhooks.record(db, message)
        await commit(db)
    return str(delivery_id)


FACTORIES: dict[str, Factory] = {
    "ticket_ref": _ticket,
    "comment_id": _comment,
    "link_id": _link,
    "tag_name": _tag_name,
    "tag_id": _tag_id,
    "user_id": _user,
    "category_id": _category,
    "team_id": _team,
    "field_id": _field,
    "invitation_id": _invitation,
    "api_key_id": _api_key,
    "organization_id": _organization,
    "attachment_id": _attachment,
    "upload_id": _upload,
    "name": _derivative,
    "suggestion_id": _suggestion,
    "capture_id": _capture,
    "event_delivery_id": _event_delivery,
    "installation_id": _installation,
    "provider": _provider,
    "rule_id": _rule,
    "calendar_id": _calendar,
    "policy_id": _policy,
    "webhook_id": _webhook,
    "delivery_id": _delivery,
}


async def _deleted_ticket(world: World) -> None:
    response = await world.client.delete(
        f"/v1/tickets/{world.ids['ticket_ref']}", headers=world.a.headers
    )
    assert response.status_code == 204, response.text


async def _watching(world: World) -> None:
    response = await world.client.put(
        f"/v1/tickets/{world.ids['ticket_ref']}/watchers/{world.ids['user_id']}",
        headers=world.a.headers,
    )
    assert response.status_code in (200, 201, 204), response.text


async def _team_member(world: World) -> None:
    response = await world.client.put(
        f"/v1/teams/{world.ids['team_id']}/members/{world.ids['user_id']}",
        headers=world.a.headers,
    )
    assert response.status_code in (200, 201, 204), response.text


async def _slack_team_channel(world: World) -> None:
    response = await world.client.put(
        f"/v1/slack/teams/{world.ids['team_id']}/channel",
        headers=world.a.headers,
        json={"channel": "C0TEAMCHAN"},
    )
    assert response.status_code == 200, response.text


async def _slack_user(world: World) -> None:
    """A's member linked to a Slack user (as confirming a link Slack offered stores it)."""
    from ticketcreator.core.db import commit, session_factory
    from ticketcreator.notifications.models import SlackUserLink

    async with session_factory()() as db:
        db.add(
            SlackUserLink(
                organization_id=world.a.org_id,
                user_id=uuid.UUID(world.ids["user_id"]),
                slack_team_id="T0TEAM001",
                slack_user_id="U0LINKED01",
            )
        )
        await commit(db)


# State an object must be in for its owner's call to succeed (run after the factories).
PREPARE: dict[tuple[str, str], Callable[[World], Awaitable[None]]] = {
    ("GET", "/v1/attachments/{attachment_id}/ocr"): _screenshot_text,
    ("GET", "/v1/attachments/{attachment_id}/transcript"): _silent_recording,
    ("GET", "/v1/attachments/{attachment_id}/transcript.vtt"): _silent_recording,
    ("GET", "/v1/attachments/{attachment_id}/transcript.srt"): _silent_recording,
    ("POST", "/v1/tickets/{ticket_ref}/restore"): _deleted_ticket,
    ("DELETE", "/v1/tickets/{ticket_ref}/watchers/{user_id}"): _watching,
    ("DELETE", "/v1/teams/{team_id}/members/{user_id}"): _team_member,
    ("GET", "/v1/slack/teams/{team_id}/channel"): _slack_team_channel,
    ("DELETE", "/v1/slack/teams/{team_id}/channel"): _slack_team_channel,
    ("DELETE", "/v1/slack/users/{user_id}"): _slack_user,
}


async def _param(world: World, name: str) -> str:
    if name not in world.ids:
        world.ids[name] = await FACTORIES[name](world)
    return world.ids[name]


@functools.cache
def _api_routes() -> list[APIRoute]:
    """The app's routes (built once: creating the app takes most of a second)."""
    return [route for route in create_app().routes if isinstance(route, APIRoute)]


def _resource_routes() -> list[tuple[str, str]]:
    routes = []
    for route in _api_routes():
        if "{" in route.path:
            for method in sorted(route.methods):
                if (method, route.path) not in NOT_TENANT_SCOPED:
                    routes.append((method, route.path))
    return routes


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return ids[value[1:-1]]
    if isinstance(value, dict):
        return {key: _fill(item, ids) for key, item in value.items()}
    return value


@pytest.mark.parametrize(("method", "path"), _resource_routes())
async def test_another_organization_gets_404(
    client: httpx.AsyncClient, session: AsyncSession, method: str, path: str
) -> None:
    owner_a = await create_member(session, role=Role.OWNER)
    agent_a = await create_member(session, owner_a.organization, Role.AGENT)
    owner_b = await create_member(session, role=Role.OWNER)
    world = World(client=client, a=owner_a, a_agent=agent_a)

    route = next(r for r in _api_routes() if r.path == path and method in r.methods)
    names = [param.name for param in get_flat_dependant(route.dependant).path_params]
    unknown = [name for name in names if name not in FACTORIES]
    assert not unknown, f"{method} {path}: add a factory for {unknown} to this test"
    needs_body = route.body_field is not None and route.body_field.field_info.is_required()
    if needs_body and (method, path) not in BODIES:
        pytest.fail(f"{method} {path}: add a valid body to BODIES in this test")
    for name in names:
        await _param(world, name)
    if any("{" in str(v) for v in BODIES.get((method, path), {}).values()):
        await _param(world, "user_id")
    prepare = PREPARE.get((method, path))
    if prepare is not None:
        await prepare(world)
    url = path.format(**world.ids)
    body = _fill(BODIES.get((method, path)), world.ids)
    extra = HEADERS.get((method, path), {})
    content = CONTENT.get((method, path))

    async def call(member: Member) -> httpx.Response:
        return await client.request(
            method,
            url,
            json=body if content is None else None,
            content=content,
            headers={**member.headers, **extra},
        )

    foreign = await call(owner_b)
    assert foreign.status_code == 404, f"{method} {url}: {foreign.status_code} {foreign.text}"
    if method != "HEAD":
        assert foreign.headers["content-type"] == "application/problem+json"
    own = await call(owner_a)
    assert own.status_code != 404, f"{method} {url} by its owner: {own.text}"


def test_every_route_parameter_has_a_factory() -> None:
    names = {
        param.name
        for route in _api_routes()
        for param in get_flat_dependant(route.dependant).path_params
    }
    assert names - set(FACTORIES) <= {"variant"}, names - set(FACTORIES)
