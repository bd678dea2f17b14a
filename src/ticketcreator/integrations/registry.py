"""The providers this product ships, by key (explicit: no discovery, no entry points)."""

from __future__ import annotations

from ticketcreator.integrations.base import Provider
from ticketcreator.integrations.errors import UnknownProvider
from ticketcreator.integrations.github import GitHubProvider
from ticketcreator.integrations.jira import JiraProvider

PROVIDERS: dict[str, Provider] = {
    GitHubProvider.key: GitHubProvider(),
    JiraProvider.key: JiraProvider(),
}


def get_provider(key: str) -> Provider:
    provider = PROVIDERS.get(key)
    if provider is None:
        raise UnknownProvider(f"No integration {key!r}.", known=sorted(PROVIDERS))
    return provider
