"""A fake Slack on 127.0.0.1: the Web API methods the product calls and incoming webhooks.

Every request is checked against Slack's Web API description
(``/work/shared/contracts/slack/slack-web-chat.swagger2.json``): the method's form
parameters (documented names, declared types, required ones present, a documented content
type), its ``token`` (a header in that description; Slack takes it as
``Authorization: Bearer``), and ``blocks``, which must match the description's ``blocks``
definition and, since Slack publishes no Block Kit schema, :data:`BLOCK_KIT`: the block and
element types the product uses with the limits of Slack's Block Kit reference. Violations are
recorded (tests assert there are none) and answered ``invalid_arguments``. Answers are
validated against the method's documented success or error schema.

Incoming webhooks and response URLs take JSON (``text`` required, ``blocks`` checked as
above). Faults: ``answers`` queues what the next calls get (a 429 with ``Retry-After``, or an
``{"ok": false, "error": ...}``).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from jsonschema import Draft4Validator, Draft7Validator
from starlette.types import Receive, Scope, Send

from tests.support.local_server import read_request

CONTRACTS = Path(os.environ.get("TC_CONTRACTS_DIR", "/work/shared/contracts")) / "slack"
SPEC: dict[str, Any] = json.loads((CONTRACTS / "slack-web-chat.swagger2.json").read_text())
INTERACTION_SAMPLE: dict[str, Any] = json.loads(
    (
        CONTRACTS
        / "examples"
        / "sdk-shape-samples"
        / "app-backend_interactive-components_BlockActionPayload.json"
    ).read_text()
)

# An Events API request: Slack's SDK sample of a message event, checked against the Events
# API's wrapper schema (``events-api/slack_common_event_wrapper_schema.json``).
MESSAGE_SAMPLE: dict[str, Any] = json.loads(
    (CONTRACTS / "examples" / "sdk-shape-samples" / "events_MessagePayload.json").read_text()
)
EVENT_WRAPPER = Draft7Validator(
    json.loads((CONTRACTS / "events-api" / "slack_common_event_wrapper_schema.json").read_text())
)


def _text(kinds: list[str], limit: int) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["type", "text"],
        "properties": {
            "type": {"enum": kinds},
            "text": {"type": "string", "minLength": 1, "maxLength": limit},
            "emoji": {"type": "boolean"},
        },
        "additionalProperties": False,
    }


_PLAIN_75 = _text(["plain_text"], 75)
_OPTION = {
    "type": "object",
    "required": ["text", "value"],
    "properties": {"text": _PLAIN_75, "value": {"type": "string", "maxLength": 150}},
    "additionalProperties": False,
}
_ELEMENT = {
    "oneOf": [
        {
            "type": "object",
            "required": ["type", "text", "action_id"],
            "properties": {
                "type": {"const": "button"},
                "text": _PLAIN_75,
                "action_id": {"type": "string", "maxLength": 255},
                "value": {"type": "string", "maxLength": 2000},
                "url": {"type": "string", "maxLength": 3000},
                "style": {"enum": ["primary", "danger"]},
            },
            "additionalProperties": False,
        },
        {
            "type": "object",
            "required": ["type", "action_id", "options"],
            "properties": {
                "type": {"const": "static_select"},
                "action_id": {"type": "string", "maxLength": 255},
                "placeholder": _text(["plain_text"], 150),
                "options": {"type": "array", "minItems": 1, "maxItems": 100, "items": _OPTION},
            },
            "additionalProperties": False,
        },
    ]
}
BLOCK_KIT: dict[str, Any] = {
    "type": "array",
    "maxItems": 50,
    "items": {
        "oneOf": [
            {
                "type": "object",
                "required": ["type", "text"],
                "properties": {
                    "type": {"const": "header"},
                    "text": _text(["plain_text"], 150),
                    "block_id": {"type": "string", "maxLength": 255},
                },
                "additionalProperties": False,
            },
            {
                "type": "object",
                "required": ["type"],
                "properties": {
                    "type": {"const": "section"},
                    "text": _text(["plain_text", "mrkdwn"], 3000),
                    "fields": {
                        "type": "array",
                        "maxItems": 10,
                        "items": _text(["plain_text", "mrkdwn"], 2000),
                    },
                    "block_id": {"type": "string", "maxLength": 255},
                },
                "anyOf": [{"required": ["text"]}, {"required": ["fields"]}],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "required": ["type", "elements"],
                "properties": {
                    "type": {"const": "actions"},
                    "block_id": {"type": "string", "maxLength": 255},
                    "elements": {"type": "array", "minItems": 1, "maxItems": 25, "items": _ELEMENT},
                },
                "additionalProperties": False,
            },
        ]
    },
}


def _schema(node: dict[str, Any]) -> dict[str, Any]:
    return {**node, "definitions": SPEC["definitions"]}


def check_blocks(blocks: Any) -> list[str]:
    problems = [
        e.message
        for e in Draft4Validator(_schema(SPEC["definitions"]["blocks"])).iter_errors(blocks)
    ]
    problems += [
        f"{list(e.absolute_path)}: {e.message}"[:300]
        for e in Draft7Validator(BLOCK_KIT).iter_errors(blocks)
    ]
    return problems


def check_request(
    method: str, headers: dict[str, str], content_type: str, form: dict[str, str]
) -> list[str]:
    """Violations of the Web API description by one call of ``method``."""
    path = SPEC["paths"].get(f"/{method}")
    if path is None:
        return [f"{method} is not a documented method"]
    verb = "post" if "post" in path else "get"
    operation = path[verb]
    problems = []
    if verb == "post" and content_type.split(";")[0].strip() not in operation["consumes"]:
        problems.append(f"content type {content_type!r} not in {operation['consumes']}")
    parameters = {p["name"]: p for p in operation["parameters"]}
    for parameter in operation["parameters"]:
        if parameter["in"] == "header" and parameter["name"] == "token":
            if not headers.get("authorization", "").startswith("Bearer xox"):
                problems.append("the token is required")
        elif parameter.get("required") and not form.get(parameter["name"]):
            problems.append(f"{parameter['name']} is required")
    for name, value in form.items():
        parameter = parameters.get(name)
        if parameter is None or parameter["in"] != "formData":
            problems.append(f"{name} is not a documented argument")
        elif parameter["type"] == "boolean" and value not in ("true", "false", "1", "0"):
            problems.append(f"{name} is not a boolean")
    if "blocks" in form:
        problems += check_blocks(json.loads(form["blocks"]))
    return problems


def check_answer(method: str, body: dict[str, Any]) -> list[str]:
    path = SPEC["paths"][f"/{method}"]
    responses = (path.get("post") or path["get"])["responses"]
    schema = responses["200" if body.get("ok") else "default"]["schema"]
    return [f"answer: {e.message}" for e in Draft4Validator(_schema(schema)).iter_errors(body)]


@dataclass
class Call:
    method: str  # chat.postMessage, chat.update, auth.test, webhook
    form: dict[str, Any]
    at: float
    status: int = 200
    error: str | None = None

    @property
    def blocks(self) -> list[dict[str, Any]]:
        raw = self.form.get("blocks", "[]")
        return json.loads(raw) if isinstance(raw, str) else list(raw)


@dataclass
class FakeSlack:
    port: int
    team_id: str = "T0TEAM001"
    token: str = "xoxb-1234-5678-fakebottoken"
    calls: list[Call] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    answers: list[tuple[int, dict[str, str], dict[str, Any] | None]] = field(default_factory=list)
    _messages: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    def of(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method and call.error is None]

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/services/T0TEAM001/B0HOOK/secret"

    @property
    def response_url(self) -> str:
        """Where a click's answer goes (``hooks.slack.com/actions/...`` at Slack)."""
        return f"http://127.0.0.1:{self.port}/services/actions/T0TEAM001/42/answer"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers, raw = await read_request(scope, receive)
        status, extra, body = self._answer(scope["path"], headers, raw)
        payload = json.dumps(body).encode() if isinstance(body, dict) else str(body).encode()
        kind = b"application/json" if isinstance(body, dict) else b"text/plain"
        response_headers = [
            (b"content-type", kind),
            *((k.encode(), v.encode()) for k, v in extra.items()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": payload})

    def _answer(
        self, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], Any]:
        if path.startswith("/services/"):
            form = json.loads(raw)
            call = Call("response" if "/actions/" in path else "webhook", form, time.monotonic())
            self.calls.append(call)
            problems = check_blocks(form.get("blocks", []))
            if not form.get("text"):
                problems.append("webhook: text is required")
            self.violations += problems
            if problems:
                call.error = "invalid_payload"
                return 400, {}, "invalid_payload"
            return 200, {}, "ok"
        method = path.removeprefix("/api/")
        form = dict(parse_qsl(raw.decode())) if raw else {}
        call = Call(method, form, time.monotonic())
        self.calls.append(call)
        problems = check_request(method, headers, headers.get("content-type", ""), form)
        if problems:
            self.violations += [f"{method}: {p}" for p in problems]
            call.error = "invalid_arguments"
            return 200, {}, {"ok": False, "error": "invalid_arg_name"}
        if headers["authorization"] != f"Bearer {self.token}":
            call.error = "invalid_auth"
            return 200, {}, self._checked(method, {"ok": False, "error": "invalid_auth"})
        if self.answers:
            status, extra, body = self.answers.pop(0)
            call.status, call.error = status, (body or {}).get("error", str(status))
            return status, extra, self._checked(method, body) if body else {}
        return 200, {}, self._checked(method, self._effect(method, form, call))

    def _effect(self, method: str, form: dict[str, str], call: Call) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://acme.slack.com/",
                "team": "Acme",
                "user": "ticketbot",
                "team_id": self.team_id,
                "user_id": "U0BOT0001",
            }
        channel = form["channel"]
        if method == "chat.postMessage":
            ts = f"{1700000000 + len(self._messages)}.{len(self.calls):06d}"
            self._messages[(channel, ts)] = form
            message = {"type": "message", "text": form.get("text", ""), "ts": ts}
            return {"ok": True, "channel": channel, "ts": ts, "message": message}
        if (channel, form["ts"]) not in self._messages:
            call.error = "message_not_found"
            return {"ok": False, "error": "message_not_found"}
        self._messages[(channel, form["ts"])] = form
        text = form.get("text", "")
        return {
            "ok": True,
            "channel": channel,
            "ts": form["ts"],
            "text": text,
            "message": {"text": text},
        }

    def _checked(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        self.violations += check_answer(method, body)
        return body
