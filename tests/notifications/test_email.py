"""Ticket e-mails through the real worker and SMTP server: who is told what, one e-mail per
person for a storm of changes, threading and unsubscribe headers, retries without repeats."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories import Member, create_member
from tests.support.mail import SmtpServer
from tests.support.polling import wait_for
from tests.support.services import Worker
from tests.support.settings import overridden
from ticketcreator.accounts.permissions import Role
from ticketcreator.core import events
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import utcnow
from ticketcreator.core.tasks import RetriableError
from ticketcreator.notifications import email_compose, email_sending
from ticketcreator.notifications.email_models import EmailNotification, NotificationStatus

pytestmark = pytest.mark.usefixtures("database")

WINDOW_S = get_settings().email_notifications.coalesce_window_s


def _text(mail: EmailMessage) -> str:
    part = mail.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def _html(mail: EmailMessage) -> str:
    part = mail.get_body(("html",))
    assert part is not None
    return str(part.get_content())


async def _recorded(
    session: AsyncSession, expected: dict[uuid.UUID, int], actor: str = "Olive Owner"
) -> bool:
    """Whether the worker added ``expected`` changes by ``actor`` to each person's pending
    e-mail (AI triage may add its own changes to them too)."""
    rows = await session.execute(
        select(EmailNotification.user_id, EmailNotification.changes).where(
            EmailNotification.status == NotificationStatus.PENDING
        )
    )
    await session.commit()
    counts = {user: sum(c["actor"] == actor for c in changes) for user, changes in rows}
    return {user: n for user, n in counts.items() if n} == expected


async def _send_due() -> None:
    """Wait out the coalescing window, then hand the due sends over (as the relay does)."""
    await asyncio.sleep(WINDOW_S)
    await events.deliver()


async def _mails(smtp: SmtpServer, count: int) -> list[EmailMessage]:
    async def arrived() -> bool:
        return len(smtp.messages) >= count

    await wait_for(arrived, timeout=30, what=f"{count} e-mails")
    await asyncio.sleep(0.5)  # nothing more arrives
    assert len(smtp.messages) == count
    return list(smtp.messages)


async def _call(
    client: httpx.AsyncClient, member: Member, method: str, path: str, **kw: Any
) -> Any:
    response = await client.request(method, path, headers=member.headers, **kw)
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


async def test_a_storm_of_changes_is_one_threaded_email_per_person_who_may_read_it(
    client: httpx.AsyncClient,
    session: AsyncSession,
    smtp_server: SmtpServer,
    celery_worker: Worker,
) -> None:
    owner = await create_member(session, role=Role.OWNER, name="Olive Owner")
    org = owner.organization
    reporter = await create_member(session, org, Role.REPORTER, name="Rita Reporter")
    agent = await create_member(session, org, Role.AGENT, name="Ada Agent")
    watcher = await create_member(session, org, Role.AGENT, name="Walt Watcher")
    stranger = await create_member(session, role=Role.OWNER)
    ticket = await _call(
        client,
        owner,
        "POST",
        "/v1/tickets",
        json={
            "title": "Checkout <button> broken",
            "description": "Clicking pay does nothing.",
            "reporter_id": str(reporter.user.id),
            "assignee_id": str(agent.user.id),
        },
    )
    # Another organization's ticket: its people hear nothing of the first.
    await _call(client, stranger, "POST", "/v1/tickets", json={"title": "Elsewhere"})

    # A storm: the creation and 99 more changes by the owner within the window. The watcher
    # joins once the creation has been recorded (so they were not watching when it happened).
    created = {reporter.user.id: 1, agent.user.id: 1}
    await wait_for(lambda: _recorded(session, created), what="the creation recorded")
    ref = f"/v1/tickets/{ticket['key']}"
    await _call(client, owner, "PUT", f"{ref}/watchers/{watcher.user.id}")
    for n in range(97):
        await _call(client, owner, "PATCH", ref, json={"title": f"Checkout <b>roken ({n})"})
    await _call(client, owner, "POST", f"{ref}/comments", json={"body": "We are on it."})
    await _call(
        client,
        owner,
        "POST",
        f"{ref}/comments",
        json={"body": "Secret: the PSP key expired.", "internal": True},
    )
    # The watcher joined after the creation; the reporter does not hear of the internal note.
    expected = {reporter.user.id: 99, agent.user.id: 100, watcher.user.id: 99}
    await wait_for(lambda: _recorded(session, expected), what="the storm recorded")
    await _send_due()
    mails = await _mails(smtp_server, 3)
    storm = {m["To"].addresses[0].addr_spec: m for m in mails}
    assert sorted(storm) == sorted([reporter.user.email, agent.user.email, watcher.user.email])
    assert stranger.user.email not in storm
    thread = f"<ticket.{ticket['id']}@example.com>"
    for mail in storm.values():
        assert mail["Subject"] == f"[{ticket['key']}] Checkout <b>roken (96)"
        body = _text(mail)
        assert body.count("Olive Owner changed title:") == 97
        assert "Checkout <b>roken (95) → Checkout <b>roken (96)" in body
        assert "We are on it." in body
        # HTML is escaped: a title cannot inject markup.
        assert "Checkout &lt;b&gt;roken (96)" in _html(mail)
        assert "<b>roken" not in _html(mail)
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        # Only the one-click link: no inbound unsubscribe mailbox is configured.
        assert re.fullmatch(r"<http://testserver/[^<>,]+>", mail["List-Unsubscribe"])
    # The e-mail announcing the ticket is the root of its thread; the watcher's first e-mail
    # (and every later one) replies to it.
    for person in (reporter, agent):
        assert storm[person.user.email]["Message-ID"] == thread
        assert storm[person.user.email]["In-Reply-To"] is None
        assert "Olive Owner created the ticket" in _text(storm[person.user.email])
    assert storm[watcher.user.email]["Message-ID"] != thread
    assert storm[watcher.user.email]["In-Reply-To"] == thread
    assert storm[watcher.user.email]["References"] == thread
    # The reporter never reads the internal note; the team does.
    assert "PSP key" not in _text(storm[reporter.user.email])
    assert "PSP key" not in _html(storm[reporter.user.email])
    assert "Secret: the PSP key expired." in _text(storm[agent.user.email])

    # The reporter unsubscribes in one click from the e-mail's link: the next change reaches
    # only the team, in the same thread.
    [link] = re.findall(
        r"<(http://testserver[^>]+)>", storm[reporter.user.email]["List-Unsubscribe"]
    )
    done = await client.post(link, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200, done.text
    await _call(client, owner, "POST", f"{ref}/comments", json={"body": "Fixed."})
    await wait_for(lambda: _recorded(session, {agent.user.id: 1, watcher.user.id: 1}))
    await _send_due()
    later = (await _mails(smtp_server, 5))[3:]
    assert sorted(m["To"].addresses[0].addr_spec for m in later) == sorted(
        [agent.user.email, watcher.user.email]
    )
    for mail in later:
        assert mail["In-Reply-To"] == thread
        assert mail["Message-ID"] not in {thread, storm[watcher.user.email]["Message-ID"]}
        assert "Fixed." in _text(mail)


async def test_held_digested_and_failed_sends_are_sent_once_when_due(
    client: httpx.AsyncClient,
    session: AsyncSession,
    smtp_down: SmtpServer,
    celery_worker: Worker,
) -> None:
    owner = await create_member(session, role=Role.OWNER)
    org = owner.organization
    agent = await create_member(session, org, Role.AGENT)
    digester = await create_member(session, org, Role.AGENT)
    agent_id, digester_id, digester_email = agent.user.id, digester.user.id, digester.user.email
    sleeper = await create_member(session, org, Role.AGENT)
    sleeper_id = sleeper.user.id
    await _call(
        client,
        digester,
        "PUT",
        "/v1/me/notification-preferences",
        json={"digest": "hourly"},
    )
    now = utcnow()
    night = {
        "start": f"{now - timedelta(hours=1):%H:%M}",
        "end": f"{now + timedelta(hours=1):%H:%M}",
    }
    await _call(
        client,
        sleeper,
        "PUT",
        "/v1/me/notification-preferences",
        json={"quiet_hours": night, "time_zone": "UTC"},
    )
    tickets = [
        await _call(
            client,
            owner,
            "POST",
            "/v1/tickets",
            json={"title": f"Ticket {n}", "assignee_id": str(who.user.id)},
        )
        for n, who in enumerate((agent, digester, digester, sleeper))
    ]
    await wait_for(lambda: _counts(session, {agent_id: 1, digester_id: 2, sleeper_id: 1}))
    celery_worker.consume(False)  # the sends below run here, one by one
    [agents] = await session.scalars(
        select(EmailNotification.id).where(EmailNotification.user_id == agent_id)
    )
    # In their quiet hours: held until they end (within the hour), not the coalescing window.
    held = await session.scalar(
        select(EmailNotification.due_at).where(EmailNotification.user_id == sleeper_id)
    )
    await session.commit()
    assert held is not None
    assert timedelta(minutes=58) < held - now <= timedelta(hours=1)

    with pytest.raises(RetriableError, match="unavailable"):
        await email_sending.send(session, [agents])
    await session.rollback()
    row = await session.get(EmailNotification, agents)
    assert row is not None
    assert row.status == NotificationStatus.PENDING
    await session.commit()

    smtp_down.start()
    assert await email_sending.send(session, [agents]) is NotificationStatus.SENT
    await session.commit()
    # The event again (a restarted worker, the sweep): nothing is sent twice.
    assert await email_sending.send(session, [agents]) is None
    await session.commit()
    assert len(smtp_down.messages) == 1

    # The digest: due at the next hour; once due, the sweep makes one e-mail of both tickets.
    digests = select(EmailNotification).where(EmailNotification.user_id == digester_id)
    rows = list(await session.scalars(digests))
    assert all(r.due_at > utcnow() and r.due_at.minute == 0 for r in rows)
    await session.execute(
        update(EmailNotification)
        .where(EmailNotification.user_id == digester_id)
        .values(due_at=utcnow())
    )
    await session.commit()
    assert await email_sending.sweep(session) == 1
    await session.commit()
    assert await email_sending.send(session, [r.id for r in rows]) is NotificationStatus.SENT
    await session.commit()
    [_, digest] = smtp_down.messages
    assert digest["To"].addresses[0].addr_spec == digester_email
    assert digest["In-Reply-To"] is None
    text = _text(digest)
    assert f"{tickets[1]['key']}: Ticket 1" in text
    assert f"{tickets[2]['key']}: Ticket 2" in text
    assert "Changes to 2 tickets" in text


async def _counts(session: AsyncSession, expected: dict[uuid.UUID, int]) -> bool:
    """Whether each person has ``expected`` pending e-mails."""
    rows = await session.execute(
        select(EmailNotification.user_id, func.count())
        .where(EmailNotification.status == NotificationStatus.PENDING)
        .group_by(EmailNotification.user_id)
    )
    await session.commit()
    return dict(rows.all()) == expected


def test_a_mailto_unsubscribe_is_offered_only_with_a_mailbox_that_processes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    link = "<http://testserver/v1/notifications/unsubscribe?token=k1.a%2Fb.c>"
    assert email_compose.list_unsubscribe("k1.a/b.c") == link
    with overridden(monkeypatch, TC_EMAIL_NOTIFICATIONS__UNSUBSCRIBE_MAILTO="leave@example.com"):
        assert email_compose.list_unsubscribe("k1.a/b.c") == (
            f"{link}, <mailto:leave@example.com?subject=unsubscribe%20k1.a/b.c>"
        )
