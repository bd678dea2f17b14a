from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from ticketcreator.core.ai_config import interpolate, load_ai_config, parse_ai_config
from ticketcreator.core.config import ConfigError

ROOT = Path(__file__).resolve().parents[2]
AI_YAML = ROOT / "config" / "ai_config.yaml"


@pytest.fixture
def raw() -> dict[str, Any]:
    return dict(yaml.safe_load(AI_YAML.read_text()))


def test_shipped_file_loads_with_local_default_and_no_keys() -> None:
    config = load_ai_config(AI_YAML, environ={})
    assert config.ai_strategy.primary_provider == "local"
    assert config.ai_providers["local"].enabled
    assert not config.ai_providers["openai"].enabled
    assert config.ai_providers["openai"].base_url == "https://api.openai.com/v1"
    assert set(config.agents) == {"categorization", "priority", "summary"}
    assert config.transcription.model == "base"


def test_top_level_sections_keep_the_customer_structure(raw: dict[str, Any]) -> None:
    required = {
        "ai_providers",
        "ai_strategy",
        "prompt_templates",
        "content_analysis",
        "vision",
        "transcription",
    }
    assert required <= set(raw)
    assert any(key.endswith("_agent") for key in raw)


def test_interpolation_reads_environment_and_defaults() -> None:
    env = {"KEY": "sk-123", "EMPTY": ""}
    assert interpolate("${KEY}", env) == "sk-123"
    assert interpolate("${MISSING}", env) is None
    assert interpolate("${MISSING:-fallback}", env) == "fallback"
    assert interpolate("${EMPTY:-fallback}", env) == "fallback"
    assert interpolate("Bearer ${KEY} and ${MISSING:-x}", env) == "Bearer sk-123 and x"
    assert interpolate({"a": ["${KEY}", 3]}, env) == {"a": ["sk-123", 3]}


def test_enabling_a_cloud_provider_takes_its_key_from_the_environment(raw: dict[str, Any]) -> None:
    config = parse_ai_config(raw, {"OPENAI_ENABLED": "true", "OPENAI_API_KEY": "sk-test"})
    key = config.ai_providers["openai"].api_key
    assert key is not None
    assert key.get_secret_value() == "sk-test"
    assert "sk-test" not in repr(config)


def test_enabled_cloud_provider_without_key_names_the_key(raw: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=r"ai_providers\.openai\.api_key"):
        parse_ai_config(raw, {"OPENAI_ENABLED": "true"})


def test_api_key_file_is_read(raw: dict[str, Any], tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("sk-from-file\n")
    raw["ai_providers"]["anthropic"]["api_key_file"] = str(key_file)
    config = parse_ai_config(raw, {"ANTHROPIC_ENABLED": "true"})
    resolved = config.ai_providers["anthropic"].resolved_api_key()
    assert resolved is not None
    assert resolved.get_secret_value() == "sk-from-file"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda r: r["ai_strategy"].update(primary_provider="nope"),
            r"ai_strategy\.primary_provider: unknown provider 'nope'",
        ),
        (
            lambda r: r["ai_strategy"].update(fallback_chain=["openai", "local"]),
            r"ai_strategy\.fallback_chain\[0\]: provider 'openai' is not enabled",
        ),
        (
            lambda r: r["categorization_agent"].update(model_name="huge"),
            r"categorization_agent\.model_name: no model role 'huge'",
        ),
        (
            lambda r: r["priority_agent"].update(system_prompt_template="missing"),
            r"priority_agent\.system_prompt_template: unknown template 'missing'",
        ),
        (
            lambda r: r["summary_agent"].update(confidence_threshold=1.5),
            r"summary_agent\.confidence_threshold",
        ),
        (lambda r: r["ai_providers"].pop("local"), r"`local` provider must be configured"),
        (
            lambda r: r["ai_strategy"].update(model_strategy={"openai": "gigantic"}),
            r"model_strategy\.openai: no model role 'gigantic'",
        ),
        (
            lambda r: r["ai_strategy"]["cost_limits"].update(daily_cost_limit=-1),
            r"ai_strategy\.cost_limits\.daily_cost_limit",
        ),
        (
            lambda r: r["ai_providers"]["local"].update(temperature=0.1),
            r"ai_providers\.local\.temperature: Extra inputs",
        ),
        (
            lambda r: r["vision"].update(primary_provider="google"),
            r"vision\.primary_provider: provider 'google' is not enabled",
        ),
        (
            lambda r: r["transcription"].update(provider="openai"),
            r"transcription\.provider: provider 'openai' is not enabled",
        ),
    ],
)
def test_invalid_config_names_the_key(raw: dict[str, Any], mutate: Any, message: str) -> None:
    broken = copy.deepcopy(raw)
    mutate(broken)
    with pytest.raises(ConfigError, match=message):
        parse_ai_config(broken, {})


def test_routed_sections_expose_provider_options(raw: dict[str, Any]) -> None:
    config = parse_ai_config(raw, {})
    assert config.content_analysis.provider_options("openai") == {
        "model": "gpt-4o-mini",
        "max_tokens": 1500,
    }
    assert config.vision.provider_options("anthropic") == {}


def test_missing_or_broken_files_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_ai_config(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("ai_providers: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_ai_config(broken)
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_ai_config(listed)
