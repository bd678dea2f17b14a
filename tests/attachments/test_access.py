"""Who may read an attachment, its text and its signed links, and who may touch an upload.

Reporters see the files they uploaded and the files of captures on tickets they may see;
viewers and agents every file of their organization; members of another organization
nothing. An unfinished upload belongs to whoever started it.
"""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.captures.support import capture_body, screenshot_text, upload
from tests.support.factories import Member, create_member
from tests.uploads.helpers import TUS, create_upload, patch, png, webm_like
from ticketcreator.accounts.permissions import Role

_SECRET_TEXT = "Salary of Jane Roe: 7,400 EUR"


async def _with_text(session: AsyncSession, attachment: dict[str, Any], org: Member) -> None:
    session.add(screenshot_text(attachment["id"], org.org_id, _SECRET_TEXT))
    await session.commit()


async def _reads(client: httpx.AsyncClient, member: Member, attachment_id: str) -> list[int]:
    """Status of every way to read the attachment: metadata, file, signed link, text."""
    base = f"/v1/attachments/{attachment_id}"
    return [
        (await client.get(base, headers=member.headers)).status_code,
        (await client.get(f"{base}/content", headers=member.headers)).status_code,
        (await client.post(f"{base}/signed-urls", json={}, headers=member.headers)).status_code,
        (await client.get(f"{base}/ocr", headers=member.headers)).status_code,
    ]


async def test_reporters_read_only_their_own_files_and_those_on_their_tickets(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    agent = await create_member(session, role=Role.AGENT)
    organization = agent.organization
    reporter = await create_member(session, organization, Role.REPORTER)
    colleague = await create_member(session, organization, Role.REPORTER)
    viewer = await create_member(session, organization, Role.VIEWER)
    outsider = await create_member(session, role=Role.ADMIN)

    agents_file = await upload(client, agent.headers, "payroll.png", png(), "image/png")
    colleagues_file = await upload(client, colleague.headers, "mine.png", png(), "image/png")
    own_file = await upload(client, reporter.headers, "shot.png", png(), "image/png")
    for attachment, owner in ((agents_file, agent), (colleagues_file, agent), (own_file, agent)):
        await _with_text(session, attachment, owner)

    for other in (agents_file, colleagues_file):
        assert await _reads(client, reporter, other["id"]) == [404] * 4
        for variant in ("transcript", "transcript.vtt", "transcript.srt"):
            response = await client.get(
                f"/v1/attachments/{other['id']}/{variant}", headers=reporter.headers
            )
            assert response.status_code == 404
            assert _SECRET_TEXT not in response.text
    assert await _reads(client, reporter, own_file["id"]) == [200, 200, 201, 200]
    assert await _reads(client, viewer, agents_file["id"]) == [200, 200, 201, 200]
    assert await _reads(client, agent, colleagues_file["id"]) == [200, 200, 201, 200]
    assert await _reads(client, outsider, agents_file["id"]) == [404] * 4

    # An agent's screenshot added to the reporter's ticket is the reporter's to see.
    ticket = (
        await client.post(
            "/v1/tickets",
            json={"title": "Broken avatar", "description": "It does not load."},
            headers=reporter.headers,
        )
    ).json()
    shared = await upload(client, agent.headers, "answer.png", png(), "image/png")
    captured = await client.post(
        "/v1/captures",
        headers=agent.headers,
        json=capture_body([shared["id"]], kind="screenshot", ticket=None, ticket_id=ticket["id"]),
    )
    assert captured.status_code == 201, captured.text
    assert (await _reads(client, reporter, shared["id"]))[:3] == [200, 200, 201]
    assert await _reads(client, colleague, shared["id"]) == [404] * 4


async def test_only_whoever_started_an_upload_may_resume_or_cancel_it(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await create_member(session, role=Role.REPORTER)
    data = webm_like(1000)
    location = await create_upload(client, owner.headers, len(data))
    for role in (Role.REPORTER, Role.AGENT, Role.ADMIN):
        other = await create_member(session, owner.organization, role)
        assert (await client.head(location, headers={**other.headers, **TUS})).status_code == 404
        assert (await patch(client, other.headers, location, 0, data[:10])).status_code == 404
        deleted = await client.delete(location, headers={**other.headers, **TUS})
        assert deleted.status_code == 404
    state = await client.head(location, headers={**owner.headers, **TUS})
    assert state.status_code == 200
    assert state.headers["Upload-Offset"] == "0"
    assert (await patch(client, owner.headers, location, 0, data)).status_code == 204
