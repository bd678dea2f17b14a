"""The ``sync`` action routing rules may take: send the ticket to an installation (one that
does not sync every new ticket by itself), now and from then on."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.integrations import flows
from ticketcreator.integrations import service as integrations
from ticketcreator.routing.actions import ActionType, ExternalAction, Params
from ticketcreator.routing.errors import InvalidRule
from ticketcreator.tickets.models import Ticket


class SyncParams(Params):
    installation_id: uuid.UUID


class SyncToInstallation(ExternalAction):
    key: ClassVar[str] = "sync"
    params: ClassVar[type[Params]] = SyncParams

    async def check(
        self, session: AsyncSession, organization_id: uuid.UUID, params: Params, path: str
    ) -> None:
        assert isinstance(params, SyncParams)
        if not await integrations.installed_in(session, organization_id, params.installation_id):
            raise InvalidRule(f"{path}.installation_id", "no such integration installation")

    def describe(self, params: Params) -> str:
        assert isinstance(params, SyncParams)
        return f"sync to integration {params.installation_id}"

    async def execute(
        self, session: AsyncSession, ticket: Ticket, params: Params, reason: dict[str, Any]
    ) -> None:
        """Queued with the routing's transaction; a disabled or removed installation raises
        (the routing records why on the ticket)."""
        assert isinstance(params, SyncParams)
        await flows.sync_ticket(session, params.installation_id, ticket.id)


def action_types() -> list[ActionType]:
    """The routing action types integrations offer (registered when a process loads)."""
    return [SyncToInstallation()]
