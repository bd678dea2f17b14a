"""Ollama's chat API with a JSON schema as ``format``.

``POST {base_url}/api/chat`` with ``format: <schema>`` and ``stream: false``: the server
constrains generation to the schema and returns the JSON text in ``message.content``. Ollama
needs no key; it runs on the customer's own machines, at no per-token cost unless configured.
"""

from __future__ import annotations

from typing import Any

from ticketcreator.ai.providers.base import CompletionRequest, Usage
from ticketcreator.ai.providers.http import HttpProvider, Reply


class OllamaProvider(HttpProvider):
    default_base_url = "http://127.0.0.1:11434"

    def _url(self, request: CompletionRequest) -> str:
        return f"{self._base_url}/api/chat"

    def _headers(self) -> dict[str, str]:
        secret = self._secret()
        return {"Authorization": f"Bearer {secret}"} if secret else {}

    def _payload(self, request: CompletionRequest) -> dict[str, Any]:
        return {
            "model": request.model.name,
            "messages": [
                {"role": "system", "content": request.system},
                {"role": "user", "content": request.user},
            ],
            "format": request.json_schema,
            "stream": False,
            "options": {"temperature": request.temperature, "num_predict": request.max_tokens},
        }

    def _reply(self, body: dict[str, Any], request: CompletionRequest) -> Reply:
        usage = Usage(
            input_tokens=int(body.get("prompt_eval_count", 0)),
            output_tokens=int(body.get("eval_count", 0)),
        )
        model = str(body.get("model") or request.model.name)
        problem = "answer truncated at max_tokens" if body.get("done_reason") == "length" else None
        return Reply(
            content=body["message"].get("content"), model=model, usage=usage, problem=problem
        )
