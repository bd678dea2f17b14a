"""The page an invitation e-mail links to: served safely, and it works in a real browser."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.accounts.conftest import PASSWORD, Account, invite, sign_up
from tests.support.live import serve_api
from tests.support.services import ROOT

pytestmark = pytest.mark.usefixtures("database")

SCRIPT = ROOT / "tests" / "browser" / "accept_invitation.mjs"


async def _status(client: httpx.AsyncClient, owner: Account, invitation_id: str) -> str:
    listed = await client.get("/v1/invitations", headers=owner.headers)
    assert listed.status_code == 200, listed.text
    [found] = [item for item in listed.json() if item["id"] == invitation_id]
    return str(found["status"])


def _hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


async def test_opening_the_link_shows_the_form_and_accepts_nothing(
    client: httpx.AsyncClient,
) -> None:
    owner = await sign_up(client)
    invitation = await invite(client, owner, "scanned@example.com")
    token = invitation["token"]

    page = await client.get(f"/v1/invitations/accept?token={quote(token)}")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'id="new-account"' in page.text
    assert token not in page.text  # read by the page's script, never echoed by the server
    assert await _status(client, owner, invitation["id"]) == "pending"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"


async def test_the_security_policy_allows_exactly_the_page_s_own_style_and_script(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/v1/invitations/accept?token=x")
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in page.headers["content-security-policy"].split(";")
    )
    [style] = re.findall(r"<style>(.*?)</style>", page.text, flags=re.DOTALL)
    [script] = re.findall(r"<script>(.*?)</script>", page.text, flags=re.DOTALL)
    assert policy["default-src"] == "'none'"
    assert policy["style-src"] == _hash(style)
    assert policy["script-src"] == _hash(script)
    assert policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"


async def test_a_markup_token_is_not_reflected(client: httpx.AsyncClient) -> None:
    page = await client.get("/v1/invitations/accept", params={"token": "<script>alert(1)</script>"})
    assert page.status_code == 200
    assert "alert(1)" not in page.text


# ------------------------------------------------------------------------- in a real browser


@pytest.fixture(scope="module")
def live_api() -> Iterator[str]:
    """The API served by uvicorn on a free port, on the test database and Redis."""
    with serve_api() as url:
        yield url


def _browse(url: str, *steps: dict[str, str]) -> dict[str, Any]:
    for tool in ("node", "chromium"):
        assert shutil.which(tool), f"{tool} is required (scripts/bootstrap.sh installs it)"
    assert (ROOT / "node_modules" / "playwright-core").is_dir(), "run npm ci"
    done = subprocess.run(
        ["node", str(SCRIPT), json.dumps({"url": url, "steps": list(steps)})],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


async def test_a_new_invitee_joins_through_the_page_in_chromium(
    client: httpx.AsyncClient, live_api: str
) -> None:
    owner = await sign_up(client)
    invitation = await invite(client, owner, "browser.new@example.com")
    url = f"{live_api}/v1/invitations/accept#token={quote(invitation['token'])}"

    seen = _browse(
        url,
        {"form": "new", "name": "Nia New", "password": "short"},
        {"form": "new", "name": "Nia New", "password": PASSWORD},
    )

    assert seen["addressAfterLoad"] == f"{live_api}/v1/invitations/accept"  # token removed
    assert seen["missingShown"] is False
    weak, joined = seen["outcomes"]
    assert weak["shown"] == "error"
    assert "failed validation" in weak["error"]
    assert joined == {"shown": "done", "error": ""}
    assert await _status(client, owner, invitation["id"]) == "accepted"
    login = await client.post(
        "/v1/auth/login", json={"email": "browser.new@example.com", "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    assert login.json()["organization_id"] == owner.organization_id
    # Only the failed attempt's 422 is logged by the browser; no policy violation.
    assert all("Content Security Policy" not in line for line in seen["consoleErrors"])


async def test_someone_with_an_account_signs_in_on_the_page_to_join(
    client: httpx.AsyncClient, live_api: str
) -> None:
    owner = await sign_up(client)
    member = await sign_up(client, email="browser.member@example.com")
    invitation = await invite(client, owner, member.email)
    # A link sent before invitation links carried the token in the fragment.
    url = f"{live_api}/v1/invitations/accept?token={quote(invitation['token'])}"

    seen = _browse(
        url,
        {"form": "existing", "email": member.email, "password": "not the password"},
        {"form": "existing", "email": member.email, "password": PASSWORD},
    )

    assert seen["addressAfterLoad"] == f"{live_api}/v1/invitations/accept"
    wrong, joined = seen["outcomes"]
    assert wrong["shown"] == "error"
    assert wrong["error"]
    assert joined == {"shown": "done", "error": ""}
    assert await _status(client, owner, invitation["id"]) == "accepted"
    assert all("Content Security Policy" not in line for line in seen["consoleErrors"])


async def test_the_page_says_so_when_the_link_has_no_token(live_api: str) -> None:
    seen = _browse(f"{live_api}/v1/invitations/accept")
    assert seen["missingShown"] is True
    assert seen["outcomes"] == []
    assert seen["consoleErrors"] == []
