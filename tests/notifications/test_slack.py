"""Slack: a ticket's Block Kit message per channel, posted once and edited as the ticket
changes (without storms), read from a fake Slack that checks every call against Slack's Web
API description; buttons whose requests are verified with the signing secret and act as the
member Slack vouched for, with that member's role, in that member's organization only."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import itertools
import json
import math
import os
import re
import time
import uuid
from typing import Any
from urllib.parse import unquote, urlencode

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories import Member, create_member
from tests.support.polling import wait_for
from tests.support.relay import relay_outbox
from tests.support.services import Worker
from ticketcreator.accounts.permissions import Role
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import session_factory
from ticketcreator.notifications import slack_interactions
from ticketcreator.notifications.rule_actions import NotifySlack, NotifySlackParams
from ticketcreator.tickets.models import Ticket, TicketEvent

from .slack_fake import (
    EVENT_WRAPPER,
    INTERACTION_SAMPLE,
    MESSAGE_SAMPLE,
    FakeSlack,
    check_blocks,
    check_request,
)

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
# Changes in the storm (the figure is 100: SLACK_STORM_CHANGES=100 measures it).
STORM = int(os.environ.get("SLACK_STORM_CHANGES", "25"))


async def connect(
    client: httpx.AsyncClient, admin: Member, slack: FakeSlack, **extra: Any
) -> dict[str, Any]:
    body = {"team_id": slack.team_id, "bot_token": slack.token, "signing_secret": SECRET}
    response = await client.put(
        "/v1/slack/connection", headers=admin.headers, json={**body, **extra}
    )
    assert response.status_code == 200, response.text
    assert slack.token not in response.text
    assert SECRET not in response.text
    result: dict[str, Any] = response.json()
    return result


def click(
    actions: list[dict[str, Any]],
    user: str,
    *,
    secret: str = SECRET,
    team: str = "T0TEAM001",
    age: int = 0,
) -> tuple[dict[str, str], bytes]:
    """A signed ``block_actions`` request, shaped like Slack's SDK sample."""
    payload = copy.deepcopy(INTERACTION_SAMPLE)
    payload["team"]["id"] = team
    payload["trigger_id"] = uuid.uuid4().hex  # each click is a request of its own
    payload["response_url"] = get_settings().slack.webhook_url_prefix + "actions/T0TEAM001/1/a"
    payload["user"].update(id=user, team_id=team)
    payload["actions"] = [{**payload["actions"][0], **action} for action in actions]
    body = urlencode({"payload": json.dumps(payload)}).encode()
    return signed(body, "application/x-www-form-urlencoded", secret, age), body


def signed(body: bytes, content_type: str, secret: str, age: int) -> dict[str, str]:
    """The headers of a request Slack signed ``age`` seconds ago with ``secret``."""
    timestamp = str(int(time.time()) - age)
    digest = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": "v0=" + digest.hexdigest(),
    }


