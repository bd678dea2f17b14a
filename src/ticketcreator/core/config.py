"""Service settings: one typed object, read from ``config/settings.yaml`` and the environment.

Precedence (highest first): values passed to :func:`load_settings`, environment variables
(``TC_`` prefix, ``__`` between nested keys, e.g. ``TC_DATABASE__URL``), the YAML file, the
defaults of the sections (:mod:`ticketcreator.core.config_sections`). Every key the service
reads is declared there and appears, with its default and a one-line comment, in
``config/settings.yaml`` (a test keeps the two in step).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from ticketcreator.core.config_sections import (
    ApiSection,
    AppSection,
    CelerySection,
    DatabaseSection,
    EmailNotificationsSection,
    IntegrationsSection,
    LoggingSection,
    MailSection,
    ModelsSection,
    OutboxSection,
    RateLimitSection,
    RealtimeSection,
    RedisSection,
    RoutingSection,
    SecuritySection,
    SlackSection,
    StorageSection,
    TicketsSection,
    TranscriptsSection,
    UploadsSection,
    WebhooksSection,
)

ENV_PREFIX = "TC_"
SETTINGS_FILE_ENV = "TC_SETTINGS_FILE"
DEFAULT_SETTINGS_FILE = Path("config/settings.yaml")


class ConfigError(RuntimeError):
    """A setting is missing or invalid; the message names the key."""


DEV_SECRET_MARKER = "dev-only"  # noqa: S105 - a marker, not a secret


class Settings(BaseSettings):
    """Everything the service reads. Load it through :func:`get_settings`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    app: AppSection = AppSection()
    api: ApiSection = ApiSection()
    database: DatabaseSection = DatabaseSection()
    redis: RedisSection = RedisSection()
    celery: CelerySection = CelerySection()
    outbox: OutboxSection = OutboxSection()
    logging: LoggingSection = LoggingSection()
    models: ModelsSection = ModelsSection()
    security: SecuritySection = SecuritySection()
    rate_limits: RateLimitSection = RateLimitSection()
    storage: StorageSection = StorageSection()
    uploads: UploadsSection = UploadsSection()
    tickets: TicketsSection = TicketsSection()
    transcripts: TranscriptsSection = TranscriptsSection()
    mail: MailSection = MailSection()
    integrations: IntegrationsSection = IntegrationsSection()
    routing: RoutingSection = RoutingSection()
    realtime: RealtimeSection = RealtimeSection()
    webhooks: WebhooksSection = WebhooksSection()
    slack: SlackSection = SlackSection()
    email_notifications: EmailNotificationsSection = EmailNotificationsSection()
    ai_config_file: Path = Path("config/ai_config.yaml")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_file = settings_file()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if yaml_file.is_file():
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file))
        return tuple(sources)

    @field_validator("security")
    @classmethod
    def _no_development_keys_in_production(
        cls, security: SecuritySection, info: ValidationInfo
    ) -> SecuritySection:
        """In production, keys from the shipped file neither sign, verify nor decrypt.

        Checked on the merged section (file, environment and defaults together), so a key
        the defaults supply is caught as surely as one written in the file.
        """
        app = info.data.get("app")
        if not isinstance(app, AppSection) or app.environment != "production":
            return security
        problems: list[str] = []
        kept: dict[str, dict[str, SecretStr]] = {}
        for field, active_field in _KEY_FIELDS:
            keys: dict[str, SecretStr] = getattr(security, field)
            real = {kid: key for kid, key in keys.items() if not _is_development_key(key)}
            env = f"{ENV_PREFIX}SECURITY__{field.upper()}"
            active = getattr(security, active_field)
            if not real:
                problems.append(
                    f"security.{field}: only the development key is configured; production "
                    f'needs real keys (set {env}, e.g. \'{{"k1": "<32+ random characters>"}}\', '
                    f"and {ENV_PREFIX}SECURITY__{active_field.upper()})"
                )
            elif active not in real:
                problems.append(
                    f"security.{active_field}: {active!r} is a development key; name one of "
                    f"{sorted(real)} (set {ENV_PREFIX}SECURITY__{active_field.upper()})"
                )
            kept[field] = real
        if problems:
            raise ConfigError(
                "refusing to start in production with development keys:\n  " + "\n  ".join(problems)
            )
        return security.model_copy(update=kept)


_KEY_FIELDS = (
    ("jwt_signing_keys", "jwt_active_kid"),
    ("encryption_keys", "encryption_active_kid"),
)


def _is_development_key(key: SecretStr) -> bool:
    """A key shipped with the product: the defaults and config/settings.yaml carry the marker."""
    return DEV_SECRET_MARKER in key.get_secret_value()


def settings_file() -> Path:
    """The YAML file in use: ``$TC_SETTINGS_FILE`` or ``config/settings.yaml``."""
    return Path(os.environ.get(SETTINGS_FILE_ENV, str(DEFAULT_SETTINGS_FILE)))


def _describe(error: dict[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"])
    env_name = ENV_PREFIX + "__".join(str(part) for part in error["loc"]).upper()
    return f"{key}: {error['msg']} (set in {settings_file()} or {env_name})"


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings; a bad value raises ConfigError naming the key."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = "\n  ".join(_describe(dict(error)) for error in exc.errors())
        raise ConfigError(f"invalid settings:\n  {lines}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, loaded once."""
    return load_settings()


def secret_value(secret: SecretStr | None) -> str | None:
    """Unwrap an optional secret at the point of use only."""
    return secret.get_secret_value() if secret is not None else None
