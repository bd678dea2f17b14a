"""The integrations API as users call it: roles, validation, secrets, linking, sync, log."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.integrations.conftest import (
    WEBHOOK_SECRET,
    create_ticket,
    github_installation,
    install,
    jira_installation,
    push,
)
from tests.integrations.fake_vendor import FakeGitHub, FakeJira
from tests.support.factories import Member
from ticketcreator.integrations.models import TicketSync


async def test_providers_list_their_configuration_schema(
    client: httpx.AsyncClient, viewer: Member
) -> None:
    response = await client.get("/v1/integrations/providers", headers=viewer.headers)
    assert response.status_code == 200
    providers = {p["key"]: p for p in response.json()}
    assert set(providers) == {"github", "jira"}
    github = providers["github"]
    assert {"owner", "repo", "auth", "mappings"} <= set(github["config_schema"]["properties"])
    token = github["secrets_schema"]["properties"]["token"]["anyOf"][0]
    assert token["writeOnly"] is True
    assert token["format"] == "password"
    assert "create_issue" in github["capabilities"]
    assert "webhooks" in github["capabilities"]
    assert "attach" in providers["jira"]["capabilities"]
    assert "attach" not in github["capabilities"]
    assert github["default_mappings"]["status_outbound"]["resolved"] == "closed"


async def test_only_admins_install_and_secrets_are_never_returned(
    client: httpx.AsyncClient,
    admin: Member,
    agent: Member,
    viewer: Member,
    fake_github: FakeGitHub,
) -> None:
    body = github_installation(fake_github)
    for member in (agent, viewer):
        denied = await client.post("/v1/integrations", json=body, headers=member.headers)
        assert denied.status_code == 403
    created = await install(client, admin, body)
    assert created["secrets_set"] == ["token", "webhook_secret"]
    assert created["webhook_path"] == f"/v1/integrations/github/webhook/{created['id']}"
    for member in (admin, agent, viewer):
        listing = await client.get("/v1/integrations", headers=member.headers)
        one = await client.get(f"/v1/integrations/{created['id']}", headers=member.headers)
        for response in (listing, one):
            assert response.status_code == 200
            assert FakeGitHub.TOKEN not in response.text
            assert WEBHOOK_SECRET not in response.text
    denied = await client.patch(
        f"/v1/integrations/{created['id']}", json={"enabled": False}, headers=agent.headers
    )
    assert denied.status_code == 403
    log = await client.get(f"/v1/integrations/{created['id']}/log", headers=agent.headers)
    assert log.status_code == 403


@pytest.mark.parametrize(
    ("change", "location"),
    [
        ({"config": {"owner": "acme"}}, "repo"),
        ({"config": {"owner": "a b", "repo": "web"}}, "owner"),
        ({"secrets": {"webhook_secret": "x"}}, "secrets"),
        ({"config": {"owner": "acme", "repo": "web", "auth": "app"}}, ""),
        (
            {
                "config": {
                    "owner": "acme",
                    "repo": "web",
                    "mappings": {"status_outbound": {"open": "open"}, "status_inbound": {}},
                }
            },
            "mappings",
        ),
    ],
)
async def test_invalid_configuration_is_a_problem_naming_the_field(
    client: httpx.AsyncClient,
    admin: Member,
    fake_github: FakeGitHub,
    change: dict[str, object],
    location: str,
) -> None:
    body = {**github_installation(fake_github), **change}
    response = await client.post("/v1/integrations", json=body, headers=admin.headers)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["type"].endswith("integration-invalid-configuration")
    assert any(location in e["location"] for e in problem["errors"]), problem


async def test_unknown_provider_is_404(client: httpx.AsyncClient, admin: Member) -> None:
    body = {"provider": "trello", "name": "x", "config": {}, "secrets": {}}
    response = await client.post("/v1/integrations", json=body, headers=admin.headers)
    assert response.status_code == 404
    assert response.json()["known"] == ["github", "jira"]


async def test_configure_test_connection_and_uninstall(
    client: httpx.AsyncClient, admin: Member, fake_jira: FakeJira
) -> None:
    created = await install(client, admin, jira_installation(fake_jira))
    url = f"/v1/integrations/{created['id']}"
    ok = await client.post(f"{url}/test", headers=admin.headers)
    assert ok.json() == {"ok": True, "account": "Mia Krystof", "error": None}

    wrong = await client.patch(
        url, json={"secrets": {"api_token": "wrong"}, "name": "Renamed"}, headers=admin.headers
    )
    assert wrong.status_code == 200
    assert wrong.json()["name"] == "Renamed"
    assert wrong.json()["secrets_set"] == ["api_token", "webhook_secret"]
    failed = await client.post(f"{url}/test", headers=admin.headers)
    assert failed.json()["ok"] is False
    assert "401" in failed.json()["error"]

    removed = await client.patch(
        url, json={"secrets": {"webhook_secret": None}}, headers=admin.headers
    )
    assert removed.json()["secrets_set"] == ["api_token"]
    bad = await client.patch(url, json={"config": {"project_key": "lower"}}, headers=admin.headers)
    assert bad.status_code == 422

    log = await client.get(f"{url}/log?limit=1", headers=admin.headers)
    assert [e["action"] for e in log.json()["items"]] == ["test_connection"]
    assert log.json()["items"][0]["outcome"] == "failed"
    older = await client.get(
        f"{url}/log", params={"cursor": log.json()["next_cursor"]}, headers=admin.headers
    )
    assert [e["outcome"] for e in older.json()["items"]] == ["ok"]
    garbage = await client.get(f"{url}/log", params={"cursor": "nonsense"}, headers=admin.headers)
    assert garbage.status_code == 422

    assert (await client.delete(url, headers=admin.headers)).status_code == 204
    assert (await client.get(url, headers=admin.headers)).status_code == 404


async def test_link_existing_issue_then_sync_now(
    client: httpx.AsyncClient,
    admin: Member,
    agent: Member,
    reporter: Member,
    session: AsyncSession,
    fake_github: FakeGitHub,
) -> None:
    installation = await install(client, admin, github_installation(fake_github))
    other = await create_ticket(client, admin, title="made on GitHub first")
    from tests.integrations.conftest import request

    await request(installation["id"], other["id"])
    assert await push(installation["id"], other["id"]) == "done"  # acme/web#1 exists

    ticket = await create_ticket(client, admin)
    base = f"/v1/integrations/{installation['id']}/tickets/{ticket['key']}"
    missing = await client.post(
        f"{base}/link", json={"external_id": "acme/web#99"}, headers=agent.headers
    )
    assert missing.status_code == 404
    denied = await client.post(
        f"{base}/link", json={"external_id": "acme/web#1"}, headers=reporter.headers
    )
    assert denied.status_code == 403
    taken = await client.post(
        f"{base}/link", json={"external_id": "acme/web#1"}, headers=agent.headers
    )
    assert taken.status_code == 409  # already the other ticket's issue

    fake_github.issues["acme/web#2"] = {
        **fake_github.issues["acme/web#1"],
        "number": 2,
        "title": "Reported on GitHub",
        "body": "Their words",
    }
    fake_github.comments["acme/web#2"] = []
    linked = await client.post(
        f"{base}/link", json={"external_id": "acme/web#2"}, headers=agent.headers
    )
    assert linked.status_code == 201, linked.text
    assert linked.json()["url"].endswith("/acme/web/issues/1")  # as the vendor reports it
    again = await client.post(
        f"{base}/link", json={"external_id": "acme/web#2"}, headers=agent.headers
    )
    assert again.status_code == 409

    # linking keeps the issue's words; a later change goes out
    assert fake_github.issues["acme/web#2"]["body"] == "Their words"
    await client.post(
        f"/v1/tickets/{ticket['key']}/comments", json={"body": "Looking"}, headers=agent.headers
    )
    queued = await client.post(f"{base}/sync", headers=agent.headers)
    assert queued.status_code == 202
    assert queued.json()["ticket_id"] == ticket["id"]
    assert await push(installation["id"], ticket["id"]) == "done"
    assert "Looking" in fake_github.comments["acme/web#2"][0]["body"]
    assert fake_github.issues["acme/web#2"]["body"] == "Their words"
    view = await client.get(
        f"/v1/integrations/tickets/{ticket['key']}/links", headers=reporter.headers
    )
    assert view.status_code == 404  # not the reporter's ticket
    view = await client.get(
        f"/v1/integrations/tickets/{ticket['key']}/links", headers=agent.headers
    )
    assert [link["external_id"] for link in view.json()["links"]] == ["acme/web#2"]
    assert view.json()["syncs"][0]["requested_at"] is None

    disabled = await client.patch(
        f"/v1/integrations/{installation['id']}", json={"enabled": False}, headers=admin.headers
    )
    assert disabled.status_code == 200
    refused = await client.post(f"{base}/sync", headers=agent.headers)
    assert refused.status_code == 409


async def test_sync_ticket_for_routing_rules_is_tenant_checked(
    client: httpx.AsyncClient, admin: Member, outsider: Member, fake_github: FakeGitHub
) -> None:
    from ticketcreator.core.db import session_factory
    from ticketcreator.core.errors import NotFound
    from ticketcreator.integrations import flows

    installation = await install(client, admin, github_installation(fake_github))
    foreign = await create_ticket(client, outsider)
    own = await create_ticket(client, admin)
    async with session_factory()() as db:
        with pytest.raises(NotFound):
            await flows.sync_ticket(db, uuid.UUID(installation["id"]), uuid.UUID(foreign["id"]))
        await flows.sync_ticket(db, uuid.UUID(installation["id"]), uuid.UUID(own["id"]))
        await db.commit()
        job = await db.get(TicketSync, (await _job_id(db, own["id"])))
        assert job is not None
        assert job.requested_at is not None


async def _job_id(db: AsyncSession, ticket_id: str) -> uuid.UUID:
    from sqlalchemy import select

    found = await db.scalar(
        select(TicketSync.id).where(TicketSync.ticket_id == uuid.UUID(ticket_id))
    )
    assert found is not None
    return found


async def test_webhook_for_unknown_installation_or_without_secret(
    client: httpx.AsyncClient, admin: Member, fake_github: FakeGitHub
) -> None:
    unknown = await client.post(f"/v1/integrations/github/webhook/{uuid.uuid4()}", content=b"{}")
    assert unknown.status_code == 404
    body = github_installation(fake_github)
    body["secrets"] = {"token": FakeGitHub.TOKEN}
    installation = await install(client, admin, body)
    url = f"/v1/integrations/github/webhook/{installation['id']}"
    no_secret = await client.post(url, content=b"{}", headers={"X-Hub-Signature-256": "sha256=00"})
    assert no_secret.status_code == 401
    wrong_vendor = await client.post(
        f"/v1/integrations/jira/webhook/{installation['id']}", content=b"{}"
    )
    assert wrong_vendor.status_code == 404
