"""OpenAI Chat Completions with JSON-schema structured output.

``POST {base_url}/chat/completions`` with ``response_format: {"type": "json_schema", ...,
"strict": true}``: the model is constrained to the output schema, so the answer is the JSON
text of the output model in ``choices[0].message.content``. A refusal arrives in
``message.refusal`` instead. Any OpenAI-compatible endpoint (Azure, proxies) works through
``base_url``.
"""

from __future__ import annotations

from typing import Any

from ticketcreator.ai.providers.base import CompletionRequest, Usage
from ticketcreator.ai.providers.http import HttpProvider, Reply

_UNUSABLE_FINISH = {
    "length": "answer truncated at max_tokens",
    "content_filter": "content filtered",
}


class OpenAIProvider(HttpProvider):
    default_base_url = "https://api.openai.com/v1"

    def _url(self, request: CompletionRequest) -> str:
        return f"{self._base_url}/chat/completions"

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        secret = self._secret()
        if secret:
            headers["Authorization"] = f"Bearer {secret}"
        if self._organization:
            headers["OpenAI-Organization"] = self._organization
        return headers

    def _payload(self, request: CompletionRequest) -> dict[str, Any]:
        return {
            "model": request.model.name,
            "messages": [
                {"role": "system", "content": request.system},
                {"role": "user", "content": request.user},
            ],
            "max_completion_tokens": request.max_tokens,
            "temperature": request.temperature,
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": request.schema_name,
                    "schema": request.json_schema,
                    "strict": True,
                },
            },
        }

    def _reply(self, body: dict[str, Any], request: CompletionRequest) -> Reply:
        usage_body = body.get("usage") or {}
        usage = Usage(
            input_tokens=int(usage_body.get("prompt_tokens", 0)),
            output_tokens=int(usage_body.get("completion_tokens", 0)),
        )
        model = str(body.get("model") or request.model.name)
        choice = body["choices"][0]
        message = choice["message"]
        problem = _UNUSABLE_FINISH.get(str(choice.get("finish_reason")))
        if message.get("refusal"):
            problem = f"refused: {message['refusal']}"
        return Reply(content=message.get("content"), model=model, usage=usage, problem=problem)
