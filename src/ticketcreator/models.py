"""Every ORM model, imported so that Alembic and the mappers see the whole schema."""

from ticketcreator.core.db import Base
from ticketcreator.core.outbox import OutboxEvent, ProcessedEvent

metadata = Base.metadata

__all__ = ["OutboxEvent", "ProcessedEvent", "metadata"]
