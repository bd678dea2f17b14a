"""Invitation e-mails: sent by the worker through a real SMTP server, token sealed at rest."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from urllib.parse import unquote

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.accounts.conftest import PASSWORD, invite, sign_up
from tests.support.mail import SmtpServer
from tests.support.polling import wait_for
from tests.support.services import Worker
from ticketcreator.accounts import tasks
from ticketcreator.core.config import get_settings
from ticketcreator.core.crypto import decrypt, encrypted_columns
from ticketcreator.core.tasks import RetriableError
from ticketcreator.models import metadata

pytestmark = pytest.mark.usefixtures("database")

LINK = re.compile(r"http://testserver/v1/invitations/accept#token=(\S+)")


async def _stored_token(session: AsyncSession, invitation_id: str) -> str | None:
    value: str | None = await session.scalar(
        text("SELECT token_encrypted FROM invitation WHERE id = :id"), {"id": invitation_id}
    )
    await session.commit()
    return value


async def test_the_worker_emails_the_invitee_a_link_that_accepts_the_invitation(
    client: httpx.AsyncClient,
    session: AsyncSession,
    smtp_server: SmtpServer,
    celery_worker: Worker,
) -> None:
    owner = await sign_up(client, name="Olive Owner", organization_name="Acme Support")
    invitation = await invite(client, owner, "New.Agent@example.com")

    async def delivered() -> bool:
        return bool(smtp_server.messages)

    await wait_for(delivered)
    [mail] = smtp_server.messages
    assert mail["To"] == "new.agent@example.com"
    assert mail["From"] == "Ticket Creator <no-reply@example.com>"
    assert mail["Subject"] == "You are invited to join Acme Support"
    assert mail["Date"] is not None
    # Stable per invitation: a retried send that reaches the inbox twice is recognisably
    # the same message, which mail clients show once.
    assert mail["Message-ID"] == f"<invitation.{invitation['id']}@example.com>"
    body = mail.get_content()
    assert "Olive Owner" in body
    assert owner.email in body
    assert "Acme Support" in body
    assert "expires on" in body
    match = LINK.search(body)
    assert match is not None, body
    token = unquote(match.group(1))
    assert token == invitation["token"]
    # Sent: the sealed token is erased.
    assert await wait_for(lambda: _cleared(session, invitation["id"])) is True

    joined = await client.post(
        "/v1/invitations/accept", json={"token": token, "name": "New Agent", "password": PASSWORD}
    )
    assert joined.status_code == 200, joined.text
    assert joined.json()["organization_id"] == owner.organization_id


async def _cleared(session: AsyncSession, invitation_id: str) -> bool:
    return await _stored_token(session, invitation_id) is None


async def test_the_token_is_stored_encrypted_and_never_in_the_outbox(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await sign_up(client)
    invitation = await invite(client, owner, "sealed@example.com")
    token = invitation["token"]
    stored = await _stored_token(session, invitation["id"])
    assert stored is not None
    assert stored.startswith("v1:")
    assert token not in stored
    assert decrypt(stored) == token
    payloads = (await session.scalars(text("SELECT payload::text FROM outbox_event"))).all()
    assert any(invitation["id"] in payload for payload in payloads)
    assert not any(token in payload for payload in payloads)
    # `rotate-encryption-keys` re-seals the column like every other EncryptedString.
    assert "invitation.token_encrypted" in {
        f"{column.table.name}.{column.name}" for column in encrypted_columns(metadata)
    }


async def test_an_unreachable_smtp_server_is_a_retriable_error(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await sign_up(client)
    invitation = await invite(client, owner, "later@example.com")
    with pytest.raises(RetriableError, match="unavailable"):
        await tasks.mail_invitation(session, uuid.UUID(invitation["id"]))
    await session.rollback()
    assert await _stored_token(session, invitation["id"]) is not None


async def test_the_worker_retries_until_the_smtp_server_is_back(
    client: httpx.AsyncClient, smtp_down: SmtpServer, celery_worker: Worker
) -> None:
    owner = await sign_up(client)
    seen = len(celery_worker.log.read_bytes())
    await invite(client, owner, "patient@example.com")

    async def retried() -> bool:
        log = celery_worker.log.read_bytes()[seen:].decode(errors="replace")
        # A retried task is received again under the same id (event id + task name).
        received = [
            line
            for line in log.splitlines()
            if "send_invitation_email[" in line and line.endswith("] received")
        ]
        return len(received) >= 2

    await wait_for(retried)
    smtp_down.start()

    async def delivered() -> bool:
        return bool(smtp_down.messages)

    await wait_for(delivered)
    assert smtp_down.messages[0]["To"] == "patient@example.com"


@pytest.fixture
def mail_disabled(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TC_MAIL__ENABLED", "false")
    get_settings.cache_clear()
    try:
        yield
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


async def test_nothing_is_sent_when_mail_is_disabled(
    client: httpx.AsyncClient,
    session: AsyncSession,
    smtp_server: SmtpServer,
    mail_disabled: None,
) -> None:
    owner = await sign_up(client)
    invitation = await invite(client, owner, "quiet@example.com")
    assert invitation["token"].startswith("tci")
    assert await tasks.mail_invitation(session, uuid.UUID(invitation["id"])) is False
    assert smtp_server.messages == []


async def test_a_withdrawn_or_accepted_invitation_is_not_mailed(
    client: httpx.AsyncClient, session: AsyncSession, smtp_server: SmtpServer
) -> None:
    owner = await sign_up(client)
    withdrawn = await invite(client, owner, "withdrawn@example.com")
    deleted = await client.delete(f"/v1/invitations/{withdrawn['id']}", headers=owner.headers)
    assert deleted.status_code == 204
    accepted = await invite(client, owner, "accepted@example.com")
    joined = await client.post(
        "/v1/invitations/accept",
        json={"token": accepted["token"], "name": "Quick", "password": PASSWORD},
    )
    assert joined.status_code == 200, joined.text
    for invitation in (withdrawn, accepted):
        assert await _stored_token(session, invitation["id"]) is None
        assert await tasks.mail_invitation(session, uuid.UUID(invitation["id"])) is False
    assert smtp_server.messages == []