async def test_a_ticket_has_one_message_per_channel_posted_then_edited_without_storms(
    client: httpx.AsyncClient, session: AsyncSession, slack: FakeSlack, celery_worker: Worker
) -> None:
    admin = await create_member(session, role=Role.ADMIN)
    viewer = await create_member(session, admin.organization, Role.VIEWER)
    refused = await client.put(
        "/v1/slack/connection",
        headers=viewer.headers,
        json={"team_id": "T0TEAM001", "bot_token": slack.token},
    )
    assert refused.status_code == 403
    both = {"team_id": "T0TEAM001", "bot_token": slack.token, "webhook_url": slack.webhook_url}
    invalid = await client.put("/v1/slack/connection", headers=admin.headers, json=both)
    assert invalid.status_code == 422
    connection = await connect(client, admin, slack)
    assert (connection["mode"], connection["interactive"]) == ("bot", True)
    team = (await client.post("/v1/teams", headers=admin.headers, json={"name": "Payments"})).json()
    channel = await client.put(
        f"/v1/slack/teams/{team['id']}/channel",
        headers=admin.headers,
        json={"channel": "C0PAYMENTS"},
    )
    assert channel.status_code == 200, channel.text
    read = await client.get(f"/v1/slack/teams/{team['id']}/channel", headers=admin.headers)
    assert read.json() == {"team_id": team["id"], "channel": "C0PAYMENTS"}
    created = await client.post(
        "/v1/tickets",
        headers=admin.headers,
        json={
            "title": "Refund <stuck> & lost",
            "description": "Bank says *no*.",
            "team_id": team["id"],
        },
    )
    assert created.status_code == 201
    ticket = created.json()

    async def posted() -> bool:
        return bool(slack.of("chat.postMessage"))

    await wait_for(posted, what="the ticket's message")
    [post] = slack.of("chat.postMessage")
    assert post.form["channel"] == "C0PAYMENTS"
    header, excerpt, facts, actions = post.blocks
    assert header["text"]["text"] == f"{ticket['key']}: Refund <stuck> & lost"
    assert excerpt["text"]["text"] == "Bank says *no*."
    assert "Refund &lt;stuck&gt; &amp; lost" in post.form["text"]
    status, priority, assignee = (f["text"] for f in facts["fields"])
    assert (status, assignee) == ("*Status*\nOpen", "*Assignee*\n_Unassigned_")
    # The message shows the ticket as it is when sent: the default, or what triage set by then.
    assert priority in {f"*Priority*\n{p}" for p in ("low", "normal", "high", "urgent")}
    assert [e["action_id"] for e in actions["elements"]] == ["assign_to_me", "set_status", "open"]
    assert actions["elements"][2]["url"].endswith(f"/v1/tickets/{ticket['key']}")

    # A storm of changes, while the relay (beat) hands over the edits that were due later.
    relay = asyncio.create_task(relay_outbox())
    started = time.monotonic()
    for n in range(STORM):
        change = {"title": f"Refund stuck, take {n}", "priority": ["low", "high"][n % 2]}
        response = await client.patch(
            f"/v1/tickets/{ticket['id']}", headers=admin.headers, json=change
        )
        assert response.status_code == 200, response.text
    storm_s = time.monotonic() - started

    async def caught_up() -> bool:
        updates = slack.of("chat.update")
        return bool(updates) and updates[-1].blocks[0]["text"]["text"].endswith(f"take {STORM - 1}")

    try:
        await wait_for(caught_up, what="the last change in Slack")
    finally:
        relay.cancel()
    updates = slack.of("chat.update")
    assert len(slack.of("chat.postMessage")) == 1
    ts = (await _message_ts(ticket["id"]))["C0PAYMENTS"]  # the posted message's ts, stored
    assert {(u.form["channel"], u.form["ts"]) for u in updates} == {("C0PAYMENTS", ts)}
    # At most one edit a second (update_interval_s), and one for the end of the burst.
    assert len(updates) <= math.ceil(storm_s) + 2, (len(updates), storm_s)
    gaps = [b.at - a.at for a, b in itertools.pairwise(updates)]
    assert all(gap >= 0.9 for gap in gaps), gaps
    counts = f"1 chat.postMessage, {len(updates)} chat.update"
    print(f"\nslack storm: {STORM} changes in {storm_s:.1f}s -> {counts}")
    assert slack.violations == []
    last = slack.of("chat.update")[-1].blocks[2]["fields"][1]["text"]
    assert last == "*Priority*\n" + ["low", "high"][(STORM - 1) % 2]


async def _message_ts(ticket_id: str) -> dict[str, str]:
    from ticketcreator.notifications.models import SlackMessage

    async with session_factory()() as db:
        rows = await db.scalars(
            select(SlackMessage).where(SlackMessage.ticket_id == uuid.UUID(ticket_id))
        )
        return {row.channel: str(row.ts) for row in rows}


def test_signatures_match_slacks_worked_example() -> None:
    """The example of api.slack.com/authentication/verifying-requests-from-slack."""
    body = (
        "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id="
        "G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook"
        "-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F39770"
        "0885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d"
        "2c447fce8b6703c"
    )
    signature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    assert slack_interactions.sign(SECRET, "1531420618", body.encode()) == signature


def test_the_fake_slack_refuses_what_slack_would_refuse() -> None:
    headers = {"authorization": "Bearer xoxb-1-2-3"}
    kind = "application/x-www-form-urlencoded"
    good = [{"type": "header", "text": {"type": "plain_text", "text": "T-1: Printer"}}]
    form = {"channel": "C0GENERAL", "text": "T-1", "blocks": json.dumps(good)}
    assert check_request("chat.postMessage", headers, kind, form) == []
    assert check_request("chat.update", headers, kind, form) == ["ts is required"]
    assert check_request("chat.postMessage", {}, kind, form) == ["the token is required"]
    unknown = {**form, "colour": "red"}
    assert check_request("chat.postMessage", headers, kind, unknown) == [
        "colour is not a documented argument"
    ]
    long = [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}]
    assert check_request("chat.postMessage", headers, kind, {**form, "blocks": json.dumps(long)})
    assert check_blocks([{"type": "paragraph", "text": "not a block"}])


