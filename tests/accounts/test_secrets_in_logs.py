"""Secrets never reach the logs: every record of a full account flow is scanned."""

from __future__ import annotations

import logging

import httpx
import pytest

from tests.accounts.conftest import PASSWORD, sign_up
from ticketcreator.core.logging import JsonFormatter

pytestmark = pytest.mark.usefixtures("database")


async def test_no_password_token_or_key_appears_in_log_output(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")  # statements and parameters
    account = await sign_up(client)
    login = (
        await client.post("/v1/auth/login", json={"email": account.email, "password": PASSWORD})
    ).json()
    refreshed = (
        await client.post("/v1/auth/refresh", json={"refresh_token": login["refresh_token"]})
    ).json()
    failed = await client.post(
        "/v1/auth/login", json={"email": account.email, "password": "wrong-secret-guess"}
    )
    assert failed.status_code == 401
    key = (
        await client.post(
            "/v1/api-keys",
            json={"name": "ci", "scopes": ["tickets:read"]},
            headers=account.headers,
        )
    ).json()["key"]
    invitation = (
        await client.post(
            "/v1/invitations", json={"email": "new@example.com"}, headers=account.headers
        )
    ).json()["token"]
    new_password = "the invitee's own secret"
    joined = (
        await client.post(
            "/v1/invitations/accept",
            json={"token": invitation, "name": "New", "password": new_password},
        )
    ).json()
    changed_password = "a changed password value"
    await client.post(
        "/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": changed_password},
        headers=account.headers,
    )

    secrets = {
        "password": PASSWORD,
        "wrong password": "wrong-secret-guess",
        "invitee password": new_password,
        "changed password": changed_password,
        "signup access token": account.tokens["access_token"],
        "signup refresh token": account.tokens["refresh_token"],
        "login access token": login["access_token"],
        "login refresh token": login["refresh_token"],
        "rotated access token": refreshed["access_token"],
        "rotated refresh token": refreshed["refresh_token"],
        "api key": key,
        "api key secret": key.split("_", 2)[2],
        "invitation token": invitation,
        "invitee tokens": joined["refresh_token"],
    }
    formatter = JsonFormatter()
    output = "\n".join(formatter.format(record) for record in caplog.records)
    loggers = {record.name for record in caplog.records}
    assert {"ticketcreator.access", "sqlalchemy.engine.Engine"} <= loggers
    leaked = [name for name, value in secrets.items() if value in output]
    assert leaked == []
