from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from ticketcreator.core.config import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_YAML = ROOT / "config" / "settings.yaml"


def _keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= _keys(annotation, f"{prefix}{name}.")
        else:
            keys.add(prefix + name)
    return keys


def _yaml_keys(node: Any, prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, value in node.items():
        if isinstance(value, dict) and not name.endswith("_keys"):
            keys |= _yaml_keys(value, f"{prefix}{name}.")
        else:
            keys.add(prefix + name)
    return keys


def test_settings_file_lists_every_setting_the_service_reads() -> None:
    documented = _yaml_keys(yaml.safe_load(SETTINGS_YAML.read_text()))
    assert documented == _keys(Settings)


def test_every_setting_line_carries_a_comment() -> None:
    uncommented = [
        line
        for line in SETTINGS_YAML.read_text().splitlines()
        if re.match(r"^\s+[a-z_0-9]+:\s*\S", line)
        and "#" not in line
        and not re.match(r"^\s+dev1:", line)
    ]
    assert uncommented == []


def test_file_values_are_the_model_defaults() -> None:
    for key, value in yaml.safe_load(SETTINGS_YAML.read_text()).items():
        default = Settings.model_fields[key].default
        if isinstance(default, BaseModel):
            assert type(default).model_validate(value) == default, key
        else:
            assert type(default)(value) == default, key


def test_environment_overrides_nested_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TC_DATABASE__POOL_SIZE", "42")
    monkeypatch.setenv("TC_API__CORS_ORIGINS", '["https://support.example.com"]')
    settings = load_settings()
    assert settings.database.pool_size == 42
    assert settings.api.cors_origins == ["https://support.example.com"]


def test_bad_value_names_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TC_DATABASE__POOL_SIZE", "many")
    with pytest.raises(ConfigError, match=r"database\.pool_size: .*TC_DATABASE__POOL_SIZE"):
        load_settings()


@pytest.mark.parametrize(
    ("variable", "key"),
    [
        ("TC_MAIL__INVITATION_URL", r"mail\.invitation_url"),
        ("TC_EMAIL_NOTIFICATIONS__UNSUBSCRIBE_URL", r"email_notifications\.unsubscribe_url"),
    ],
)
def test_a_link_sent_by_e_mail_must_say_where_its_token_goes(
    monkeypatch: pytest.MonkeyPatch, variable: str, key: str
) -> None:
    monkeypatch.setenv(variable, "https://support.example.com/accept")
    with pytest.raises(ConfigError, match=rf"{key}: .*must contain \{{token\}}"):
        load_settings()


def test_unknown_key_in_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "settings.yaml"
    bad.write_text("database:\n  pool_sise: 3\n")
    monkeypatch.setenv("TC_SETTINGS_FILE", str(bad))
    with pytest.raises(ConfigError, match=r"database\.pool_sise"):
        load_settings()


def test_non_async_database_url_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TC_DATABASE__URL", "postgresql://x@y/z")
    with pytest.raises(ConfigError, match=r"database\.url: .*postgresql\+asyncpg"):
        load_settings()


STRONG = '{"p1": "' + "x" * 48 + '"}'


def _production_without_security_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "settings.yaml"
    file.write_text("app:\n  environment: production\n")
    monkeypatch.setenv("TC_SETTINGS_FILE", str(file))
    monkeypatch.delenv("TC_APP__ENVIRONMENT", raising=False)


def test_production_without_security_section_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _production_without_security_section(tmp_path, monkeypatch)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    message = str(refused.value)
    assert "security.jwt_signing_keys" in message
    assert "security.encryption_keys" in message
    assert "TC_SECURITY__JWT_SIGNING_KEYS" in message
    assert "development key" in message


def test_serve_refuses_to_start_in_production_without_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from ticketcreator.cli import app as cli
    from ticketcreator.core.config import get_settings

    _production_without_security_section(tmp_path, monkeypatch)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["serve"])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "refusing to start in production with development keys" in result.output


def _production_with_real_jwt_keys(
    with_file_section: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if with_file_section:
        monkeypatch.setenv("TC_APP__ENVIRONMENT", "production")
    else:
        _production_without_security_section(tmp_path, monkeypatch)
    monkeypatch.setenv("TC_SECURITY__JWT_SIGNING_KEYS", STRONG)
    monkeypatch.setenv("TC_SECURITY__JWT_ACTIVE_KID", "p1")


@pytest.mark.parametrize("with_file_section", [False, True])
def test_production_with_only_jwt_keys_refuses_the_development_encryption_key(
    with_file_section: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _production_with_real_jwt_keys(with_file_section, tmp_path, monkeypatch)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    message = str(refused.value)
    assert "security.encryption_keys" in message
    assert "jwt_signing_keys" not in message


def test_production_refuses_a_development_key_as_the_active_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TC_APP__ENVIRONMENT", "production")
    monkeypatch.setenv("TC_SECURITY__JWT_SIGNING_KEYS", STRONG)
    monkeypatch.setenv("TC_SECURITY__ENCRYPTION_KEYS", STRONG)
    monkeypatch.setenv("TC_SECURITY__ENCRYPTION_ACTIVE_KID", "p1")
    with pytest.raises(ConfigError, match=r"security\.jwt_active_kid: 'dev1' is a development key"):
        load_settings()


@pytest.mark.parametrize("with_file_section", [False, True])
def test_production_starts_with_real_keys_and_no_development_key_active(
    with_file_section: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _production_with_real_jwt_keys(with_file_section, tmp_path, monkeypatch)
    monkeypatch.setenv("TC_SECURITY__ENCRYPTION_KEYS", STRONG)
    monkeypatch.setenv("TC_SECURITY__ENCRYPTION_ACTIVE_KID", "p1")
    settings = load_settings()
    assert settings.app.environment == "production"
    assert set(settings.security.jwt_signing_keys) == {"p1"}
    assert set(settings.security.encryption_keys) == {"p1"}


def test_development_keeps_the_development_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TC_APP__ENVIRONMENT", "development")
    assert set(load_settings().security.jwt_signing_keys) == {"dev1"}


def test_active_key_must_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TC_SECURITY__JWT_ACTIVE_KID", "nope")
    with pytest.raises(ConfigError, match="jwt_active_kid 'nope'"):
        load_settings()
