"""Every topic the system announces and the shape of its payload: the vocabulary of the event
bus (:mod:`ticketcreator.core.events`). Nothing else in the code spells a topic's name."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NotRequired, TypedDict


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
    ROUTING_NOTIFY = "routing.notify"  # RuleNotify: a rule's notify(_slack) action
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
    NOTIFICATION_EMAIL_DUE = "notification.email_due"  # EmailDue: send these e-mails now
    SLACK_MESSAGE_DUE = "slack.message_due"  # SlackMessageDue: post or edit it now
    SLACK_REPLY_DUE = "slack.reply_due"  # SlackReply: answer who clicked or wrote to the app
    TEAMS_CARD_DUE = "teams.card_due"  # TeamsCardDue: send the held changes as one card


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
    """A rule (or escalation) announces the ticket: ``notify`` or ``notify_slack``."""

    webhook_id: NotRequired[str]
    channel: NotRequired[str]
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


class EmailDue(TypedDict):
    notification_ids: list[str]  # pending e-mail notifications of one recipient


class SlackMessageDue(TypedDict):
    message_id: str  # a ticket's message in a Slack channel (notifications)


class SlackReply(TypedDict):
    text: str
    response_url: NotRequired[str]  # a click's: the answer is shown only to who clicked
    channel: NotRequired[str]  # a direct message's: the app's conversation with its sender


class TeamsCardDue(TicketRef):
    endpoint_id: str  # a Teams endpoint with changes to the ticket held (notifications)


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
_TAXONOMY_CHANGES = tuple(
    topic for topic in Topic if topic.split(".")[0] in ("category", "team", "custom_field", "tag")
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
    Topic.NOTIFICATION_EMAIL_DUE: EmailDue,
    Topic.SLACK_MESSAGE_DUE: SlackMessageDue,
    Topic.SLACK_REPLY_DUE: SlackReply,
    Topic.TEAMS_CARD_DUE: TeamsCardDue,
}
