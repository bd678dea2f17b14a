"""REST API of outgoing webhooks: /v1/webhooks (administrators: `config:manage`)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from ticketcreator.accounts.auth import Authorizer, Principal
from ticketcreator.accounts.permissions import Permission
from ticketcreator.core.db import UnitOfWorkRoute
from ticketcreator.core.deps import Session
from ticketcreator.core.errors import Forbidden, NotFound, Unauthorized, documented
from ticketcreator.notifications import tasks, webhooks
from ticketcreator.notifications.errors import NotABotEndpoint, UnknownEventType, UnsafeUrl
from ticketcreator.notifications.schemas import (
    DeliveryList,
    DeliveryRead,
    EventTypeList,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookRead,
    WebhookUpdate,
)

CanManage = Annotated[Principal, Depends(Authorizer(Permission.CONFIG_MANAGE))]
_AUTH = (Unauthorized, Forbidden)
_ONE = (*_AUTH, NotFound)

router = APIRouter(prefix="/webhooks", tags=["webhooks"], route_class=UnitOfWorkRoute)


@router.get("/event-types", response_model=EventTypeList, responses=documented(*_AUTH))
async def list_event_types(principal: CanManage) -> EventTypeList:
    """The event types an endpoint may subscribe to."""
    return EventTypeList(items=webhooks.EVENT_TYPES)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookCreated,
    responses=documented(*_AUTH, UnsafeUrl, UnknownEventType),
)
async def create_webhook(
    data: WebhookCreate, response: Response, session: Session, principal: CanManage
) -> WebhookCreated:
    """Add an endpoint; the answer holds its signing secret, shown this once."""
    endpoint, secret = await webhooks.create(session, principal, data)
    response.headers["Location"] = f"/v1/webhooks/{endpoint.id}"
    return WebhookCreated.model_validate(
        {**WebhookRead.model_validate(endpoint).model_dump(), "secret": secret}
    )


@router.get("", response_model=WebhookList, responses=documented(*_AUTH))
async def list_webhooks(session: Session, principal: CanManage) -> WebhookList:
    items = await webhooks.list_endpoints(session, principal)
    return WebhookList(items=[WebhookRead.model_validate(e) for e in items])


@router.get("/{webhook_id}", response_model=WebhookRead, responses=documented(*_ONE))
async def get_webhook(webhook_id: uuid.UUID, session: Session, principal: CanManage) -> WebhookRead:
    return WebhookRead.model_validate(await webhooks.get(session, principal, webhook_id))


@router.patch(
    "/{webhook_id}",
    response_model=WebhookRead,
    responses=documented(*_ONE, UnsafeUrl, UnknownEventType, NotABotEndpoint),
)
async def update_webhook(
    webhook_id: uuid.UUID, data: WebhookUpdate, session: Session, principal: CanManage
) -> WebhookRead:
    """Change an endpoint; `enabled: true` re-enables one disabled after failures."""
    return WebhookRead.model_validate(await webhooks.update(session, principal, webhook_id, data))


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT, responses=documented(*_ONE))
async def delete_webhook(webhook_id: uuid.UUID, session: Session, principal: CanManage) -> None:
    """Remove an endpoint and its delivery log."""
    await webhooks.delete(session, principal, webhook_id)


@router.get("/{webhook_id}/deliveries", response_model=DeliveryList, responses=documented(*_ONE))
async def list_deliveries(
    webhook_id: uuid.UUID,
    session: Session,
    principal: CanManage,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeliveryList:
    """The delivery log of an endpoint, newest first, with every attempt."""
    items = await webhooks.list_deliveries(session, principal, webhook_id, limit)
    return DeliveryList(items=[DeliveryRead.model_validate(d) for d in items])


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryRead,
    responses=documented(*_ONE),
)
async def redeliver(
    webhook_id: uuid.UUID, delivery_id: uuid.UUID, session: Session, principal: CanManage
) -> DeliveryRead:
    """Send a delivery again now, with the same `webhook-id`."""
    delivery = await webhooks.redeliver(session, principal, webhook_id, delivery_id)
    tasks.enqueue(session, [delivery.id])
    return DeliveryRead.model_validate(delivery)
