"""Errors of the AI triage API."""

from __future__ import annotations

from ticketcreator.core.errors import Conflict, UnprocessableEntity


class InvalidAIConfig(UnprocessableEntity):
    """The changed configuration would not load; ``errors`` name each bad key."""

    slug = "invalid-ai-config"
    title = "Invalid AI configuration"


class SuggestionDecided(Conflict):
    slug = "suggestion-decided"
    title = "The suggestion was already accepted or rejected"
