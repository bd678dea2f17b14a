"""Fake vendor servers mounted with respx on the configured base URLs.

Each fake speaks its API's documented wire format: it checks authentication and the request
fields the real service requires (answering with that vendor's error JSON when they are
wrong), and answers scripted turns with that vendor's documented response body. Tests script
turns (a model answer, an error, a hang, a connection failure) and inspect ``requests``.
"""

from __future__ import annotations

import asyncio
import json
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import respx

Turn = Callable[[httpx.Request, dict[str, Any]], Awaitable[httpx.Response]]
Answer = dict[str, Any] | str


class FakeVendor(ABC):
    """A scripted fake of one vendor API at ``base_url``."""

    path: str

    def __init__(self, mock: respx.MockRouter, base_url: str, api_key: str | None) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.requests: list[httpx.Request] = []
        self.turns: deque[Turn] = deque()
        self.route = mock.post(url__regex=rf"^{self.base_url}{self.path}$").mock(
            side_effect=self._handle
        )

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(request.content) for request in self.requests]

    # -- scripting -------------------------------------------------------------------------

    def answer(self, value: Answer, *, input_tokens: int = 120, output_tokens: int = 30) -> None:
        """The model answers ``value``: an object, or raw text (e.g. broken JSON)."""

        async def turn(request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
            return httpx.Response(200, json=self.success(body, value, input_tokens, output_tokens))

        self.turns.append(turn)

    def body(self, payload: dict[str, Any], status: int = 200) -> None:
        """A literal response body (refusals, safety blocks, odd shapes)."""

        async def turn(request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
            return httpx.Response(status, json=payload)

        self.turns.append(turn)

    def error(
        self, status: int, message: str = "fake failure", headers: dict[str, str] | None = None
    ) -> None:
        async def turn(request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
            return httpx.Response(
                status, json=self.error_body(status, message), headers=headers or {}
            )

        self.turns.append(turn)

    def hang(self, seconds: float, then: Answer | None = None) -> None:
        """Answer only after ``seconds`` (a slow or stuck server)."""

        async def turn(request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
            await asyncio.sleep(seconds)
            return httpx.Response(200, json=self.success(body, then or {}, 1, 1))

        self.turns.append(turn)

    def drop(self, exception: type[httpx.TransportError] = httpx.ConnectError) -> None:
        """The connection fails (refused, reset)."""

        async def turn(request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
            raise exception("connection refused", request=request)

        self.turns.append(turn)

    def down(self, times: int = 10) -> None:
        for _ in range(times):
            self.drop()

    # -- the server ------------------------------------------------------------------------

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        try:
            body = json.loads(request.content)
        except ValueError:
            return httpx.Response(400, json=self.error_body(400, "body is not JSON"))
        rejection = self.check(request, body)
        if rejection is not None:
            return rejection
        if not self.turns:
            return httpx.Response(500, json=self.error_body(500, "fake: nothing scripted"))
        return await self.turns.popleft()(request, body)

    @abstractmethod
    def check(self, request: httpx.Request, body: dict[str, Any]) -> httpx.Response | None:
        """The vendor's own validation: authentication and required fields."""

    @abstractmethod
    def success(
        self, body: dict[str, Any], value: Answer, input_tokens: int, output_tokens: int
    ) -> dict[str, Any]: ...

    @abstractmethod
    def error_body(self, status: int, message: str) -> dict[str, Any]: ...


def _text(value: Answer) -> str:
    return value if isinstance(value, str) else json.dumps(value)


class FakeOpenAI(FakeVendor):
    """``POST /chat/completions`` (https://platform.openai.com/docs/api-reference/chat)."""

    path = "/chat/completions"
    _types = {400: "invalid_request_error", 401: "invalid_request_error", 429: "requests"}

    def check(self, request: httpx.Request, body: dict[str, Any]) -> httpx.Response | None:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            given = request.headers.get("authorization", "").removeprefix("Bearer ")
            # The real service echoes (part of) the key it got: the client must scrub it.
            return httpx.Response(
                401,
                json={
                    "error": {
                        "message": f"Incorrect API key provided: {given}.",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "invalid_api_key",
                    }
                },
            )
        schema = body.get("response_format", {}).get("json_schema", {})
        if not isinstance(body.get("messages"), list) or "model" not in body:
            return httpx.Response(400, json=self.error_body(400, "missing model or messages"))
        if not {"name", "schema"} <= set(schema):
            return httpx.Response(400, json=self.error_body(400, "invalid response_format"))
        return None

    def success(
        self, body: dict[str, Any], value: Answer, input_tokens: int, output_tokens: int
    ) -> dict[str, Any]:
        return {
            "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
            "object": "chat.completion",
            "created": 1741569952,
            "model": f"{body['model']}-2024-07-18",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": _text(value),
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": input_tokens,
                "completion_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            },
            "service_tier": "default",
            "system_fingerprint": "fp_06737a9306",
        }

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        kind = self._types.get(status, "server_error")
        return {"error": {"message": message, "type": kind, "param": None, "code": None}}


class FakeAnthropic(FakeVendor):
    """``POST /v1/messages`` (https://docs.anthropic.com/en/api/messages)."""

    path = "/v1/messages"
    _types = {
        400: "invalid_request_error",
        401: "authentication_error",
        404: "not_found_error",
        429: "rate_limit_error",
        529: "overloaded_error",
    }

    def check(self, request: httpx.Request, body: dict[str, Any]) -> httpx.Response | None:
        if request.headers.get("x-api-key") != self.api_key:
            return httpx.Response(401, json=self.error_body(401, "invalid x-api-key"))
        if request.headers.get("anthropic-version") != "2023-06-01":
            return httpx.Response(400, json=self.error_body(400, "anthropic-version: missing"))
        missing = {"model", "max_tokens", "messages"} - set(body)
        if missing:
            return httpx.Response(400, json=self.error_body(400, f"{sorted(missing)}: required"))
        return None

    def success(
        self, body: dict[str, Any], value: Answer, input_tokens: int, output_tokens: int
    ) -> dict[str, Any]:
        if isinstance(value, str):
            content: list[dict[str, Any]] = [{"type": "text", "text": value}]
            stop = "end_turn"
        else:
            tool = body["tool_choice"]["name"]
            content = [
                {
                    "type": "tool_use",
                    "id": "toolu_01A09q90qw90lq917835",
                    "name": tool,
                    "input": value,
                }
            ]
            stop = "tool_use"
        return {
            "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        }

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {
            "type": "error",
            "error": {"type": self._types.get(status, "api_error"), "message": message},
            "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy",
        }


class FakeGemini(FakeVendor):
    """``POST /v1beta/models/{model}:generateContent`` (https://ai.google.dev/api/generate-content)."""

    path = r"/v1beta/models/[^/:]+:generateContent"
    _statuses = {
        400: "INVALID_ARGUMENT",
        403: "PERMISSION_DENIED",
        404: "NOT_FOUND",
        429: "RESOURCE_EXHAUSTED",
        503: "UNAVAILABLE",
    }

    def check(self, request: httpx.Request, body: dict[str, Any]) -> httpx.Response | None:
        if request.headers.get("x-goog-api-key") != self.api_key:
            return httpx.Response(
                400, json=self.error_body(400, "API key not valid. Please pass a valid API key.")
            )
        if not isinstance(body.get("contents"), list):
            return httpx.Response(400, json=self.error_body(400, "contents is required"))
        return None

    def success(
        self, body: dict[str, Any], value: Answer, input_tokens: int, output_tokens: int
    ) -> dict[str, Any]:
        return {
            "candidates": [
                {
                    "content": {"parts": [{"text": _text(value)}], "role": "model"},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": input_tokens,
                "candidatesTokenCount": output_tokens,
                "totalTokenCount": input_tokens + output_tokens,
            },
            "modelVersion": "gemini-2.5-flash",
            "responseId": "mAitaLmkHPPlz7IPvtfUqQ4",
        }

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {
            "error": {
                "code": status,
                "message": message,
                "status": self._statuses.get(status, "INTERNAL"),
            }
        }


class FakeOllama(FakeVendor):
    """``POST /api/chat`` (https://github.com/ollama/ollama/blob/main/docs/api.md)."""

    path = "/api/chat"

    def check(self, request: httpx.Request, body: dict[str, Any]) -> httpx.Response | None:
        if body.get("stream", True) is not False:
            return httpx.Response(400, json={"error": "fake: only non-streaming is served"})
        if "model" not in body:
            return httpx.Response(400, json={"error": "model is required"})
        return None

    def success(
        self, body: dict[str, Any], value: Answer, input_tokens: int, output_tokens: int
    ) -> dict[str, Any]:
        return {
            "model": body["model"],
            "created_at": "2025-05-12T10:21:12.425441Z",
            "message": {"role": "assistant", "content": _text(value)},
            "done_reason": "stop",
            "done": True,
            "total_duration": 4883583458,
            "load_duration": 1334875,
            "prompt_eval_count": input_tokens,
            "prompt_eval_duration": 342546000,
            "eval_count": output_tokens,
            "eval_duration": 4535599000,
        }

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"error": message}