def test_the_interaction_model_reads_slacks_own_payload_shape() -> None:
    clicked = slack_interactions.parse(INTERACTION_SAMPLE)
    assert clicked.type == "block_actions"
    assert [a.action_id for a in clicked.actions] == [""]


def link_token(answer: str) -> str:
    """The token of the "link your account" link in the answer to a click."""
    [token] = re.findall(r"#token=([^|>]+)", answer)
    return unquote(token)


async def offered_link(client: httpx.AsyncClient, slack_user: str, **signed: Any) -> str:
    """Click as ``slack_user`` (no link yet): the answer offers a link; its token."""
    headers, body = click(
        [{"action_id": "open", "type": "button", "url": "https://example.com"}],
        slack_user,
        **signed,
    )
    answer = await client.post("/v1/slack/interactions", headers=headers, content=body)
    assert answer.status_code == 200, answer.text
    assert "not linked" in answer.json()["text"]
    return link_token(answer.json()["text"])


def direct_message(
    slack_user: str, text: str, *, secret: str = SECRET, team: str = "T0TEAM001", age: int = 0
) -> tuple[dict[str, str], bytes]:
    """A signed Events API request: ``slack_user`` writes ``text`` to the app, shaped like
    Slack's SDK sample of a message event and valid against the Events API's wrapper."""
    payload = copy.deepcopy(MESSAGE_SAMPLE)
    payload.update(type="event_callback", team_id=team, event_id=f"Ev{uuid.uuid4().hex[:10]}")
    payload["api_app_id"] = "A0TICKETS"
    payload["authed_users"] = ["U0APPBOT1"]
    event = payload["event"]
    for key in ("bot_id", "bot_profile", "blocks", "attachments", "subtype"):
        event.pop(key, None)
    event.update(
        type="message", user=slack_user, text=text, team=team, channel="D0DIRECT1",
        channel_type="im", ts=f"{time.time():.6f}", event_ts=f"{time.time():.6f}",
    )  # fmt: skip
    assert not list(EVENT_WRAPPER.iter_errors(payload))
    body = json.dumps(payload).encode()
    return signed(body, "application/json", secret, age), body


async def pending_link(
    client: httpx.AsyncClient, member: Member, slack_user: str, **signed: Any
) -> dict[str, Any]:
    """A click in Slack as ``slack_user`` is answered with a link, which ``member`` opens
    signed in and confirms: the pending link, with the code the member is shown."""
    token = await offered_link(client, slack_user, **signed)
    confirmed = await client.post(
        "/v1/slack/user-links", headers=member.headers, json={"token": token}
    )
    assert confirmed.status_code == 202, confirmed.text
    pending: dict[str, Any] = confirmed.json()
    assert pending["slack_user_id"] == slack_user
    return pending


async def write_to_app(
    client: httpx.AsyncClient, slack_user: str, text: str, **signed: Any
) -> None:
    """``slack_user`` sends ``text`` to the app in a direct message."""
    headers, body = direct_message(slack_user, text, **signed)
    sent = await client.post("/v1/slack/events", headers=headers, content=body)
    assert sent.status_code == 200, sent.text


async def link(
    client: httpx.AsyncClient, member: Member, slack_user: str, **signed: Any
) -> dict[str, Any]:
    """Link ``member`` to ``slack_user`` as a person does: the member confirms the link a
    click offered (:func:`pending_link`); the Slack user then sends the member's code."""
    pending = await pending_link(client, member, slack_user, **signed)
    await write_to_app(client, slack_user, pending["code"], **signed)
    return {
        "user_id": str(member.user.id),
        "team_id": pending["team_id"],
        "slack_user_id": pending["slack_user_id"],
    }


