"""GET /v1/captures/limits: what the extension may record and upload, per organization."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories import create_member
from ticketcreator.accounts.permissions import Role
from ticketcreator.core.config import get_settings


async def test_defaults_come_from_the_settings(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    reporter = await create_member(session, role=Role.REPORTER)
    response = await client.get("/v1/captures/limits", headers=reporter.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    uploads = get_settings().uploads
    assert body["max_upload_size"] == uploads.max_upload_size
    assert body["max_recording_s"] == uploads.max_recording_s
    assert "video/webm" in body["allowed_types"]
    assert "image/png" in body["allowed_types"]


async def test_an_organization_lowers_its_own_limits_only(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    strict = await create_member(session)
    other = await create_member(session)
    strict.organization.settings = {
        "uploads": {
            "max_size": 5_000_000,
            "max_recording_s": 30,
            "allowed_types": ["image/png", "video/webm"],
        }
    }
    await session.commit()

    own = (await client.get("/v1/captures/limits", headers=strict.headers)).json()
    assert own == {
        "max_upload_size": 5_000_000,
        "max_recording_s": 30,
        "allowed_types": ["image/png", "video/webm"],
    }
    elsewhere = (await client.get("/v1/captures/limits", headers=other.headers)).json()
    assert elsewhere["max_upload_size"] == get_settings().uploads.max_upload_size
    assert elsewhere["max_recording_s"] == get_settings().uploads.max_recording_s


async def test_an_organization_cannot_raise_the_recording_cap(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    member = await create_member(session)
    member.organization.settings = {"uploads": {"max_recording_s": 10**9}}
    await session.commit()
    body = (await client.get("/v1/captures/limits", headers=member.headers)).json()
    assert body["max_recording_s"] == get_settings().uploads.max_recording_s


async def test_limits_need_a_caller(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/captures/limits")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
