"""Fixtures for the provider tests: a config with every provider on fake endpoints."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Literal

import httpx
import pytest
import respx
from pydantic import BaseModel, Field

from ticketcreator.ai.providers import (
    Completion,
    CompletionRequest,
    InMemorySpendLedger,
    Router,
    Usage,
    build_http_providers,
)
from ticketcreator.core.ai_config import AIConfig, parse_ai_config

from .fakes import FakeAnthropic, FakeGemini, FakeOllama, FakeOpenAI, FakeVendor

KEYS = {
    "OPENAI_API_KEY": "sk-proj-TESTKEY0penai0000000000000001",
    "ANTHROPIC_API_KEY": "sk-ant-api03-TESTKEYanthropic000000002",
    "GOOGLE_API_KEY": "AIzaSyTESTKEYgoogle00000000000000003",
}
BASE_URLS = {
    "openai": "https://openai.fake/v1",
    "anthropic": "https://anthropic.fake",
    "google": "https://gemini.fake",
    "ollama": "http://ollama.fake:11434",
}
CLOUD = ("openai", "anthropic", "google", "ollama")


class Entity(BaseModel):
    kind: Literal["url", "error_code", "http_status"]
    value: str


class TriageAnswer(BaseModel):
    """A representative output model: enums, bounds, nested objects."""

    category: str
    priority: Literal["low", "medium", "high", "urgent"]
    confidence: float = Field(ge=0, le=1)
    tags: list[str] = Field(default_factory=list)
    entities: list[Entity] = Field(default_factory=list)


GOOD = {
    "category": "Billing",
    "priority": "high",
    "confidence": 0.91,
    "tags": ["invoice"],
    "entities": [{"kind": "http_status", "value": "502"}],
}


def raw_config() -> dict[str, Any]:
    def model(name: str, cost: float, timeout: float = 10.0) -> dict[str, Any]:
        return {
            "name": name,
            "max_tokens": 400,
            "temperature": 0.2,
            "timeout": timeout,
            "cost_per_1k_tokens": cost,
        }

    return {
        "ai_providers": {
            "local": {"enabled": True, "models": {"triage": model("minilm-triage", 0.0, 5)}},
            "openai": {
                "enabled": True,
                "api_key": "${OPENAI_API_KEY}",
                "base_url": BASE_URLS["openai"],
                "organization": "org-acme",
                "models": {"fast": model("gpt-4o-mini", 0.002)},
            },
            "anthropic": {
                "enabled": True,
                "api_key": "${ANTHROPIC_API_KEY}",
                "base_url": BASE_URLS["anthropic"],
                "models": {"primary": model("claude-haiku-4-5", 0.004)},
            },
            "google": {
                "enabled": True,
                "api_key": "${GOOGLE_API_KEY}",
                "base_url": BASE_URLS["google"],
                "models": {"primary": model("gemini-2.5-flash", 0.001)},
            },
            "ollama": {
                "enabled": True,
                "base_url": BASE_URLS["ollama"],
                "models": {"primary": model("llama3.1:8b", 0.0)},
            },
        },
        "ai_strategy": {
            "primary_provider": "openai",
            "fallback_chain": ["anthropic", "google", "ollama", "local"],
            "model_strategy": {"openai": "fast", "local": "triage"},
            "max_retries": 2,
            "retry_delay": 0.5,
            "performance": {
                "max_generation_time": 5.0,
                "preferred_generation_time": 2.0,
                "auto_fallback_on_timeout": True,
            },
            "cost_limits": {
                "max_cost_per_ticket": 0.10,
                "daily_cost_limit": 5.0,
                "monthly_cost_limit": 50.0,
            },
        },
        "categorization_agent": {
            "model_provider": "anthropic",
            "model_name": "primary",
            "temperature": 0.0,
            "max_tokens": 300,
            "timeout": 8,
            "system_prompt_template": "categorization_default",
            "confidence_threshold": 0.6,
        },
        "prompt_templates": {"categorization_default": "Choose one category."},
    }


def make_config(mutate: Callable[[dict[str, Any]], None] | None = None) -> AIConfig:
    raw = copy.deepcopy(raw_config())
    if mutate is not None:
        mutate(raw)
    return parse_ai_config(raw, environ=KEYS)


class KeywordLocal:
    """A deterministic stand-in for the embedded models: keyword rules, no network, no cost."""

    name = "local"
    remote = False

    def __init__(self) -> None:
        self.requests: list[CompletionRequest] = []

    async def complete[T: BaseModel](
        self, request: CompletionRequest, output: type[T]
    ) -> Completion[T]:
        self.requests.append(request)
        text = request.user.lower()
        priority = "urgent" if "outage" in text or "down" in text else "medium"
        category = "Billing" if "invoice" in text else "Technical"
        value = output.model_validate(
            {"category": category, "priority": priority, "confidence": 0.55}
        )
        return Completion(
            value=value,
            provider=self.name,
            model=request.model.name,
            usage=Usage(),
            cost=0.0,
            latency_ms=1.0,
        )


class SleepRecorder:
    """Replaces ``asyncio.sleep`` in retries: records the delays and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        yield router


@pytest.fixture
def fakes(mock: respx.MockRouter) -> dict[str, FakeVendor]:
    return {
        "openai": FakeOpenAI(mock, BASE_URLS["openai"], KEYS["OPENAI_API_KEY"]),
        "anthropic": FakeAnthropic(mock, BASE_URLS["anthropic"], KEYS["ANTHROPIC_API_KEY"]),
        "google": FakeGemini(mock, BASE_URLS["google"], KEYS["GOOGLE_API_KEY"]),
        "ollama": FakeOllama(mock, BASE_URLS["ollama"], None),
    }


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def local() -> KeywordLocal:
    return KeywordLocal()


@pytest.fixture
def ledger() -> InMemorySpendLedger:
    return InMemorySpendLedger()


RouterFactory = Callable[..., Router]


@pytest.fixture
def make_router(
    client: httpx.AsyncClient,
    sleeps: SleepRecorder,
    local: KeywordLocal,
    ledger: InMemorySpendLedger,
) -> RouterFactory:
    def build(config: AIConfig | None = None, **kwargs: Any) -> Router:
        config = config or make_config()
        providers = [*build_http_providers(config, client, sleep=sleeps), local]
        return Router(config, providers, ledger, **kwargs)

    return build
