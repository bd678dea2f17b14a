"""Google Gemini ``generateContent`` with a JSON response schema.

``POST {base_url}/v1beta/models/{model}:generateContent`` with
``generationConfig.responseMimeType: application/json`` and ``responseJsonSchema`` (the JSON
Schema form, which accepts the same schema the other providers get). The key travels in the
``x-goog-api-key`` header, never in the URL, so it cannot leak through request logs.
"""

from __future__ import annotations

from typing import Any

from ticketcreator.ai.providers.base import CompletionRequest, Usage
from ticketcreator.ai.providers.http import HttpProvider, Reply

_USABLE_FINISH = {"STOP", "FINISH_REASON_UNSPECIFIED"}


class GoogleProvider(HttpProvider):
    default_base_url = "https://generativelanguage.googleapis.com"

    def _url(self, request: CompletionRequest) -> str:
        return f"{self._base_url}/v1beta/models/{request.model.name}:generateContent"

    def _headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self._secret() or ""}

    def _payload(self, request: CompletionRequest) -> dict[str, Any]:
        return {
            "systemInstruction": {"parts": [{"text": request.system}]},
            "contents": [{"role": "user", "parts": [{"text": request.user}]}],
            "generationConfig": {
                "temperature": request.temperature,
                "maxOutputTokens": request.max_tokens,
                "responseMimeType": "application/json",
                "responseJsonSchema": request.json_schema,
            },
        }

    def _reply(self, body: dict[str, Any], request: CompletionRequest) -> Reply:
        usage_body = body.get("usageMetadata") or {}
        # Thinking tokens of 2.5 models are billed as output.
        usage = Usage(
            input_tokens=int(usage_body.get("promptTokenCount", 0)),
            output_tokens=int(usage_body.get("candidatesTokenCount", 0))
            + int(usage_body.get("thoughtsTokenCount", 0)),
        )
        model = str(body.get("modelVersion") or request.model.name)
        candidates = body.get("candidates") or []
        if not candidates:
            feedback = body.get("promptFeedback") or {}
            reason = feedback.get("blockReason", "no candidates")
            return Reply(content=None, model=model, usage=usage, problem=f"blocked: {reason}")
        candidate = candidates[0]
        finish = candidate.get("finishReason", "STOP")
        problem = None if finish in _USABLE_FINISH else f"finish reason {finish}"
        parts = candidate.get("content", {}).get("parts", [])
        text = "".join(str(part.get("text", "")) for part in parts if not part.get("thought"))
        return Reply(content=text or None, model=model, usage=usage, problem=problem)
