"""REST API of event deliveries: what the worker could not finish for the organization, and
replaying it."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from ticketcreator.accounts.auth import Authorizer, Principal
from ticketcreator.accounts.permissions import Permission
from ticketcreator.core.db import UnitOfWorkRoute
from ticketcreator.core.deps import Session
from ticketcreator.core.errors import Forbidden, NotFound, Unauthorized, documented
from ticketcreator.deliveries import service
from ticketcreator.deliveries.schemas import (
    DeliveryPage,
    DeliveryRead,
    DeliveryState,
    ReplayResult,
)

CanManage = Annotated[Principal, Depends(Authorizer(Permission.EVENTS_MANAGE))]
Subscriber = Annotated[str | None, Query(max_length=200, description="One subscriber only.")]

router = APIRouter(prefix="/event-deliveries", tags=["events"], route_class=UnitOfWorkRoute)


@router.get("", response_model=DeliveryPage, responses=documented(Unauthorized, Forbidden))
async def list_deliveries(
    principal: CanManage,
    session: Session,
    state: DeliveryState = DeliveryState.DEAD,
    subscriber: Subscriber = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DeliveryPage:
    """Deliveries of the organization's events in one state (default: dead-lettered, i.e.
    given up after the last retry), oldest first, with the count of each state."""
    org = principal.organization_id
    rows = await service.list_deliveries(session, org, state, subscriber=subscriber, limit=limit)
    return DeliveryPage(
        counts=await service.counts(session, org),
        items=[service.to_read(delivery, event) for delivery, event in rows],
    )


@router.post(
    "/replay",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ReplayResult,
    responses=documented(Unauthorized, Forbidden),
)
async def replay_dead(
    principal: CanManage, session: Session, subscriber: Subscriber = None
) -> ReplayResult:
    """Run every dead-lettered delivery of the organization (of one subscriber) again."""
    count = await service.replay_dead(session, principal.organization_id, subscriber=subscriber)
    return ReplayResult(replayed=count)


@router.post(
    "/{event_delivery_id}/replay",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryRead,
    responses=documented(Unauthorized, Forbidden, NotFound, service.NotDead),
)
async def replay(
    event_delivery_id: uuid.UUID, principal: CanManage, session: Session
) -> DeliveryRead:
    """Run a dead-lettered delivery again, with a fresh count of retries."""
    delivery, event = await service.replay_one(
        session, principal.organization_id, event_delivery_id
    )
    return service.to_read(delivery, event)
