"""Tables of AI triage: decisions, suggestions, feedback, embeddings, models, settings, spend."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ticketcreator.ai.local.encoder import EMBEDDING_DIM
from ticketcreator.core.db import Base, UUIDPrimaryKey, utcnow


class SuggestionStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class AIDecision(UUIDPrimaryKey, Base):
    """One AI answer for one ticket: who produced it, at what cost, and what was applied.

    A triage run writes one row per agent (``categorization``, ``priority``, ``summary``) and
    one for the local text analysis (``analysis``), all sharing ``run_id``.
    """

    __tablename__ = "ai_decision"
    __table_args__ = (
        Index("ix_ai_decision_ticket_created", "ticket_id", "created_at"),
        Index("ix_ai_decision_org_created", "organization_id", "created_at"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    run_id: Mapped[uuid.UUID]
    agent: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(200))
    model_version: Mapped[str | None] = mapped_column(String(100))
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    # SHA-256 of the redacted text the decision was made from.
    inputs_hash: Mapped[str] = mapped_column(String(64))
    output: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    confidence: Mapped[dict[str, float]] = mapped_column(JSONB, default=dict)
    applied: Mapped[bool] = mapped_column(Boolean, default=False)
    # Field -> the value the AI set on the ticket (what human feedback is compared with).
    applied_fields: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # The provider router's record: every attempt, fallbacks, redactions, cost, latency.
    record: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AISuggestion(UUIDPrimaryKey, Base):
    """An AI answer below its agent's confidence threshold, waiting for a human."""

    __tablename__ = "ai_suggestion"
    __table_args__ = (Index("ix_ai_suggestion_ticket_status", "ticket_id", "status"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    decision_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ai_decision.id", ondelete="CASCADE"), index=True
    )
    field: Mapped[str] = mapped_column(String(64))
    value: Mapped[Any] = mapped_column(JSONB)
    confidence: Mapped[float] = mapped_column(Float)
    status: Mapped[SuggestionStatus] = mapped_column(
        Enum(
            SuggestionStatus,
            name="ai_suggestion_status",
            values_callable=lambda members: [m.value for m in members],
        ),
        default=SuggestionStatus.PENDING,
    )
    decided_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AIFeedback(UUIDPrimaryKey, Base):
    """A human changed a field the AI had set: how often this happens measures AI accuracy."""

    __tablename__ = "ai_feedback"
    __table_args__ = (Index("ix_ai_feedback_org_created", "organization_id", "created_at"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    ticket_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ticket.id", ondelete="CASCADE"), index=True
    )
    decision_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("ai_decision.id", ondelete="SET NULL")
    )
    field: Mapped[str] = mapped_column(String(64))
    ai_value: Mapped[Any] = mapped_column(JSONB, nullable=True)
    human_value: Mapped[Any] = mapped_column(JSONB, nullable=True)
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    actor_api_key_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_key.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TicketEmbedding(Base):
    """The MiniLM vector of a ticket's text, for similar-ticket search (cosine, HNSW)."""

    __tablename__ = "ticket_embedding"
    __table_args__ = (
        Index(
            "ix_ticket_embedding_vector",
            "embedding",
            postgresql_using="hnsw",
            postgresql_ops={"embedding": "vector_cosine_ops"},
        ),
        Index("ix_ticket_embedding_org", "organization_id"),
    )

    ticket_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True
    )
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    embedding: Mapped[Any] = mapped_column(Vector(EMBEDDING_DIM))
    model: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class OrganizationAIModel(UUIDPrimaryKey, Base):
    """One trained version of an organization's triage model; at most one is active."""

    __tablename__ = "organization_ai_model"
    __table_args__ = (
        UniqueConstraint("organization_id", "version"),
        Index(
            "uq_organization_ai_model_active",
            "organization_id",
            unique=True,
            postgresql_where=text("active"),
        ),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    version: Mapped[int] = mapped_column(Integer)
    tasks: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    # Held-back accuracy and macro-F1 per task, learned vs zero-shot, and the verdict.
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    n_examples: Mapped[int] = mapped_column(Integer)
    trained_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AISettings(Base):
    """An organization's run-time overrides of the AI configuration (prompts, agents, triage)."""

    __tablename__ = "ai_settings"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True
    )
    overrides: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AISpend(UUIDPrimaryKey, Base):
    """One paid AI call, summed for the per-ticket, daily and monthly cost limits."""

    __tablename__ = "ai_spend"
    __table_args__ = (
        Index("ix_ai_spend_org_at", "organization_id", "at"),
        Index("ix_ai_spend_ticket", "ticket_id"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("ticket.id", ondelete="SET NULL")
    )
    provider: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(200))
    cost: Mapped[float] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
