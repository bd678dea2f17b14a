"""The AI configuration file (``config/ai_config.yaml``): loading, interpolation, validation.

The file keeps the structure the customer's other services use (top-level ``ai_providers``,
``ai_strategy``, one ``<name>_agent`` section per agent, ``prompt_templates``,
``content_analysis``, ``vision``, ``transcription``). String values may reference the
environment as ``${VAR}`` or ``${VAR:-default}``; secrets are held as ``SecretStr`` so they
never print. Cross-references (providers in the strategy, agents' providers, model roles and
prompt templates) are checked at load time, and every error names its key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from ticketcreator.core.config import ConfigError, get_settings

LOCAL = "local"
KEYLESS_PROVIDERS = frozenset({LOCAL, "ollama"})
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSpec(_Model):
    """A concrete model behind a named role (``primary``, ``fast``, ``triage``...)."""

    name: str
    max_tokens: int = Field(default=1000, ge=1, le=200_000)
    temperature: float = Field(default=0.2, ge=0.0, le=2.0)
    timeout: float = Field(default=30.0, gt=0)
    cost_per_1k_tokens: float = Field(default=0.0, ge=0)


class ProviderConfig(_Model):
    enabled: bool = False
    api_key: SecretStr | None = None
    api_key_file: Path | None = None
    base_url: str | None = None
    organization: str | None = None
    models: dict[str, ModelSpec] = Field(default_factory=dict)

    def resolved_api_key(self) -> SecretStr | None:
        """The key from ``api_key``, else read from ``api_key_file``."""
        if self.api_key is not None:
            return self.api_key
        if self.api_key_file is not None:
            return SecretStr(self.api_key_file.read_text().strip())
        return None


class PerformanceConfig(_Model):
    max_generation_time: float = Field(default=15.0, gt=0)
    preferred_generation_time: float = Field(default=5.0, gt=0)
    auto_fallback_on_timeout: bool = True


class CostLimits(_Model):
    max_cost_per_ticket: float = Field(default=0.10, ge=0)
    daily_cost_limit: float = Field(default=50.0, ge=0)
    monthly_cost_limit: float = Field(default=500.0, ge=0)


class StrategyConfig(_Model):
    primary_provider: str = LOCAL
    fallback_chain: list[str] = Field(default_factory=lambda: [LOCAL])
    model_strategy: dict[str, str] = Field(default_factory=dict)
    max_retries: int = Field(default=2, ge=0, le=10)
    retry_delay: float = Field(default=1.0, ge=0)
    performance: PerformanceConfig = PerformanceConfig()
    max_iterations: int = Field(default=5, ge=1, le=50)
    cost_limits: CostLimits = CostLimits()


class AgentConfig(_Model):
    model_provider: str = LOCAL
    model_name: str
    temperature: float = Field(default=0.1, ge=0.0, le=2.0)
    max_tokens: int = Field(default=500, ge=1)
    timeout: float = Field(default=15.0, gt=0)
    system_prompt_template: str
    confidence_threshold: float = Field(default=0.8, ge=0.0, le=1.0)


class RoutedSection(BaseModel):
    """``content_analysis`` / ``vision``: a provider choice plus per-provider options."""

    model_config = ConfigDict(extra="allow")

    primary_provider: str = LOCAL
    fallback_provider: str | None = LOCAL

    def provider_options(self, provider: str) -> dict[str, Any]:
        extra = self.model_extra or {}
        options = extra.get(provider, {})
        return dict(options) if isinstance(options, dict) else {}


class TranscriptionConfig(_Model):
    provider: Literal["local", "openai"] = "local"
    model: str = "base"
    language: str = "auto"
    beam_size: int = Field(default=5, ge=1, le=10)
    vad_filter: bool = True
    batched_from_s: float = Field(default=120.0, gt=0)


class AIConfig(_Model):
    ai_providers: dict[str, ProviderConfig]
    ai_strategy: StrategyConfig = StrategyConfig()
    agents: dict[str, AgentConfig] = Field(default_factory=dict)
    prompt_templates: dict[str, str] = Field(default_factory=dict)
    content_analysis: RoutedSection = RoutedSection()
    vision: RoutedSection = RoutedSection()
    transcription: TranscriptionConfig = TranscriptionConfig()

    @field_validator("ai_providers")
    @classmethod
    def _local_provider_present(cls, providers: dict[str, ProviderConfig]) -> dict[str, Any]:
        if LOCAL not in providers:
            raise ValueError("the `local` provider must be configured (it is the offline default)")
        return providers

    @model_validator(mode="after")
    def _cross_references(self) -> AIConfig:
        problems: list[str] = []
        providers = self.ai_providers

        def check_provider(key: str, name: str | None, *, must_be_enabled: bool = True) -> None:
            if name is None:
                return
            if name not in providers:
                problems.append(f"{key}: unknown provider {name!r}")
            elif must_be_enabled and not providers[name].enabled:
                problems.append(f"{key}: provider {name!r} is not enabled")

        for name, provider in providers.items():
            needs_key = provider.enabled and name not in KEYLESS_PROVIDERS
            if needs_key and provider.resolved_api_key() is None:
                problems.append(f"ai_providers.{name}.api_key: enabled provider has no API key")
        strategy = self.ai_strategy
        check_provider("ai_strategy.primary_provider", strategy.primary_provider)
        for index, name in enumerate(strategy.fallback_chain):
            check_provider(f"ai_strategy.fallback_chain[{index}]", name)
        for name, role in strategy.model_strategy.items():
            check_provider(f"ai_strategy.model_strategy.{name}", name, must_be_enabled=False)
            if name in providers and role not in providers[name].models:
                problems.append(f"ai_strategy.model_strategy.{name}: no model role {role!r}")
        for agent_name, agent in self.agents.items():
            key = f"{agent_name}_agent"
            check_provider(f"{key}.model_provider", agent.model_provider)
            agent_provider = providers.get(agent.model_provider)
            if agent_provider is not None and agent.model_name not in agent_provider.models:
                problems.append(f"{key}.model_name: no model role {agent.model_name!r}")
            if agent.system_prompt_template not in self.prompt_templates:
                problems.append(
                    f"{key}.system_prompt_template: unknown template "
                    f"{agent.system_prompt_template!r}"
                )
        for section_name in ("content_analysis", "vision"):
            section: RoutedSection = getattr(self, section_name)
            check_provider(f"{section_name}.primary_provider", section.primary_provider)
            check_provider(f"{section_name}.fallback_provider", section.fallback_provider)
        if self.transcription.provider != LOCAL:
            check_provider("transcription.provider", self.transcription.provider)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def agent(self, name: str) -> AgentConfig:
        return self.agents[name]


def interpolate(value: Any, environ: Mapping[str, str] | None = None) -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string; an unset VAR becomes None."""
    env = os.environ if environ is None else environ
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value
    whole = _VAR.fullmatch(value.strip())
    if whole is not None:
        resolved = env.get(whole.group(1)) or whole.group(2)
        return resolved if resolved not in (None, "") else None
    return _VAR.sub(lambda match: env.get(match.group(1)) or match.group(2) or "", value)


def parse_ai_config(raw: dict[str, Any], environ: Mapping[str, str] | None = None) -> AIConfig:
    """Validate a parsed YAML document; ConfigError names every bad key."""
    if not isinstance(raw, dict):
        raise ConfigError("ai config: the document must be a mapping")
    data = interpolate(raw, environ)
    agents = {key[: -len("_agent")]: data.pop(key) for key in list(data) if key.endswith("_agent")}
    data["agents"] = agents
    try:
        return AIConfig.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            loc = [str(part) for part in error["loc"]]
            if loc[:1] == ["agents"] and len(loc) > 1:
                loc = [f"{loc[1]}_agent", *loc[2:]]
            key = ".".join(loc) or "(document)"
            lines.append(f"{key}: {error['msg']}")
        raise ConfigError("invalid AI config:\n  " + "\n  ".join(lines)) from None


def load_ai_config(path: Path, environ: Mapping[str, str] | None = None) -> AIConfig:
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"ai config: {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"ai config: {path} is not valid YAML: {exc}") from None
    return parse_ai_config(raw, environ)


@lru_cache(maxsize=1)
def get_ai_config() -> AIConfig:
    """The process-wide AI configuration, loaded once from the settings' path."""
    return load_ai_config(get_settings().ai_config_file)
