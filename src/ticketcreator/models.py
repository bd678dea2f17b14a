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
from ticketcreator.core.db import Base
from ticketcreator.core.outbox import OutboxEvent, ProcessedEvent

metadata = Base.metadata

__all__ = [
    "ApiKey",
    "AuditEntry",
    "AuthSession",
    "Invitation",
    "Membership",
    "Organization",
    "OutboxEvent",
    "ProcessedEvent",
    "RefreshToken",
    "User",
    "metadata",
]
