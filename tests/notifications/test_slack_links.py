"""Linking a member to their Slack user only on Slack's word: the link offered after a signed
click holds a token bound to the workspace, the Slack user and the organization, valid for a
few minutes and once; confirming it shows the member a code, and only that Slack user's
direct message with the code makes the link; anything else is refused with problem+json."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories import create_member
from tests.support.polling import wait_for
from tests.support.services import Worker
from ticketcreator.accounts.permissions import Role
from ticketcreator.core.db import session_factory
from ticketcreator.notifications import slack_links
from ticketcreator.tickets.models import Ticket

from .slack_fake import FakeSlack
from .test_slack import (
    click,
    connect,
    direct_message,
    link,
    offered_link,
    pending_link,
    write_to_app,
)

pytestmark = pytest.mark.usefixtures("database")


async def test_a_link_token_works_once_in_its_own_organization_only(
    client: httpx.AsyncClient,
    session: AsyncSession,
    slack: FakeSlack,
    celery_worker: Worker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin = await create_member(session, role=Role.ADMIN)
    reporter = await create_member(session, admin.organization, Role.REPORTER)
    await connect(client, admin, slack)
    other_admin = await create_member(session, role=Role.ADMIN)  # another organization
    await connect(client, other_admin, slack, signing_secret="another-orgs-signing-secret")

    async def confirm(token: str, headers: dict[str, str]) -> httpx.Response:
        return await client.post("/v1/slack/user-links", headers=headers, json={"token": token})

    def refused(response: httpx.Response, status: int = 400) -> str:
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        detail: str = response.json()["detail"]
        return detail

    # A token made for organization A cannot link in organization B, though B is connected
    # to the same workspace: B's member stays unlinked, and the token still works in A.
    token = await offered_link(client, "U0REPORT1")
    assert "another organization" in refused(await confirm(token, other_admin.headers))
    assert (await client.get("/v1/slack/users", headers=other_admin.headers)).json() == []

    # Forged: another key, an access token of ours, a changed claim, nonsense.
    forged = token.rsplit(".", 1)[0] + ".c2lnbmF0dXJl"
    for bad in (forged, reporter.token, "not-a-token"):
        assert refused(await confirm(bad, reporter.headers)) == "The link is not valid."
    other_org = slack_links.issue(other_admin.org_id, "T0TEAM001", "U0REPORT1")
    head, _, signature = other_org.split(".")
    swapped = ".".join([head, token.split(".")[1], signature])  # A's claims, B's signature
    assert refused(await confirm(swapped, reporter.headers)) == "The link is not valid."

    # Expired: made longer ago than slack.link_ttl_s.
    with monkeypatch.context() as clock:
        clock.setattr(time, "time", lambda: 1_000_000_000.0)
        stale = slack_links.issue(admin.org_id, "T0TEAM001", "U0REPORT1")
    assert "expired" in refused(await confirm(stale, reporter.headers))

    # The reporter confirms once; the same token again is refused, even for the same member.
    confirmed = await confirm(token, reporter.headers)
    assert confirmed.status_code == 202, confirmed.text
    assert confirmed.json()["slack_user_id"] == "U0REPORT1"
    code = confirmed.json()["code"]
    assert "already used" in refused(await confirm(token, reporter.headers))
    assert "already used" in refused(await confirm(token, admin.headers))
    # The link is made by U0REPORT1's direct message with the code, nobody else's.
    assert (await client.get("/v1/slack/users", headers=admin.headers)).json() == []
    await write_to_app(client, "U0SOMEONE", code)
    assert (await client.get("/v1/slack/users", headers=admin.headers)).json() == []
    await write_to_app(client, "U0REPORT1", code)
    listed = (await client.get("/v1/slack/users", headers=admin.headers)).json()
    assert [(e["user_id"], e["slack_user_id"]) for e in listed] == [
        (str(reporter.user.id), "U0REPORT1")
    ]
    await wait_for(lambda: _answered(slack, "Linked"))

    # Linked, the reporter's clicks act only within the reporter's role.
    ticket = (
        await client.post("/v1/tickets", headers=admin.headers, json={"title": "Wi-Fi slow"})
    ).json()
    assign = [{"action_id": "assign_to_me", "type": "button", "value": ticket["id"]}]
    headers, body = click(assign, "U0REPORT1")
    answer = await client.post("/v1/slack/interactions", headers=headers, content=body)
    assert answer.json()["text"] == "Your role may not change tickets."

    # An agent's click before linking does nothing; after linking, the same click acts.
    agent = await create_member(session, admin.organization, Role.AGENT)
    headers, body = click(assign, "U0AGENT02")
    before = await client.post("/v1/slack/interactions", headers=headers, content=body)
    assert "#token=" in before.json()["text"]
    async with session_factory()() as db:
        row = await db.get(Ticket, uuid.UUID(ticket["id"]))
        assert row is not None
        assert row.assignee_id is None
    await link(client, agent, "U0AGENT02")
    headers, body = click(assign, "U0AGENT02")
    after = await client.post("/v1/slack/interactions", headers=headers, content=body)
    assert after.json()["text"] == f"{ticket['key']} is assigned to you."

    # A member unlinks themself; only an administrator unlinks another member.
    assert (
        await client.delete(f"/v1/slack/users/{agent.user.id}", headers=reporter.headers)
    ).status_code == 403
    gone = await client.delete(f"/v1/slack/users/{reporter.user.id}", headers=reporter.headers)
    assert gone.status_code == 204
    listed = (await client.get("/v1/slack/users", headers=admin.headers)).json()
    assert [entry["user_id"] for entry in listed] == [str(agent.user.id)]
    assert slack.violations == []


async def _answered(slack: FakeSlack, start: str) -> bool:
    return any(
        call.form.get("channel") == "D0DIRECT1" and call.form.get("text", "").startswith(start)
        for call in slack.of("chat.postMessage")
    )


async def test_a_link_someone_else_got_cannot_make_their_clicks_act_as_you(
    client: httpx.AsyncClient, session: AsyncSession, slack: FakeSlack, celery_worker: Worker
) -> None:
    """A Slack user hands their link to an administrator, who confirms it: the code is shown
    to the administrator only, the administrator sending it from their own Slack account
    links nothing, and guessing it is cut off after five tries."""
    admin = await create_member(session, role=Role.ADMIN)
    await connect(client, admin, slack)
    pending = await pending_link(client, admin, "U0MALLORY")
    code = pending["code"]
    assert pending["detail"].endswith("Never give this code to anyone.")

    await write_to_app(client, "U0ADMIN01", code)  # the administrator's own Slack user
    await wait_for(lambda: _answered(slack, "No link is waiting"))
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        await write_to_app(client, "U0MALLORY", wrong)
    await write_to_app(client, "U0MALLORY", code)  # too late: the wait was cancelled
    assert (await client.get("/v1/slack/users", headers=admin.headers)).json() == []
    await wait_for(lambda: _answered(slack, "That code is wrong too often"))
    mallory = await client.post(
        "/v1/slack/interactions",
        headers=(signed := click([{"action_id": "open", "type": "button"}], "U0MALLORY"))[0],
        content=signed[1],
    )
    assert "not linked" in mallory.json()["text"]
    assert slack.violations == []


async def test_codes_sent_at_once_each_count_as_a_try(
    client: httpx.AsyncClient, session: AsyncSession, slack: FakeSlack, celery_worker: Worker
) -> None:
    """Eight wrong codes sent together all count, so the right one after them is refused."""
    admin = await create_member(session, role=Role.ADMIN)
    await connect(client, admin, slack)
    code = (await pending_link(client, admin, "U0GUESSER"))["code"]
    wrong = [f"{(int(code) + n) % 10**6:06d}" for n in range(1, 9)]
    await asyncio.gather(*(write_to_app(client, "U0GUESSER", guess) for guess in wrong))
    await write_to_app(client, "U0GUESSER", code)
    assert (await client.get("/v1/slack/users", headers=admin.headers)).json() == []


async def test_the_events_url_answers_slack_s_check_and_refuses_forgeries(
    client: httpx.AsyncClient, session: AsyncSession, slack: FakeSlack
) -> None:
    admin = await create_member(session, role=Role.ADMIN)
    await connect(client, admin, slack)
    check = {"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
             "type": "url_verification"}  # fmt: skip
    answered = await client.post("/v1/slack/events", json=check)
    assert answered.status_code == 200
    assert answered.json() == {"challenge": check["challenge"]}
    headers, body = direct_message("U0ANYONE1", "123456", secret="not-the-signing-secret")
    forged = await client.post("/v1/slack/events", headers=headers, content=body)
    assert forged.status_code == 401
    assert forged.headers["content-type"] == "application/problem+json"
    headers, body = direct_message("U0ANYONE1", "123456", age=301)
    assert (await client.post("/v1/slack/events", headers=headers, content=body)).status_code == 401
    not_json = await client.post(
        "/v1/slack/events", headers={"Content-Type": "application/json"}, content=b"{"
    )
    assert not_json.status_code == 401