async def test_buttons_act_as_the_linked_member_and_nothing_else_gets_through(
    client: httpx.AsyncClient, session: AsyncSession, slack: FakeSlack, celery_worker: Worker
) -> None:
    admin = await create_member(session, role=Role.ADMIN)
    agent = await create_member(session, admin.organization, Role.AGENT)
    viewer = await create_member(session, admin.organization, Role.VIEWER)
    await connect(client, admin, slack)
    other_admin = await create_member(session, role=Role.ADMIN)  # another organization
    await connect(client, other_admin, slack, signing_secret="another-orgs-signing-secret")
    ticket = (
        await client.post("/v1/tickets", headers=admin.headers, json={"title": "VPN drops"})
    ).json()
    assign = [{"action_id": "assign_to_me", "type": "button", "value": ticket["id"]}]

    async def post(request: tuple[dict[str, str], bytes]) -> httpx.Response:
        headers, body = request
        return await client.post("/v1/slack/interactions", headers=headers, content=body)

    # Before Slack vouched for them, a Slack user's click changes nothing: it is answered
    # with a link to their account.
    early = await post(click(assign, "U0AGENT01"))
    assert early.status_code == 200
    assert "nothing changed" in early.json()["text"]
    second_token = link_token(early.json()["text"])
    linked = await link(client, agent, "U0AGENT01")
    assert linked == {
        "user_id": str(agent.user.id),
        "team_id": "T0TEAM001",
        "slack_user_id": "U0AGENT01",
    }
    await link(client, viewer, "U0VIEWER1")
    taken = await client.post(
        "/v1/slack/user-links", headers=admin.headers, json={"token": second_token}
    )
    assert taken.status_code == 409
    assert taken.headers["content-type"] == "application/problem+json"

    # Forged, old and replayed requests are refused before anything is read.
    huge = await client.post(
        "/v1/slack/interactions", headers=click(assign, "U0AGENT01")[0], content=b"x" * 2**21
    )
    assert huge.status_code == 413
    forged = await post(click(assign, "U0AGENT01", secret="not-the-signing-secret"))
    old = await post(click(assign, "U0AGENT01", age=301))
    assert (forged.status_code, old.status_code) == (401, 401)
    assert forged.json()["type"].endswith("invalid-slack-signature")
    unknown = await post(click(assign, "U0NOBODY1"))
    assert unknown.status_code == 200
    assert "not linked" in unknown.json()["text"]
    refused = await post(click(assign, "U0VIEWER1"))
    assert refused.json()["text"] == "Your role may not change tickets."

    request = click(assign, "U0AGENT01")
    accepted = await post(request)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json() == {
        "response_type": "ephemeral",
        "replace_original": False,
        "text": f"{ticket['key']} is assigned to you.",
    }
    assert (await post(request)).status_code == 401  # the same request again: a replay
    status = [
        {
            "action_id": "set_status",
            "type": "static_select",
            "selected_option": {
                "text": {"type": "plain_text", "text": "x"},
                "value": f"{ticket['id']}:in_progress",
            },
        }
    ]
    moved = await post(click(status, "U0AGENT01"))
    assert moved.json()["text"] == f"{ticket['key']} is now in_progress."
    closing = [{**status[0], "selected_option": {"value": f"{ticket['id']}:closed"}}]
    wrong = await post(click(closing, "U0AGENT01"))  # in progress -> closed: not allowed
    assert wrong.json()["text"].startswith("Nothing changed:")

    # A member of another organization, verified with that organization's secret, reaches
    # only that organization: the ticket is not found there.
    outsider = await create_member(session, other_admin.organization, Role.AGENT)
    await link(client, outsider, "U0OUTSIDE", secret="another-orgs-signing-secret")
    elsewhere = await post(click(assign, "U0OUTSIDE", secret="another-orgs-signing-secret"))
    assert elsewhere.json()["text"].startswith("Nothing changed: No ticket")

    listed = await client.get("/v1/slack/users", headers=admin.headers)
    assert {(link["user_id"], link["slack_user_id"]) for link in listed.json()} == {
        (str(agent.user.id), "U0AGENT01"),
        (str(viewer.user.id), "U0VIEWER1"),
    }

    # Slack shows each answer only through the click's response_url.
    async def answered() -> list[str] | None:
        texts = [call.form["text"] for call in slack.of("response")]
        return texts if len(texts) >= 6 else None

    texts = await wait_for(answered, what="the answers in Slack")
    assert {unknown.json()["text"], "Your role may not change tickets."} <= set(texts)
    assert {call.form["response_type"] for call in slack.of("response")} == {"ephemeral"}
    assert slack.violations == []
    removed = await client.delete("/v1/slack/connection", headers=admin.headers)
    assert removed.status_code == 204
    assert (await post(click(assign, "U0AGENT01", team="T0TEAM001"))).status_code == 401
    async with session_factory()() as db:
        row = await db.get(Ticket, uuid.UUID(ticket["id"]))
        assert row is not None
        assert (row.assignee_id, row.status.value) == (agent.user.id, "in_progress")
        changes = await db.scalars(
            select(TicketEvent).where(
                TicketEvent.ticket_id == row.id, TicketEvent.kind != "created"
            )
        )
        assert {(e.kind, e.actor_user_id, e.actor_kind.value) for e in changes} == {
            ("assigned", agent.user.id, "user"),
            ("status_changed", agent.user.id, "user"),
        }


