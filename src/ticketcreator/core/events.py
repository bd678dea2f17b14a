"""The event bus: every topic the system announces, who subscribes to it, and :func:`emit`.

A change announces itself with ``emit(session, Topic.X, payload)`` in its own transaction;
the outbox (:mod:`ticketcreator.core.outbox`) stores the event with the change and, once it
is committed, delivers it to each subscriber of the topic: a Celery task declared with
:func:`subscriber` in a ``tasks`` module. The task modules are listed in
:mod:`ticketcreator.tasks`; a process fans events out to subscribers only once it has loaded
them all (:meth:`Subscribers.complete`), and leaves the fan-out to the relay before.

Every message a subscriber receives is :class:`Message`; its ``payload`` is the topic's
payload below (the ``TypedDict`` named in :data:`PAYLOADS`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from datetime import timedelta
from enum import StrEnum
from typing import Any, NotRequired, TypedDict

from celery import Task
from sqlalchemy.ext.asyncio import AsyncSession

from ticketcreator.core import consumer, outbox, reactions
from ticketcreator.core.config import get_settings
from ticketcreator.core.db import after_commit, utcnow
from ticketcreator.core.outbox import OutboxEvent, Subscription
from ticketcreator.core.tasks import celery_app, run_async

log = logging.getLogger(__name__)


class Topic(StrEnum):
    """What the system announces; the payload of each is in :data:`PAYLOADS`."""

    # Tickets (TicketChanged, with the details named)
    TICKET_CREATED = "ticket.created"  # + snapshot: the new ticket's fields
    TICKET_UPDATED = "ticket.updated"  # + changes [{field, old, new}], version
    TICKET_STATUS_CHANGED = "ticket.status_changed"  # + field, old, new, version
    TICKET_ASSIGNED = "ticket.assigned"  # + field, old, new, version
    TICKET_DELETED = "ticket.deleted"
    TICKET_RESTORED = "ticket.restored"
    TICKET_PURGED = "ticket.purged"
    TICKET_COMMENTED = "ticket.commented"  # + comment_id, internal
    TICKET_COMMENT_UPDATED = "ticket.comment_updated"  # + comment_id, internal
    TICKET_COMMENT_DELETED = "ticket.comment_deleted"  # + comment_id, internal
    TICKET_WATCHERS_CHANGED = "ticket.watchers_changed"  # + added or removed (user id)
    TICKET_LINKED = "ticket.linked"  # + the link's kind and other ticket
    TICKET_UNLINKED = "ticket.unlinked"  # + the link's kind and other ticket
    TICKET_TRIAGED = "ticket.triaged"  # TicketTriaged: AI triage applied or suggested fields
    TICKET_CONTENT_ADDED = "ticket.content_added"  # ContentAdded: text reached the ticket
    TICKET_SLA_WARNING = "ticket.sla_warning"  # SlaAlert: an SLA target is near
    TICKET_SLA_BREACHED = "ticket.sla_breached"  # SlaAlert: an SLA target was missed
    # Captures, attachments, uploads
    CAPTURE_CREATED = "capture.created"  # CaptureCreated
    ATTACHMENT_UPLOADED = "attachment.uploaded"  # AttachmentChanged: stored, not processed
    ATTACHMENT_PROCESSING = "attachment.processing"  # AttachmentChanged
    ATTACHMENT_READY = "attachment.ready"  # AttachmentChanged: poster, thumbnail, audio made
    ATTACHMENT_FAILED = "attachment.failed"  # AttachmentChanged, with the reason
    ATTACHMENT_ERASED = "attachment.erased"  # AttachmentsErased: their stored files are to go
    ATTACHMENT_TEXT_EXTRACTED = "attachment.text_extracted"  # TextExtracted
    ATTACHMENT_TRANSCRIPTION_PROGRESS = "attachment.transcription_progress"  # Progress
    UPLOAD_PROGRESS = "upload.progress"  # UploadProgress: each accepted chunk
    # AI
    AI_TRIAGE_REQUESTED = "ai.triage_requested"  # TicketRef: a person asked for a new run
    AI_TRAINING_REQUESTED = "ai.training_requested"  # TrainingRequested: an admin asked
    AI_TRAINING_DUE = "ai.training_due"  # TrainingRequested: labels changed, burst over
    # Routing
    ROUTING_RULE_FIRED = "routing.rule_fired"  # RuleFired
    ROUTING_SLA_ESCALATED = "routing.sla_escalated"  # RuleFired: an SLA escalation's actions
    ROUTING_SLA_POLICY_CHANGED = "routing.sla_policy_changed"  # SlaPolicyChanged
    ROUTING_NOTIFY = "routing.notify"  # RuleNotify: a rule's notify action, for one endpoint
    # Taxonomy (TaxonomyChanged)
    CATEGORY_CREATED = "category.created"
    CATEGORY_UPDATED = "category.updated"
    CATEGORY_DELETED = "category.deleted"
    TEAM_CREATED = "team.created"
    TEAM_UPDATED = "team.updated"
    TEAM_DELETED = "team.deleted"
    CUSTOM_FIELD_CREATED = "custom_field.created"
    CUSTOM_FIELD_UPDATED = "custom_field.updated"
    CUSTOM_FIELD_DELETED = "custom_field.deleted"
    TAG_DELETED = "tag.deleted"
    # Accounts, integrations, outgoing webhooks
    INVITATION_CREATED = "invitation.created"  # InvitationCreated: the e-mail is to be sent
    INTEGRATIONS_WEBHOOK_RECEIVED = "integrations.webhook_received"  # WebhookReceived
    WEBHOOK_DELIVERY_DUE = "webhook.delivery_due"  # WebhookDeliveryDue: attempt it now


# Payloads


class TicketRef(TypedDict):
    ticket_id: str


class TicketChanged(TicketRef):
    """Every ``ticket.*`` change a person, an API key or the system made."""

    number: int
    key: str  # "T-42"
    actor_user_id: str | None
    actor_api_key_id: str | None
    actor_kind: str  # human, api_key, ai, system


class TicketTriaged(TicketRef):
    run_id: str
    applied: dict[str, Any]  # field -> value the AI set
    suggested: list[str]  # fields proposed for a person to accept
    possible_duplicates: list[str]  # ticket ids
    providers: dict[str, str]  # agent -> provider that answered


class ContentAdded(TicketRef):
    source: str  # transcript, ocr, capture
    attachment_id: str | None
    capture_id: NotRequired[str]


class SlaAlert(TicketRef):
    key: str
    metric: str
    due_at: str
    policy_id: str


class CaptureCreated(TicketRef):
    capture_id: str
    kind: str
    attachment_ids: list[str]
    title_generated: bool


class AttachmentChanged(TypedDict):
    attachment_id: str
    kind: str
    content_type: str
    status: str
    reason: NotRequired[str]


class AttachmentsErased(TypedDict):
    attachment_ids: list[str]


class TextExtracted(TypedDict):
    attachment_id: str
    source: str
    status: str
    empty_reason: str | None


class Progress(TypedDict):
    attachment_id: str
    progress: float  # 0..1


class UploadProgress(TypedDict):
    upload_id: str
    received: int
    length: int | None


class TrainingRequested(TypedDict):
    organization_id: str
    force: bool


class RuleFired(TicketRef):
    """A routing rule's (or escalation's) entry: its id, name and what it did."""


class RuleNotify(TicketRef):
    """A rule (or escalation) asks for the ticket to be announced on one webhook endpoint."""

    webhook_id: str
    rule_id: str | None
    rule: str | None


class SlaPolicyChanged(TypedDict):
    policy_id: str


class TaxonomyChanged(TypedDict):
    id: str
    actor_user_id: str | None


class InvitationCreated(TypedDict):
    invitation_id: str


class WebhookReceived(TypedDict):
    delivery_id: str
    installation_id: str


class WebhookDeliveryDue(TypedDict):
    delivery_id: str  # an outgoing webhook delivery (notifications)


# Changes to a ticket a person may see (payload: TicketChanged).
TICKET_CHANGES = (
    Topic.TICKET_CREATED,
    Topic.TICKET_UPDATED,
    Topic.TICKET_STATUS_CHANGED,
    Topic.TICKET_ASSIGNED,
    Topic.TICKET_DELETED,
    Topic.TICKET_RESTORED,
    Topic.TICKET_PURGED,
    Topic.TICKET_COMMENTED,
    Topic.TICKET_COMMENT_UPDATED,
    Topic.TICKET_COMMENT_DELETED,
    Topic.TICKET_WATCHERS_CHANGED,
    Topic.TICKET_LINKED,
    Topic.TICKET_UNLINKED,
)
# The life of an uploaded file (payload: AttachmentChanged).
ATTACHMENT_CHANGES = (
    Topic.ATTACHMENT_UPLOADED,
    Topic.ATTACHMENT_PROCESSING,
    Topic.ATTACHMENT_READY,
    Topic.ATTACHMENT_FAILED,
)
_TAXONOMY_CHANGES = (
    Topic.CATEGORY_CREATED,
    Topic.CATEGORY_UPDATED,
    Topic.CATEGORY_DELETED,
    Topic.TEAM_CREATED,
    Topic.TEAM_UPDATED,
    Topic.TEAM_DELETED,
    Topic.CUSTOM_FIELD_CREATED,
    Topic.CUSTOM_FIELD_UPDATED,
    Topic.CUSTOM_FIELD_DELETED,
    Topic.TAG_DELETED,
)

# Topic -> the shape of its payload.
PAYLOADS: dict[Topic, type] = {
    **dict.fromkeys(TICKET_CHANGES, TicketChanged),
    **dict.fromkeys(ATTACHMENT_CHANGES, AttachmentChanged),
    **dict.fromkeys(_TAXONOMY_CHANGES, TaxonomyChanged),
    Topic.TICKET_TRIAGED: TicketTriaged,
    Topic.TICKET_CONTENT_ADDED: ContentAdded,
    Topic.TICKET_SLA_WARNING: SlaAlert,
    Topic.TICKET_SLA_BREACHED: SlaAlert,
    Topic.CAPTURE_CREATED: CaptureCreated,
    Topic.ATTACHMENT_ERASED: AttachmentsErased,
    Topic.ATTACHMENT_TEXT_EXTRACTED: TextExtracted,
    Topic.ATTACHMENT_TRANSCRIPTION_PROGRESS: Progress,
    Topic.UPLOAD_PROGRESS: UploadProgress,
    Topic.AI_TRIAGE_REQUESTED: TicketRef,
    Topic.AI_TRAINING_REQUESTED: TrainingRequested,
    Topic.AI_TRAINING_DUE: TrainingRequested,
    Topic.ROUTING_RULE_FIRED: RuleFired,
    Topic.ROUTING_SLA_ESCALATED: RuleFired,
    Topic.ROUTING_SLA_POLICY_CHANGED: SlaPolicyChanged,
    Topic.ROUTING_NOTIFY: RuleNotify,
    Topic.INVITATION_CREATED: InvitationCreated,
    Topic.INTEGRATIONS_WEBHOOK_RECEIVED: WebhookReceived,
    Topic.WEBHOOK_DELIVERY_DUE: WebhookDeliveryDue,
}


class Message(TypedDict):
    """What a subscriber receives (see :func:`ticketcreator.core.outbox.message_of`)."""

    id: str  # the event's id
    topic: str
    organization_id: str | None
    occurred_at: str
    payload: dict[str, Any]  # the topic's payload (PAYLOADS)
    delivery: int  # the hand-over's number; only the latest one runs


# Subscribers

EventHandler = Callable[[AsyncSession, dict[str, Any]], Awaitable[None]]


class Subscribers:
    """Topic -> subscriber tasks, filled by the task modules (:mod:`ticketcreator.tasks`)."""

    def __init__(self) -> None:
        self._by_topic: dict[str, list[Subscription]] = {}
        self._complete = False

    def add(self, topic: Topic, task_name: str, queue: str) -> None:
        subscriptions = self._by_topic.setdefault(topic, [])
        if not any(sub.task_name == task_name for sub in subscriptions):
            subscriptions.append(Subscription(topic, task_name, queue))

    def for_topic(self, topic: str) -> Sequence[Subscription]:
        return self._by_topic.get(topic, ())

    def __iter__(self) -> Iterator[Subscription]:
        for subscriptions in self._by_topic.values():
            yield from subscriptions

    def complete(self) -> None:
        """Every task module is loaded: events may be fanned out to these subscribers."""
        self._complete = True

    @property
    def is_complete(self) -> bool:
        return self._complete


subscribers = Subscribers()


def subscriber(
    topic: Topic | Iterable[Topic], *, queue: str = "default"
) -> Callable[[EventHandler], Task]:
    """Make an event handler a Celery task subscribed to ``topic`` (one or several).

    The handler runs in one transaction with marking its delivery done, so a redelivered
    event is skipped; a failed handler leaves no trace and is retried with backoff, then
    dead-lettered (see :func:`ticketcreator.core.consumer.handle`).
    """

    def register(handler: EventHandler) -> Task:
        name = f"{handler.__module__}.{handler.__name__}"

        @celery_app.task(name=name, queue=queue, outbox_subscriber=True)  # type: ignore[untyped-decorator]
        def task(message: dict[str, Any]) -> None:
            run_async(consumer.handle(message, name, queue, handler))

        for each in [topic] if isinstance(topic, str) else topic:
            subscribers.add(each, name, queue)
        return task

    return register


# Emitting and delivering


def emit(
    session: AsyncSession,
    topic: Topic,
    payload: dict[str, Any],
    *,
    organization_id: uuid.UUID | None = None,
    delay: timedelta | None = None,
) -> OutboxEvent:
    """Record an event in the caller's transaction; it is delivered after commit, or
    ``delay`` later (then by the relay, within ``outbox.relay_interval_s``)."""
    now = utcnow()
    event = OutboxEvent(
        id=uuid.uuid4(),
        topic=topic,
        organization_id=organization_id,
        payload=payload,
        created_at=now,
        deliver_at=now + delay if delay else None,
        attempts=0,
    )
    session.add(event)
    pending: list[uuid.UUID] = session.info.setdefault("outbox_pending", [])
    if not pending:

        async def deliver_pending() -> None:
            try:
                await deliver(list(pending))
            except Exception:  # the change is committed; the relay hands its events over
                log.warning("outbox hand-over after commit failed", exc_info=True)
            pending.clear()

        after_commit(session, deliver_pending)
    pending.append(event.id)
    reactions.queue(session, event)
    return event


async def deliver(event_ids: list[uuid.UUID] | None = None, limit: int = 200) -> int:
    """Fan new events out to their subscribers and hand due deliveries to the broker (see
    :func:`ticketcreator.core.outbox.deliver`); returns how many were handed over."""
    route = subscribers.for_topic if subscribers.is_complete else None
    return await outbox.deliver(route, event_ids, limit)


@celery_app.task(name="outbox.relay")  # type: ignore[untyped-decorator]
def relay() -> int:
    """Hand undelivered outbox events to the broker."""
    return run_async(deliver(limit=get_settings().outbox.batch_size))


@celery_app.task(name="outbox.purge")  # type: ignore[untyped-decorator]
def purge() -> int:
    """Drop delivered outbox events and done deliveries past their retention."""
    return run_async(outbox.purge_delivered(timedelta(days=get_settings().outbox.retention_days)))
