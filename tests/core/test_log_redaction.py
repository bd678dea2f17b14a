"""No credential from a query string reaches a log line, the access log's included."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

import httpx
import pytest

from tests.support.live import serve_api
from ticketcreator.core.logging import RedactSecrets
from ticketcreator.core.redact import redact_text

pytestmark = pytest.mark.usefixtures("database")

SIGNATURE = "c2lnbmF0dXJlLXNlY3JldC0xMjM0NTY3ODk"
TOKEN = "tci_invitation-secret-987654321"


def test_the_filter_masks_query_credentials_in_arguments_and_fields() -> None:
    record = logging.makeLogRecord(
        {
            "name": "uvicorn.access",
            "msg": '%s - "%s %s HTTP/%s" %d',
            "args": (
                "10.0.0.1:5000",
                "GET",
                f"/v1/signed/attachments/x/original?expires=1&kid=k1&signature={SIGNATURE}",
                "1.1",
                200,
            ),
            "url": f"/v1/invitations/accept?token={TOKEN}",
        }
    )
    assert RedactSecrets().filter(record)
    message = record.getMessage()
    assert SIGNATURE not in message
    assert "expires=1&kid=k1&signature=[REDACTED]" in message
    assert record.url == "/v1/invitations/accept?token=[REDACTED]"
    plain = logging.makeLogRecord({"msg": f"GET /accept?token={TOKEN}"})
    RedactSecrets().filter(plain)
    assert TOKEN not in plain.getMessage()


def test_access_log_lines_of_a_real_server_hold_no_signature_or_token(tmp_path: Path) -> None:
    log_file = tmp_path / "api.log"
    with log_file.open("w") as log, serve_api(log_level="info", log=log) as base:
        signed = httpx.get(
            f"{base}/v1/signed/attachments/{uuid.uuid4()}/original",
            params={"expires": "4102444800", "kid": "dev1", "signature": SIGNATURE},
        )
        page = httpx.get(f"{base}/v1/invitations/accept", params={"token": TOKEN})
    assert signed.status_code in (403, 404)
    assert page.status_code == 200
    text = log_file.read_text()
    assert SIGNATURE not in text
    assert TOKEN not in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "ticketcreator.access"]
    assert [(line["path"].split("/")[2], line["query"]) for line in access] == [
        ("signed", "expires=4102444800&kid=dev1&signature=[REDACTED]"),
        ("invitations", "token=[REDACTED]"),
    ], "one access line per request, its query's credentials masked"
    assert {line["client"] for line in access} == {"127.0.0.1"}
    assert all(line["request_id"] for line in access)
    assert not [line for line in lines if line["logger"] == "uvicorn.access"], (
        "uvicorn's own access line would be a second one per request"
    )


async def test_urls_of_outgoing_calls_reach_no_log_line(capsys: pytest.CaptureFixture[str]) -> None:
    """A Slack incoming webhook or a click's response_url is a credential in its path; the
    HTTP client's own request lines would print it."""
    from ticketcreator.core.logging import configure_logging

    secret = "XyZ-webhook-path-secret-123"
    configure_logging("INFO", json_format=True)
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text="ok"))
    async with httpx.AsyncClient(transport=transport) as client:
        await client.post(f"https://hooks.slack.com/services/T0/B0/{secret}", json={"text": "x"})
    assert secret not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("Authorization: Bearer abcdefgh12345678", "Authorization: Bearer [REDACTED]"),
        ("bearer\tabcdefgh12345678", "bearer [REDACTED]"),  # any white space
        ("apikey\u2003abcdefgh12345678", "apikey [REDACTED]"),
        ("eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl", "[REDACTED]"),  # a JWT, nothing around it
        ("/accept?token=abc123", "/accept?token=[REDACTED]"),
        ('{"password":"hunter22"}', '{"password":"[REDACTED]"}'),
        ("/v1/tickets/T-5", "/v1/tickets/T-5"),  # nothing to mask
        ("GET", "GET"),
    ],
)
def test_each_kind_of_credential_is_masked_and_other_text_kept(text: str, masked: str) -> None:
    assert redact_text(text)[0] == masked
