"""Anthropic Messages API, structured output through a forced tool call.

``POST {base_url}/v1/messages`` with one tool whose ``input_schema`` is the output schema and
``tool_choice`` forcing that tool: Claude then answers with a ``tool_use`` content block whose
``input`` is the output object (already parsed JSON).
"""

from __future__ import annotations

from typing import Any

from ticketcreator.ai.providers.base import CompletionRequest, Usage
from ticketcreator.ai.providers.http import HttpProvider, Reply

API_VERSION = "2023-06-01"
_UNUSABLE_STOP = {"max_tokens": "answer truncated at max_tokens", "refusal": "refused"}


class AnthropicProvider(HttpProvider):
    default_base_url = "https://api.anthropic.com"

    def _url(self, request: CompletionRequest) -> str:
        return f"{self._base_url}/v1/messages"

    def _headers(self) -> dict[str, str]:
        return {"x-api-key": self._secret() or "", "anthropic-version": API_VERSION}

    def _payload(self, request: CompletionRequest) -> dict[str, Any]:
        return {
            "model": request.model.name,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "system": request.system,
            "messages": [{"role": "user", "content": request.user}],
            "tools": [
                {
                    "name": request.schema_name,
                    "description": f"Record the answer as a {request.schema_name} object.",
                    "input_schema": request.json_schema,
                }
            ],
            "tool_choice": {"type": "tool", "name": request.schema_name},
        }

    def _reply(self, body: dict[str, Any], request: CompletionRequest) -> Reply:
        usage_body = body.get("usage") or {}
        usage = Usage(
            input_tokens=int(usage_body.get("input_tokens", 0)),
            output_tokens=int(usage_body.get("output_tokens", 0)),
        )
        model = str(body.get("model") or request.model.name)
        problem = _UNUSABLE_STOP.get(str(body.get("stop_reason")))
        tool_input = next(
            (
                block.get("input")
                for block in body["content"]
                if block.get("type") == "tool_use" and block.get("name") == request.schema_name
            ),
            None,
        )
        if problem is None and not isinstance(tool_input, dict):
            problem = "no tool_use block with the output"
        content = tool_input if isinstance(tool_input, dict) else None
        return Reply(content=content, model=model, usage=usage, problem=problem)
