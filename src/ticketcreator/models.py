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
from ticketcreator.integrations.models import (
    CommentLink,
    Installation,
    SyncLogEntry,
    TicketSync,
    WebhookDelivery,
)
from ticketcreator.notifications.email_models import EmailNotification, NotificationPreference
from ticketcreator.notifications.models import (
    SlackConnection,
    SlackMessage,
    SlackTeamChannel,
    SlackUserLink,
    TeamsCard,
    WebhookEndpoint,
)
from ticketcreator.notifications.models import WebhookDelivery as OutgoingWebhookDelivery
from ticketcreator.routing.models import (
    AgentProfile,
    AgentSkill,
    AssignmentCursor,
    BusinessCalendar,
    RoutingRule,
    RoutingRuleSet,
    RoutingRuleVersion,
    SlaPolicy,
    TeamRouting,
    TicketSla,
    TicketSlaMetric,
)
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
    "AgentProfile",
    "AgentSkill",
    "ApiKey",
    "AssignmentCursor",
    "Attachment",
    "AttachmentText",
    "AuditEntry",
    "AuthSession",
    "BusinessCalendar",
    "Capture",
    "CaptureAttachment",
    "Category",
    "Comment",
    "CommentLink",
    "CustomField",
    "EmailNotification",
    "ExternalLink",
    "IdempotencyKey",
    "Installation",
    "Invitation",
    "Membership",
    "NotificationPreference",
    "Organization",
    "OrganizationAIModel",
    "OutboxEvent",
    "OutgoingWebhookDelivery",
    "ProcessedEvent",
    "RefreshToken",
    "RoutingRule",
    "RoutingRuleSet",
    "RoutingRuleVersion",
    "SlaPolicy",
    "SlackConnection",
    "SlackMessage",
    "SlackTeamChannel",
    "SlackUserLink",
    "SyncLogEntry",
    "Tag",
    "Team",
    "TeamMember",
    "TeamRouting",
    "TeamsCard",
    "Ticket",
    "TicketCounter",
    "TicketEmbedding",
    "TicketEvent",
    "TicketSla",
    "TicketSlaMetric",
    "TicketSync",
    "Upload",
    "User",
    "Watcher",
    "WebhookDelivery",
    "WebhookEndpoint",
    "metadata",
    "ticket_tag",
]
