"""A fake Microsoft Teams on 127.0.0.1: Entra's token endpoint and the Bot Connector's
activity calls of a conversation.

Token requests (``POST /{tenant}/oauth2/v2.0/token``) must be the client-credentials grant
for the Bot Connector's scope, form-encoded; a known app and secret get a token, anything
else ``401 invalid_client`` as Entra answers it.

Bot Connector calls are checked against Microsoft's description
(``/work/shared/contracts/teams/botframework-connector-activity.swagger2.json``): the path
and method of ``Conversations_SendToConversation`` or ``Conversations_UpdateActivity``, the
token the fake issued in ``Authorization: Bearer``, a JSON body valid against the
``Activity`` definition with no property the definition does not declare, and each card
attachment against the Adaptive Card 1.5 schema. Violations are recorded (tests assert there
are none) and answered 400 with the description's ``ErrorResponse``. Answers are the
description's ``ResourceResponse``. Faults: ``statuses`` queues what the next activity calls
get, and an activity deleted from ``activities`` is gone (404 on update), as when a person
deletes the card in Teams.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

from jsonschema import Draft4Validator, Draft6Validator
from starlette.types import Receive, Scope, Send

from tests.support.local_server import read_request

CONTRACTS = Path(os.environ.get("TC_CONTRACTS_DIR", "/work/shared/contracts")) / "teams"
SPEC: dict[str, Any] = json.loads(
    (CONTRACTS / "botframework-connector-activity.swagger2.json").read_text()
)
CARD_SCHEMA: dict[str, Any] = json.loads(
    (Path(__file__).parent / "contracts" / "adaptive-card-1.5.0.schema.json").read_text()
)
SCOPE = "https://api.botframework.com/.default"
_ACTIVITIES = "/v3/conversations/{conversationId}/activities"
_ACTIVITY = "/v3/conversations/{conversationId}/activities/{activityId}"


def _definition(name: str) -> Draft4Validator:
    """A validator of one definition of the description, its references resolved in it."""
    return Draft4Validator({**SPEC["definitions"][name], "definitions": SPEC["definitions"]})


ACTIVITY = _definition("Activity")
RESOURCE_RESPONSE = _definition("ResourceResponse")
ERROR_RESPONSE = _definition("ErrorResponse")


@dataclass
class Call:
    method: str
    conversation_id: str
    activity_id: str | None
    activity: dict[str, Any]


@dataclass
class FakeTeams:
    port: int
    app_id: str = "6f1c2b9e-3d4a-4f5b-8c7d-0e1f2a3b4c5d"
    app_secret: str = "bot-secret-" + "x" * 24
    tenant_id: str = "contoso.onmicrosoft.com"
    tokens_issued: list[str] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    # conversation id -> activity id -> the activity as it is now
    activities: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    statuses: list[int] = field(default_factory=list)  # answered in order, then as usual
    violations: list[str] = field(default_factory=list)

    @property
    def service_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/amer/"

    def bot(self, conversation_id: str = "19:triage@thread.tacv2") -> dict[str, str]:
        """The ``teams_bot`` of an endpoint posting as this fake's app."""
        return {
            "app_id": self.app_id,
            "app_secret": self.app_secret,
            "tenant_id": self.tenant_id,
            "conversation_id": conversation_id,
        }

    def cards(self, conversation_id: str = "19:triage@thread.tacv2") -> list[dict[str, Any]]:
        """The cards shown in a conversation now, oldest first."""
        return [
            activity["attachments"][0]["content"]
            for activity in self.activities.get(conversation_id, {}).values()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers, body = await read_request(scope, receive)
        path: str = scope["path"]
        if path.endswith("/oauth2/v2.0/token"):
            status, answer = self._token(path, headers, body)
        else:
            status, answer = self._activity(scope["method"], path, headers, body)
        payload = json.dumps(answer).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    def _token(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        form = dict(parse_qsl(body.decode()))
        self.token_requests.append(form)
        if not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            self.violations.append(f"token request content type {headers.get('content-type')}")
        expected = {
            "grant_type": "client_credentials",
            "client_id": self.app_id,
            "client_secret": self.app_secret,
            "scope": SCOPE,
        }
        if path != f"/{self.tenant_id}/oauth2/v2.0/token" or form != expected:
            return 401, {
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret provided.",
            }
        token = secrets.token_urlsafe(24)
        self.tokens_issued.append(token)
        return 200, {"token_type": "Bearer", "expires_in": 3599, "access_token": token}

    def _activity(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        problems = self._check(method, path, headers, body)
        if problems:
            self.violations.extend(problems)
            return 400, self._error("BadArgument", "; ".join(problems))
        conversation_id, activity_id = self._route(path)
        activity = json.loads(body)
        self.calls.append(Call(method, conversation_id, activity_id, activity))
        if self.statuses:
            status = self.statuses.pop(0)
            return status, self._error("ServiceError", f"answered {status}")
        shown = self.activities.setdefault(conversation_id, {})
        if method == "PUT":
            assert activity_id is not None
            if activity_id not in shown:
                return 404, self._error("ActivityNotFoundInConversation", "Unknown activity")
        else:
            activity_id = f"1:{secrets.token_hex(8)}"
        shown[activity_id] = activity
        answer = {"id": activity_id}
        assert RESOURCE_RESPONSE.is_valid(answer)
        return 200 if method == "PUT" else 201, answer

    def _route(self, path: str) -> tuple[str, str | None]:
        parts = path.removeprefix("/amer").split("/")
        # "", "v3", "conversations", "{conversationId}", "activities"[, "{activityId}"]
        activity_id = unquote(parts[5]) if len(parts) == 6 else None
        return unquote(parts[3]), activity_id

    def _check(self, method: str, path: str, headers: dict[str, str], body: bytes) -> list[str]:
        problems = []
        parts = path.removeprefix("/amer").split("/")
        template = {5: _ACTIVITIES, 6: _ACTIVITY}.get(len(parts))
        shaped = parts[:3] == ["", "v3", "conversations"] and parts[4:5] == ["activities"]
        if template is None or not shaped:
            return [f"no operation at {path}"]
        operation = SPEC["paths"][template].get(method.lower())
        if operation is None or operation["operationId"] not in (
            "Conversations_SendToConversation",
            "Conversations_UpdateActivity",
        ):
            return [f"{method} {template} is not an operation the product may call"]
        token = headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.tokens_issued:
            problems.append("no token of the bot in Authorization")
        if headers.get("content-type") not in operation["consumes"]:
            problems.append(f"content type {headers.get('content-type')} not consumed")
        try:
            activity = json.loads(body)
        except ValueError:
            return [*problems, "the body is not JSON"]
        problems += [f"Activity: {error.message}" for error in ACTIVITY.iter_errors(activity)]
        declared = set(SPEC["definitions"]["Activity"]["properties"])
        problems += [f"Activity has no property {name!r}" for name in set(activity) - declared]
        if activity.get("type") != "message":
            problems.append("the activity is not a message")
        for attachment in activity.get("attachments", []):
            if attachment.get("contentType") != "application/vnd.microsoft.card.adaptive":
                problems.append(f"attachment {attachment.get('contentType')}")
                continue
            card_errors = Draft6Validator(CARD_SCHEMA).iter_errors(attachment.get("content"))
            problems += [f"card: {error.message}" for error in card_errors]
        if len(body) > 28 * 1024:
            problems.append(f"{len(body)} bytes: over Teams' message size limit")
        return problems

    def _error(self, code: str, message: str) -> dict[str, Any]:
        answer = {"error": {"code": code, "message": message}}
        assert ERROR_RESPONSE.is_valid(answer)
        return answer
