"""An organization's effective AI configuration: the file plus its run-time overrides.

Organizations may change prompt templates, agent settings and triage settings at run time.
Overrides are stored as a sparse document (only what differs from ``config/ai_config.yaml``)
and merged over the file's configuration, then validated by the same AIConfig models and
cross-reference checks the file goes through, so an override can never produce a
configuration the service would refuse to start with. Errors name the key in the file's own
terms (``categorization_agent.confidence_threshold``).
"""

from __future__ import annotations

import copy
import logging
import uuid
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.accounts import audit
from ticketcreator.accounts.audit import Actor, AuditAction, Origin
from ticketcreator.accounts.auth import Principal
from ticketcreator.ai.triage import repository as repo
from ticketcreator.ai.triage.errors import InvalidAIConfig
from ticketcreator.ai.triage.models import AISettings
from ticketcreator.ai.triage.schemas import AIConfigPatch, AIConfigRead, TriageSettings
from ticketcreator.core.ai_config import AgentConfig, AIConfig, get_ai_config
from ticketcreator.core.db import utcnow

log = logging.getLogger(__name__)

MASK = "********"
_SECRET_KEYS = frozenset({"api_key"})


def merge_overrides(current: dict[str, Any], patch: AIConfigPatch) -> dict[str, Any]:
    """The stored overrides after ``patch``; ``null`` values drop an override."""
    merged = copy.deepcopy(current)
    templates: dict[str, Any] = merged.setdefault("prompt_templates", {})
    for name, template in patch.prompt_templates.items():
        if template is None:
            templates.pop(name, None)
        else:
            templates[name] = template
    agents: dict[str, Any] = merged.setdefault("agents", {})
    for name, changes in patch.agents.items():
        if changes is None:
            agents.pop(name, None)
            continue
        agent = agents.setdefault(name, {})
        for key, value in changes.items():
            if value is None:
                agent.pop(key, None)
            else:
                agent[key] = value
        if not agent:
            agents.pop(name)
    if patch.triage is not None:
        triage: dict[str, Any] = merged.setdefault("triage", {})
        for key, value in patch.triage.items():
            if value is None:
                triage.pop(key, None)
            else:
                triage[key] = value
    return {key: value for key, value in merged.items() if value}


def _problems(exc: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    problems = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        if loc[:1] == ["agents"] and len(loc) > 1:
            loc = [f"{loc[1]}_agent", *loc[2:]]
        message = str(error["msg"]).removeprefix("Value error, ")
        if not loc:
            # Cross-reference problems arrive as one message: "key: problem; key: problem".
            for part in message.split("; "):
                key, _, text = part.partition(": ")
                problems.append({"key": key, "message": text or part})
            continue
        problems.append({"key": prefix + ".".join(loc), "message": message})
    return problems


def effective_config(base: AIConfig, overrides: dict[str, Any]) -> AIConfig:
    """``base`` with the overrides applied, validated; InvalidAIConfig names every bad key."""
    if not overrides.get("prompt_templates") and not overrides.get("agents"):
        return base
    data = base.model_dump()
    data["prompt_templates"] = {**data["prompt_templates"], **overrides.get("prompt_templates", {})}
    for name, changes in overrides.get("agents", {}).items():
        data["agents"][name] = {**data["agents"].get(name, {}), **changes}
    try:
        return AIConfig.model_validate(data)
    except ValidationError as exc:
        problems = _problems(exc)
        raise InvalidAIConfig(
            "The AI configuration would not be valid: "
            + "; ".join(f"{p['key']}: {p['message']}" for p in problems),
            errors=problems,
        ) from None


def triage_settings(overrides: dict[str, Any]) -> TriageSettings:
    try:
        return TriageSettings.model_validate(overrides.get("triage", {}))
    except ValidationError as exc:
        problems = _problems(exc, prefix="triage.")
        raise InvalidAIConfig(
            "The triage settings would not be valid: "
            + "; ".join(f"{p['key']}: {p['message']}" for p in problems),
            errors=problems,
        ) from None


def _mask_url(url: str) -> str:
    """A URL without credentials or query (either may carry a key)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{MASK}@{host}" if parts.username or parts.password else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, MASK if parts.query else "", ""))


def _masked(node: Any) -> Any:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _SECRET_KEYS:
                out[key] = MASK if value is not None else None
            elif key == "base_url" and isinstance(value, str):
                out[key] = _mask_url(value)
            else:
                out[key] = _masked(value)
        return out
    if isinstance(node, list):
        return [_masked(item) for item in node]
    return node


def public_view(config: AIConfig) -> dict[str, Any]:
    """The configuration in the file's structure (``<name>_agent`` sections), secrets masked."""
    data: dict[str, Any] = config.model_dump(mode="json")
    agents = data.pop("agents")
    ordered = {
        "ai_providers": data.pop("ai_providers"),
        "ai_strategy": data.pop("ai_strategy"),
        **{f"{name}_agent": agent for name, agent in agents.items()},
        **data,
    }
    masked: dict[str, Any] = _masked(ordered)
    return masked


def threshold(config: AIConfig, agent: str) -> float:
    """The agent's confidence threshold (the AgentConfig default when the agent is absent)."""
    found = config.agents.get(agent)
    if found is not None:
        return found.confidence_threshold
    default: float = AgentConfig.model_fields["confidence_threshold"].default
    return default


# Stored per organization


async def runtime_config(
    session: AsyncSession, organization_id: uuid.UUID
) -> tuple[AIConfig, TriageSettings]:
    """The organization's effective configuration for triage.

    Overrides that no longer fit the file (say a template they refer to was removed from it)
    are ignored with a warning rather than stopping triage.
    """
    row = await repo.settings(session, organization_id)
    overrides = row.overrides if row else {}
    try:
        return effective_config(get_ai_config(), overrides), triage_settings(overrides)
    except InvalidAIConfig as exc:
        log.warning(
            "organization AI overrides ignored",
            extra={"organization_id": str(organization_id), "error": exc.detail},
        )
        return get_ai_config(), TriageSettings()


async def get_config(session: AsyncSession, principal: Principal) -> AIConfigRead:
    row = await repo.settings(session, principal.organization_id)
    overrides = row.overrides if row else {}
    return AIConfigRead(
        config=public_view(effective_config(get_ai_config(), overrides)),
        triage=triage_settings(overrides),
        overrides=overrides,
        updated_at=row.updated_at if row else None,
    )


async def update_config(
    session: AsyncSession, principal: Principal, patch: AIConfigPatch, origin: Origin
) -> AIConfigRead:
    """Validate and store the organization's overrides, and audit who changed what."""
    row = await repo.settings(session, principal.organization_id, lock=True)
    before = row.overrides if row else {}
    overrides = merge_overrides(before, patch)
    config = effective_config(get_ai_config(), overrides)
    settings = triage_settings(overrides)
    now = utcnow()
    if row is None:
        row = AISettings(organization_id=principal.organization_id, overrides=overrides)
        session.add(row)
    row.overrides = overrides
    row.updated_by = principal.user_id
    row.updated_at = now
    audit.record(
        session,
        AuditAction.AI_CONFIG_UPDATED,
        Actor.of(principal),
        origin,
        target_type="ai_config",
        target_id=principal.organization_id,
        details={
            "prompt_templates": sorted(patch.prompt_templates),
            "agents": {name: sorted(c or {}) for name, c in patch.agents.items()},
            "triage": sorted(patch.triage or {}),
        },
    )
    await session.flush()
    return AIConfigRead(
        config=public_view(config), triage=settings, overrides=overrides, updated_at=now
    )
