"""Errors of routing, assignment and SLA configuration."""

from __future__ import annotations

from typing import Any

from ticketcreator.core.errors import UnprocessableEntity


class InvalidRule(UnprocessableEntity):
    """A rule (or an SLA escalation) that cannot run; ``field`` names the offending part,
    e.g. ``conditions.all[1].any[0].op`` or ``actions[2].team_id``."""

    slug = "invalid-routing-rule"
    title = "The routing rule is invalid"

    def __init__(self, field: str, detail: str, **extensions: Any) -> None:
        super().__init__(f"{field}: {detail}", field=field, **extensions)


class InvalidCalendar(UnprocessableEntity):
    slug = "invalid-calendar"
    title = "The business-hours calendar is invalid"

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}", field=field)


class InvalidSlaPolicy(UnprocessableEntity):
    slug = "invalid-sla-policy"
    title = "The SLA policy is invalid"

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}", field=field)


class InvalidAgent(UnprocessableEntity):
    slug = "invalid-agent"
    title = "The user is not an agent of this organization"


class InvalidOrder(UnprocessableEntity):
    slug = "invalid-rule-order"
    title = "The order must list every rule of the organization exactly once"
