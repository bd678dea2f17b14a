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
from ticketcreator.attachments.models import Attachment
from ticketcreator.core.db import Base
from ticketcreator.core.outbox import OutboxEvent, ProcessedEvent
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
from ticketcreator.uploads.models import Upload

metadata = Base.metadata

__all__ = [
    "ApiKey",
    "Attachment",
    "AuditEntry",
    "AuthSession",
    "Category",
    "Comment",
    "CustomField",
    "ExternalLink",
    "IdempotencyKey",
    "Invitation",
    "Membership",
    "Organization",
    "OutboxEvent",
    "ProcessedEvent",
    "RefreshToken",
    "Tag",
    "Team",
    "TeamMember",
    "Ticket",
    "TicketCounter",
    "TicketEvent",
    "Upload",
    "User",
    "Watcher",
    "metadata",
    "ticket_tag",
]