async def test_slack_rate_limits_and_refusals_reach_the_connection_health(
    client: httpx.AsyncClient, session: AsyncSession, slack: FakeSlack, celery_worker: Worker
) -> None:
    admin = await create_member(session, role=Role.ADMIN)
    rule = {"name": "To Slack", "actions": [{"type": "notify_slack", "channel": "C0INCIDENT"}]}
    not_connected = await client.post("/v1/routing/rules", headers=admin.headers, json=rule)
    assert not_connected.status_code == 422
    assert not_connected.json()["field"] == "actions[0].channel"
    await connect(client, admin, slack)
    bad = {"name": "Bad", "actions": [{"type": "notify_slack", "channel": "#incidents"}]}
    assert (
        await client.post("/v1/routing/rules", headers=admin.headers, json=bad)
    ).status_code == 422
    saved = await client.post("/v1/routing/rules", headers=admin.headers, json=rule)
    assert saved.status_code == 201, saved.text

    slack.answers = [(429, {"Retry-After": "1"}, None)]
    first = (
        await client.post("/v1/tickets", headers=admin.headers, json={"title": "Disk full"})
    ).json()
    second = (
        await client.post("/v1/tickets", headers=admin.headers, json={"title": "CPU hot"})
    ).json()
    action = NotifySlack()
    async with session_factory()() as db:
        for ticket in (first, second):
            row = await db.get(Ticket, uuid.UUID(ticket["id"]))
            assert row is not None
            await action.execute(
                db, row, NotifySlackParams(channel="C0INCIDENT"), {"rule": "To Slack"}
            )
        await db.commit()
    relay = asyncio.create_task(relay_outbox())

    async def both_posted() -> bool:
        return len(slack.of("chat.postMessage")) == 2

    try:
        await wait_for(both_posted, what="both messages after the 429")
    finally:
        relay.cancel()
    limited = [c for c in slack.calls if c.status == 429]
    assert len(limited) == 1
    # Once Slack answered 429, nothing is sent before Retry-After (a call already on its way
    # when Slack answered may arrive just after).
    gaps = [c.at - limited[0].at for c in slack.of("chat.postMessage")]
    assert all(gap < 0.1 or gap >= 0.9 for gap in gaps), gaps
    assert any(gap >= 0.9 for gap in gaps), gaps
    health = (await client.get("/v1/slack/connection", headers=admin.headers)).json()
    assert health["last_error"].startswith("rate limited")
    assert health["last_ok_at"] is not None

    slack.answers = [(200, {}, {"ok": False, "error": "channel_not_found"})]
    third = (
        await client.post("/v1/tickets", headers=admin.headers, json={"title": "Fan loud"})
    ).json()
    async with session_factory()() as db:
        row = await db.get(Ticket, uuid.UUID(third["id"]))
        assert row is not None
        await action.execute(db, row, NotifySlackParams(channel="C0GONE0001"), {"rule": "To Slack"})
        await db.commit()

    async def refused() -> dict[str, Any] | None:
        body: dict[str, Any] = (
            await client.get("/v1/slack/connection", headers=admin.headers)
        ).json()
        return body if "channel_not_found" in (body["last_error"] or "") else None

    await wait_for(refused, what="the refusal in the connection's health")
    assert len(slack.of("chat.postMessage")) == 2  # refused, not retried
    assert slack.violations == []
    tested = await client.post("/v1/slack/connection/test", headers=admin.headers)
    assert tested.status_code == 200
    assert slack.of("auth.test")

    # An incoming webhook (only Slack's URLs): a message when a ticket is created.
    elsewhere = {"team_id": slack.team_id, "webhook_url": "http://127.0.0.1:9/services/x"}
    unsafe = await client.put("/v1/slack/connection", headers=admin.headers, json=elsewhere)
    assert unsafe.status_code == 422
    hook = await connect(client, admin, slack, bot_token=None, webhook_url=slack.webhook_url)
    assert (hook["mode"], hook["last_error"]) == ("webhook", None)
    created = await client.post("/v1/tickets", headers=admin.headers, json={"title": "Printer"})

    async def hooked() -> bool:
        return bool(slack.of("webhook"))

    await wait_for(hooked, what="the webhook's message")
    [posted] = slack.of("webhook")
    assert posted.blocks[0]["text"]["text"] == f"{created.json()['key']}: Printer"
    assert slack.violations == []
