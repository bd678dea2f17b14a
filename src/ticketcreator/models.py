"""Every ORM model, imported so that Alembic and the mappers see the whole schema."""

from ticketcreator.accounts.models import (
    ApiKey,
    AuditEntry,
    AuthSession,
    Invitation,
    Membership,
    Organization,
    RefreshToken,
    User,
)
from ticketcreator.ai.triage.models import (
    AIDecision,
    AIFeedback,
    AISettings,
    AISpend,
    AISuggestion,
    OrganizationAIModel,
    TicketEmbedding,
)
from ticketcreator.attachments.models import Attachment
from ticketcreator.captures.models import Capture, CaptureAttachment
from ticketcreator.core.db import Base
from ticketcreator.core.outbox import OutboxEvent, ProcessedEvent
from ticketcreator.notifications.models import WebhookDelivery, WebhookEndpoint
from ticketcreator.taxonomy.models import Category, CustomField, Tag, Team, TeamMember
from ticketcreator.tickets.models import (
    Comment,
    ExternalLink,
    IdempotencyKey,
    Ticket,
    TicketCounter,
    TicketEvent,
    Watcher,
    ticket_tag,
)
from ticketcreator.transcripts.models import AttachmentText
from ticketcreator.uploads.models import Upload

metadata = Base.metadata

__all__ = [
    "AIDecision",
    "AIFeedback",
    "AISettings",
    "AISpend",
    "AISuggestion",
    "ApiKey",
    "Attachment",
    "AttachmentText",
    "AuditEntry",
    "AuthSession",
    "Capture",
    "CaptureAttachment",
    "Category",
    "Comment",
    "CustomField",
    "ExternalLink",
    "IdempotencyKey",
    "Invitation",
    "Membership",
    "Organization",
    "OrganizationAIModel",
    "OutboxEvent",
    "ProcessedEvent",
    "RefreshToken",
    "Tag",
    "Team",
    "TeamMember",
    "Ticket",
    "TicketCounter",
    "TicketEmbedding",
    "TicketEvent",
    "Upload",
    "User",
    "Watcher",
    "WebhookDelivery",
    "WebhookEndpoint",
    "metadata",
    "ticket_tag",
]
