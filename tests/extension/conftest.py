"""The Chrome extension, built from extension/ and driven in Debian's Chromium against the API.

The API runs in a real uvicorn process (so a test can take it down and bring it back), the
Celery worker transcribes and triages, and a small local web server plays the site where the
problem happens. The browser is driven by extension/e2e/drive.mjs (playwright-core).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.services import ROOT, ApiServer

EXTENSION = ROOT / "extension"
DRIVER = EXTENSION / "e2e" / "drive.mjs"
PASSWORD = "a long enough password"
SECRET = "qs-secret-5f3c1a9e7d2b"
SENTENCE = "The payment button shows a spinner forever after I enter my card."
# What the page itself says during a recording (the tab's sound, mixed with the microphone).
TAB_SENTENCE = "Then the whole screen turns grey."

# The page where "the problem" happens: a console error, an unhandled rejection and a failed
# request whose URL carries a token; a moving box so a recording has something to show.
PAGE = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Checkout - Example Shop</title>
<style>#box{{width:80px;height:80px;background:#1a73e8;position:absolute;top:200px;
animation:move 2s linear infinite alternate}}
@keyframes move{{from{{left:0}}to{{left:600px}}}}</style>
</head><body><h1>Checkout</h1>
<label>Password <input id="password" type="password" value="hunter2-correct-horse"></label>
<button id="break">Pay now</button><div id="box"></div>
<audio id="sound" src="/sound.wav" preload="auto"></audio>
<script>
document.getElementById("break").addEventListener("click", async () => {{
  console.error("Payment widget failed: TypeError: cart.total is undefined");
  Promise.reject(new Error("card element not mounted"));
  try {{
    await fetch("/api/orders?access_token={SECRET}&page=2",
                {{method: "POST", headers: {{"Authorization": "Bearer abcdefgh12345678abcd"}}}});
  }} catch (e) {{}}
  window.failedFetchDone = true;
}});
</script></body></html>"""


class _Site(BaseHTTPRequestHandler):
    sound = b""

    def do_GET(self) -> None:
        wav = self.path == "/sound.wav"
        body = self.sound if wav else PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "audio/wav" if wav else "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = b'{"error": "orders service unavailable"}'
        self.send_response(502)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


def _speak(sentence: str, wav: Path) -> Path:
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), sentence], check=True)
    return wav


@pytest.fixture(scope="module")
def narration(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SENTENCE spoken by espeak-ng: what the fake microphone says."""
    return _speak(SENTENCE, tmp_path_factory.mktemp("microphone") / "narration.wav")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The shop's checkout page; its sound is TAB_SENTENCE spoken by espeak-ng."""
    _Site.sound = _speak(TAB_SENTENCE, tmp_path_factory.mktemp("site") / "sound.wav").read_bytes()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/checkout"
    server.shutdown()


@pytest.fixture(scope="module")
def extension_dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The extension as `npm run build` makes it."""
    for tool in ("node", "chromium"):
        assert shutil.which(tool), f"{tool} is required (scripts/bootstrap.sh installs it)"
    assert (EXTENSION / "node_modules" / "playwright-core").is_dir(), "run npm ci in extension/"
    subprocess.run(["npm", "run", "--silent", "build"], cwd=EXTENSION, check=True, timeout=300)
    return EXTENSION / "dist"


@pytest.fixture(scope="module")
def live_api(database: str) -> Iterator[ApiServer]:
    server = ApiServer()
    server.start()
    yield server
    server.stop()


@dataclass
class Owner:
    api: str
    email: str
    token: str
    organization_id: str
    headers: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.headers = {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str) -> Any:
        response = httpx.get(self.api + path, headers=self.headers, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def content(self, path: str) -> bytes:
        response = httpx.get(self.api + path, headers=self.headers, timeout=60)
        assert response.status_code == 200, response.text
        return response.content

    def api_key(self) -> str:
        response = httpx.post(
            self.api + "/v1/api-keys",
            headers=self.headers,
            json={
                "name": "Chrome extension",
                "scopes": ["captures:write", "tickets:create", "tickets:read"],
            },
            timeout=30,
        )
        assert response.status_code == 201, response.text
        return str(response.json()["key"])


@pytest.fixture
def owner(live_api: ApiServer) -> Owner:
    email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
    response = httpx.post(
        live_api.url + "/v1/auth/signup",
        json={
            "email": email,
            "name": "Olive Owner",
            "password": PASSWORD,
            "organization_name": "Shop " + uuid.uuid4().hex[:6],
        },
        timeout=30,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return Owner(live_api.url, email, body["access_token"], body["organization_id"])


class Drive:
    """One run of the driver script; its progress lines can be awaited as they come."""

    def __init__(self, plan: dict[str, Any]) -> None:
        self.process = subprocess.Popen(
            ["node", str(DRIVER), json.dumps(plan)],
            cwd=EXTENSION,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.events: list[tuple[str, dict[str, Any]]] = []

    def until(self, name: str) -> dict[str, Any]:
        """Reads progress lines up to the event ``name`` (or the result) and returns it."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            kind, _, rest = line.strip().partition(" ")
            if kind == "event":
                event, _, data = rest.partition(" ")
                self.events.append((event, json.loads(data)))
                if event == name:
                    return self.events[-1][1]
            elif kind == "result":
                self.events.append(("result", json.loads(rest)))
                if name == "result":
                    return self.events[-1][1]
        self.process.wait(timeout=30)
        stderr = self.process.stderr.read() if self.process.stderr else ""
        raise AssertionError(f"the driver ended before {name!r}: {self.events}\n{stderr[-4000:]}")

    def result(self, timeout: float = 400) -> dict[str, Any]:
        found = self.until("result")
        self.process.wait(timeout=timeout)
        assert self.process.returncode == 0, (
            self.process.stderr.read() if self.process.stderr else ""
        )
        return found

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
