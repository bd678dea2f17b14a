"""Each HTTP provider against its fake server: exact request shape, documented responses, errors."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from ticketcreator.ai.providers import (
    CompletionRequest,
    InvalidOutput,
    Provider,
    ProviderError,
    ProviderTimeout,
    RateLimited,
    Usage,
    build_http_providers,
    output_schema,
)
from ticketcreator.ai.providers.http import parse_retry_after, vendor_error_text
from ticketcreator.core.ai_config import AIConfig
from ticketcreator.core.config import ConfigError

from .conftest import CLOUD, GOOD, KEYS, SleepRecorder, TriageAnswer, make_config
from .fakes import FakeVendor

ROLE = {"openai": "fast"}
SYSTEM = "You triage support tickets."
USER = "Invoice INV-42 fails with HTTP 502 on https://billing.example.com/pay"


@pytest.fixture
def config() -> AIConfig:
    return make_config()


@pytest.fixture
def providers(
    config: AIConfig, client: httpx.AsyncClient, sleeps: SleepRecorder
) -> dict[str, Provider]:
    return {
        provider.name: provider for provider in build_http_providers(config, client, sleep=sleeps)
    }


def request_for(
    config: AIConfig, name: str, *, timeout: float | None = None, deadline: float | None = None
) -> CompletionRequest:
    role = ROLE.get(name, "primary")
    spec = config.ai_providers[name].models[role]
    return CompletionRequest(
        system=SYSTEM,
        user=USER,
        schema_name="TriageAnswer",
        json_schema=output_schema(TriageAnswer),
        role=role,
        model=spec,
        max_tokens=spec.max_tokens,
        temperature=spec.temperature,
        timeout=timeout if timeout is not None else spec.timeout,
        deadline=deadline,
    )


def sent(fake: FakeVendor, index: int = 0) -> dict[str, Any]:
    return fake.bodies[index]


# -- request and response shapes, per vendor ---------------------------------------------------


async def test_openai_chat_completions_with_strict_json_schema(
    config: AIConfig, providers: dict[str, Provider], fakes: dict[str, FakeVendor]
) -> None:
    fakes["openai"].answer(GOOD, input_tokens=200, output_tokens=50)

    completion = await providers["openai"].complete(request_for(config, "openai"), TriageAnswer)

    request = fakes["openai"].requests[0]
    assert str(request.url) == "https://openai.fake/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEYS['OPENAI_API_KEY']}"
    assert request.headers["openai-organization"] == "org-acme"
    assert request.headers["content-type"] == "application/json"
    assert sent(fakes["openai"]) == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}],
        "max_completion_tokens": 400,
        "temperature": 0.2,
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "TriageAnswer",
                "schema": output_schema(TriageAnswer),
                "strict": True,
            },
        },
    }
    assert completion.value == TriageAnswer.model_validate(GOOD)
    assert completion.provider == "openai"
    assert completion.model == "gpt-4o-mini-2024-07-18"
    assert completion.usage == Usage(input_tokens=200, output_tokens=50)
    assert completion.cost == pytest.approx(250 / 1000 * 0.002)
    assert completion.latency_ms >= 0


async def test_anthropic_messages_with_forced_tool(
    config: AIConfig, providers: dict[str, Provider], fakes: dict[str, FakeVendor]
) -> None:
    fakes["anthropic"].answer(GOOD, input_tokens=300, output_tokens=100)

    completion = await providers["anthropic"].complete(
        request_for(config, "anthropic"), TriageAnswer
    )

    request = fakes["anthropic"].requests[0]
    assert str(request.url) == "https://anthropic.fake/v1/messages"
    assert request.headers["x-api-key"] == KEYS["ANTHROPIC_API_KEY"]
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request.headers
    assert sent(fakes["anthropic"]) == {
        "model": "claude-haiku-4-5",
        "max_tokens": 400,
        "temperature": 0.2,
        "system": SYSTEM,
        "messages": [{"role": "user", "content": USER}],
        "tools": [
            {
                "name": "TriageAnswer",
                "description": "Record the answer as a TriageAnswer object.",
                "input_schema": output_schema(TriageAnswer),
            }
        ],
        "tool_choice": {"type": "tool", "name": "TriageAnswer"},
    }
    assert completion.value.entities[0].value == "502"
    assert completion.model == "claude-haiku-4-5"
    assert completion.usage == Usage(300, 100)
    assert completion.cost == pytest.approx(0.4 * 0.004)


async def test_gemini_generate_content_with_json_schema(
    config: AIConfig, providers: dict[str, Provider], fakes: dict[str, FakeVendor]
) -> None:
    fakes["google"].answer(GOOD, input_tokens=1000, output_tokens=1000)

    completion = await providers["google"].complete(request_for(config, "google"), TriageAnswer)

    request = fakes["google"].requests[0]
    assert str(request.url) == (
        "https://gemini.fake/v1beta/models/gemini-2.5-flash:generateContent"
    )
    assert request.headers["x-goog-api-key"] == KEYS["GOOGLE_API_KEY"]
    assert "key=" not in str(request.url)
    assert sent(fakes["google"]) == {
        "systemInstruction": {"parts": [{"text": SYSTEM}]},
        "contents": [{"role": "user", "parts": [{"text": USER}]}],
        "generationConfig": {
            "temperature": 0.2,
            "maxOutputTokens": 400,
            "responseMimeType": "application/json",
            "responseJsonSchema": output_schema(TriageAnswer),
        },
    }
    assert completion.value.category == "Billing"
    assert completion.model == "gemini-2.5-flash"
    assert completion.cost == pytest.approx(2 * 0.001)


async def test_ollama_chat_with_format_schema(
    config: AIConfig, providers: dict[str, Provider], fakes: dict[str, FakeVendor]
) -> None:
    fakes["ollama"].answer(GOOD, input_tokens=26, output_tokens=298)

    completion = await providers["ollama"].complete(request_for(config, "ollama"), TriageAnswer)

    request = fakes["ollama"].requests[0]
    assert str(request.url) == "http://ollama.fake:11434/api/chat"
    assert "authorization" not in request.headers
    assert sent(fakes["ollama"]) == {
        "model": "llama3.1:8b",
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}],
        "format": output_schema(TriageAnswer),
        "stream": False,
        "options": {"temperature": 0.2, "num_predict": 400},
    }
    assert completion.value.priority == "high"
    assert completion.usage == Usage(26, 298)
    assert completion.cost == 0.0


async def test_gemini_thinking_tokens_are_billed_as_output(
    config: AIConfig, providers: dict[str, Provider], fakes: dict[str, FakeVendor]
) -> None:
    fakes["google"].body(
        {
            "candidates": [
                {
                    "content": {
                        "parts": [
                            {"text": "weighing the options", "thought": True},
                            {"text": json.dumps(GOOD)},
                        ],
                        "role": "model",
                    },
                    "finishReason": "STOP",
                }
            ],
            "usageMetadata": {
                "promptTokenCount": 100,
                "candidatesTokenCount": 40,
                "thoughtsTokenCount": 360,
            },
        }
    )
    completion = await providers["google"].complete(request_for(config, "google"), TriageAnswer)
    assert completion.usage == Usage(100, 400)
    assert completion.model == "gemini-2.5-flash"


# -- unusable answers ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", CLOUD)
async def test_broken_json_is_invalid_output_with_its_cost(
    name: str, config: AIConfig, providers: dict[str, Provider], fakes: dict[str, FakeVendor]
) -> None:
    fakes[name].answer('{"category": "Billing", "priority": ', input_tokens=500, output_tokens=500)

    with pytest.raises(InvalidOutput) as caught:
        await providers[name].complete(request_for(config, name), TriageAnswer)

    assert caught.value.usage == Usage(500, 500)
    spec = request_for(config, name).model
    assert caught.value.cost == pytest.approx(spec.cost_per_1k_tokens)
    assert len(fakes[name].requests) == 1


@pytest.mark.parametrize("name", CLOUD)
async def test_schema_mismatch_names_fields_but_not_values(
    name: str, config: AIConfig, providers: dict[str, Provider], fakes: dict[str, FakeVendor]
) -> None:
    fakes[name].answer({"category": "Billing", "priority": "whenever-ish", "confidence": 3})

    with pytest.raises(InvalidOutput) as caught:
        await providers[name].complete(request_for(config, name), TriageAnswer)

    message = str(caught.value)
    assert "priority" in message
    assert "confidence" in message
    assert "whenever-ish" not in message


@pytest.mark.parametrize(
    ("name", "body", "reason"),
    [
        (
            "openai",
            {
                "model": "gpt-4o-mini",
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": None,
                            "refusal": "I'm sorry, I cannot help with that.",
                        },
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5},
            },
            "refused",
        ),
        (
            "openai",
            {
                "model": "gpt-4o-mini",
                "choices": [
                    {
                        "message": {"role": "assistant", "content": '{"category": "Bil'},
                        "finish_reason": "length",
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 400},
            },
            "truncated",
        ),
        (
            "anthropic",
            {
                "type": "message",
                "model": "claude-haiku-4-5",
                "content": [{"type": "tool_use", "name": "TriageAnswer", "input": {}}],
                "stop_reason": "max_tokens",
                "usage": {"input_tokens": 10, "output_tokens": 400},
            },
            "truncated",
        ),
        (
            "anthropic",
            {
                "type": "message",
                "model": "claude-haiku-4-5",
                "content": [{"type": "text", "text": "Here is the category: Billing"}],
                "stop_reason": "end_turn",
                "usage": {"input_tokens": 10, "output_tokens": 5},
            },
            "no tool_use block",
        ),
        (
            "google",
            {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 9}},
            "blocked: SAFETY",
        ),
        (
            "google",
            {
                "candidates": [
                    {"content": {"parts": [{"text": "{}"}]}, "finishReason": "MAX_TOKENS"}
                ]
            },
            "finish reason MAX_TOKENS",
        ),
        (
            "ollama",
            {
                "model": "llama3.1:8b",
                "message": {"role": "assistant", "content": '{"cat'},
                "done": True,
                "done_reason": "length",
            },
            "truncated",
        ),
        ("ollama", {"model": "llama3.1:8b", "done": True}, "unexpected response shape"),
        ("openai", {"choices": []}, "unexpected response shape"),
    ],
)
async def test_refusals_truncations_and_odd_shapes_are_invalid_output(
    name: str,
    body: dict[str, Any],
    reason: str,
    config: AIConfig,
    providers: dict[str, Provider],
    fakes: dict[str, FakeVendor],
) -> None:
    fakes[name].body(body)

    with pytest.raises(InvalidOutput, match=reason):
        await providers[name].complete(request_for(config, name), TriageAnswer)


async def test_a_body_that_is_not_a_json_object_is_invalid_output(
    config: AIConfig, providers: dict[str, Provider], fakes: dict[str, FakeVendor]
) -> None:
    async def not_json(request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        return httpx.Response(200, text="<html>proxy page</html>")

    async def a_list(request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        return httpx.Response(200, json=[1, 2])

    fakes["openai"].turns.extend([not_json, a_list])
    request = request_for(config, "openai")
    with pytest.raises(InvalidOutput, match="not JSON"):
        await providers["openai"].complete(request, TriageAnswer)
    with pytest.raises(InvalidOutput, match="not a JSON object"):
        await providers["openai"].complete(request, TriageAnswer)


# -- errors, retries, rate limits and timeouts ---------------------------------------------------


@pytest.mark.parametrize("name", CLOUD)
async def test_client_errors_are_not_retried_and_carry_the_vendor_message(
    name: str,
    config: AIConfig,
    providers: dict[str, Provider],
    fakes: dict[str, FakeVendor],
    sleeps: SleepRecorder,
) -> None:
    fakes[name].error(400, "max_tokens: must be at most 8192")

    with pytest.raises(ProviderError) as caught:
        await providers[name].complete(request_for(config, name), TriageAnswer)

    assert caught.value.status == 400
    assert not caught.value.retryable
    assert "max_tokens: must be at most 8192" in str(caught.value)
    assert len(fakes[name].requests) == 1
    assert sleeps.delays == []


@pytest.mark.parametrize(
    ("name", "status"), [("openai", 500), ("anthropic", 529), ("google", 503), ("ollama", 500)]
)
async def test_server_errors_are_retried_with_exponential_backoff(
    name: str,
    status: int,
    config: AIConfig,
    providers: dict[str, Provider],
    fakes: dict[str, FakeVendor],
    sleeps: SleepRecorder,
) -> None:
    fakes[name].error(status, "overloaded")
    fakes[name].error(status, "overloaded")
    fakes[name].answer(GOOD)

    completion = await providers[name].complete(request_for(config, name), TriageAnswer)

    assert completion.value.category == "Billing"
    assert sleeps.delays == [0.5, 1.0]
    assert len(fakes[name].requests) == 3


@pytest.mark.parametrize("name", CLOUD)
async def test_retries_stop_after_max_retries(
    name: str,
    config: AIConfig,
    providers: dict[str, Provider],
    fakes: dict[str, FakeVendor],
    sleeps: SleepRecorder,
) -> None:
    for _ in range(5):
        fakes[name].error(500, "internal error")

    with pytest.raises(ProviderError) as caught:
        await providers[name].complete(request_for(config, name), TriageAnswer)

    assert caught.value.retryable
    assert caught.value.status == 500
    assert len(fakes[name].requests) == 3  # max_retries: 2
    assert sleeps.delays == [0.5, 1.0]


@pytest.mark.parametrize("name", CLOUD)
async def test_429_honours_retry_after_then_succeeds(
    name: str,
    config: AIConfig,
    providers: dict[str, Provider],
    fakes: dict[str, FakeVendor],
    sleeps: SleepRecorder,
) -> None:
    fakes[name].error(429, "rate limit reached", headers={"retry-after": "3"})
    fakes[name].answer(GOOD)

    completion = await providers[name].complete(request_for(config, name), TriageAnswer)

    assert completion.value.priority == "high"
    assert sleeps.delays == [3.0]


async def test_429_without_retry_after_backs_off_and_gives_up_typed(
    config: AIConfig,
    providers: dict[str, Provider],
    fakes: dict[str, FakeVendor],
    sleeps: SleepRecorder,
) -> None:
    for _ in range(3):
        fakes["anthropic"].error(429, "Number of request tokens has exceeded your rate limit")

    with pytest.raises(RateLimited, match="rate_limit_error") as caught:
        await providers["anthropic"].complete(request_for(config, "anthropic"), TriageAnswer)

    assert caught.value.retry_after is None
    assert sleeps.delays == [0.5, 1.0]


async def test_retry_after_beyond_the_deadline_is_not_waited_for(
    config: AIConfig,
    providers: dict[str, Provider],
    fakes: dict[str, FakeVendor],
    sleeps: SleepRecorder,
) -> None:
    fakes["openai"].error(429, "slow down", headers={"retry-after": "120"})
    deadline = asyncio.get_running_loop().time() + 5

    with pytest.raises(RateLimited) as caught:
        await providers["openai"].complete(
            request_for(config, "openai", deadline=deadline), TriageAnswer
        )

    assert caught.value.retry_after == 120
    assert sleeps.delays == []


@pytest.mark.parametrize("name", CLOUD)
async def test_a_hanging_server_times_out_per_attempt_and_is_retried(
    name: str,
    config: AIConfig,
    providers: dict[str, Provider],
    fakes: dict[str, FakeVendor],
    sleeps: SleepRecorder,
) -> None:
    fakes[name].hang(5)
    fakes[name].answer(GOOD)

    completion = await providers[name].complete(
        request_for(config, name, timeout=0.05), TriageAnswer
    )

    assert completion.value.category == "Billing"
    assert sleeps.delays == [0.5]


async def test_timeouts_exhaust_into_provider_timeout(
    config: AIConfig, providers: dict[str, Provider], fakes: dict[str, FakeVendor]
) -> None:
    for _ in range(3):
        fakes["google"].hang(5)

    with pytest.raises(ProviderTimeout, match=r"no answer within 0\.05s"):
        await providers["google"].complete(
            request_for(config, "google", timeout=0.05), TriageAnswer
        )
    assert len(fakes["google"].requests) == 3


async def test_httpx_timeouts_are_provider_timeouts(
    config: AIConfig, providers: dict[str, Provider], fakes: dict[str, FakeVendor]
) -> None:
    for _ in range(3):
        fakes["ollama"].drop(httpx.ReadTimeout)

    with pytest.raises(ProviderTimeout):
        await providers["ollama"].complete(request_for(config, "ollama"), TriageAnswer)


async def test_an_expired_deadline_sends_nothing(
    config: AIConfig, providers: dict[str, Provider], fakes: dict[str, FakeVendor]
) -> None:
    deadline = asyncio.get_running_loop().time() - 1

    with pytest.raises(ProviderTimeout, match="max_generation_time"):
        await providers["openai"].complete(
            request_for(config, "openai", deadline=deadline), TriageAnswer
        )
    assert fakes["openai"].requests == []


@pytest.mark.parametrize("name", CLOUD)
async def test_connection_failures_are_retried_then_reported(
    name: str,
    config: AIConfig,
    providers: dict[str, Provider],
    fakes: dict[str, FakeVendor],
    sleeps: SleepRecorder,
) -> None:
    fakes[name].down(3)

    with pytest.raises(ProviderError, match="connection failed: ConnectError") as caught:
        await providers[name].complete(request_for(config, name), TriageAnswer)

    assert caught.value.retryable
    assert caught.value.status is None
    assert len(fakes[name].requests) == 3


# -- secrets ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["openai", "anthropic", "google"])
async def test_a_rejected_key_never_appears_in_the_error(
    name: str, client: httpx.AsyncClient, fakes: dict[str, FakeVendor]
) -> None:
    fakes[name].api_key = "the-key-the-vendor-expects"
    config = make_config()
    (provider,) = [p for p in build_http_providers(config, client) if p.name == name]

    with pytest.raises(ProviderError) as caught:
        await provider.complete(request_for(config, name), TriageAnswer)

    assert caught.value.status in {400, 401}
    assert not caught.value.retryable
    for text in (str(caught.value), repr(caught.value), caught.value.message, repr(provider)):
        assert not any(key in text for key in KEYS.values())
    if name == "openai":
        assert "Incorrect API key provided: [REDACTED]" in str(caught.value)


async def test_a_key_file_is_read_for_the_header(
    tmp_path: Any, client: httpx.AsyncClient, fakes: dict[str, FakeVendor]
) -> None:
    key_file = tmp_path / "anthropic.key"
    key_file.write_text(KEYS["ANTHROPIC_API_KEY"] + "\n")

    def use_file(raw: dict[str, Any]) -> None:
        anthropic = raw["ai_providers"]["anthropic"]
        anthropic["api_key"] = None
        anthropic["api_key_file"] = str(key_file)

    config = make_config(use_file)
    fakes["anthropic"].answer(GOOD)
    (provider,) = [p for p in build_http_providers(config, client) if p.name == "anthropic"]
    await provider.complete(request_for(config, "anthropic"), TriageAnswer)
    assert fakes["anthropic"].requests[0].headers["x-api-key"] == KEYS["ANTHROPIC_API_KEY"]


# -- building providers and small helpers -------------------------------------------------------


def test_only_enabled_http_providers_are_built(client: httpx.AsyncClient) -> None:
    def disable_google(raw: dict[str, Any]) -> None:
        raw["ai_providers"]["google"]["enabled"] = False
        raw["ai_strategy"]["fallback_chain"].remove("google")

    providers = {p.name: p for p in build_http_providers(make_config(disable_google), client)}
    assert sorted(providers) == ["anthropic", "ollama", "openai"]
    assert all(provider.remote for provider in providers.values())
    assert repr(providers["ollama"]) == (
        "OllamaProvider(name='ollama', base_url='http://ollama.fake:11434')"
    )


def test_an_enabled_unknown_provider_is_a_config_error(client: httpx.AsyncClient) -> None:
    def add_mistral(raw: dict[str, Any]) -> None:
        raw["ai_providers"]["mistral"] = {"enabled": True, "api_key": "x", "models": {}}

    with pytest.raises(ConfigError, match=r"ai_providers\.mistral"):
        build_http_providers(make_config(add_mistral), client)


def test_default_base_urls_are_the_vendors(client: httpx.AsyncClient) -> None:
    def no_urls(raw: dict[str, Any]) -> None:
        for name in CLOUD:
            raw["ai_providers"][name]["base_url"] = None

    providers = {p.name: p for p in build_http_providers(make_config(no_urls), client)}
    assert "https://api.openai.com/v1" in repr(providers["openai"])
    assert "https://api.anthropic.com" in repr(providers["anthropic"])
    assert "https://generativelanguage.googleapis.com" in repr(providers["google"])
    assert "http://127.0.0.1:11434" in repr(providers["ollama"])


async def test_ollama_behind_an_authenticating_proxy_sends_a_bearer_token(
    client: httpx.AsyncClient, fakes: dict[str, FakeVendor]
) -> None:
    def with_key(raw: dict[str, Any]) -> None:
        raw["ai_providers"]["ollama"]["api_key"] = "proxy-token-123"

    config = make_config(with_key)
    fakes["ollama"].answer(GOOD)
    (ollama,) = [p for p in build_http_providers(config, client) if p.name == "ollama"]
    await ollama.complete(request_for(config, "ollama"), TriageAnswer)
    assert fakes["ollama"].requests[0].headers["authorization"] == "Bearer proxy-token-123"


def test_retry_after_forms() -> None:
    from datetime import UTC, datetime

    now = datetime(2025, 3, 15, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after(httpx.Headers({"Retry-After": "7"})) == 7.0
    assert parse_retry_after(httpx.Headers({"Retry-After": "-3"})) == 0.0
    assert parse_retry_after(
        httpx.Headers({"Retry-After": "Sat, 15 Mar 2025 12:00:30 GMT"}), now
    ) == pytest.approx(30)
    assert parse_retry_after(httpx.Headers({"Retry-After": "soon"})) is None
    assert parse_retry_after(httpx.Headers({})) is None


def test_vendor_error_text_reads_every_documented_shape() -> None:
    def text(status: int, **kwargs: Any) -> str:
        return vendor_error_text(httpx.Response(status, **kwargs))

    assert text(502, text="<html>Bad Gateway</html>") == "<html>Bad Gateway</html>"
    assert text(404, json={"error": "model 'x' not found"}) == "model 'x' not found"
    assert text(
        400, json={"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}}
    ) == ("INVALID_ARGUMENT: bad")
    assert text(400, json={"error": {"message": "plain"}}) == "plain"
    assert text(500, json={"detail": "other"}) == '{"detail":"other"}'
