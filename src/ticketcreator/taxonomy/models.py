"""Organization-defined ticket vocabulary: categories, teams, custom field definitions, tags."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, DateTime, Enum, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from ticketcreator.core.db import Base, Timestamps, UUIDPrimaryKey, utcnow


class Category(UUIDPrimaryKey, Timestamps, Base):
    """A kind of problem; the description tells the AI triage what belongs here."""

    __tablename__ = "category"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")


class Team(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "team"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")


class TeamMember(Base):
    __tablename__ = "team_member"

    team_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("team.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FieldType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    SELECT = "select"


class CustomField(UUIDPrimaryKey, Timestamps, Base):
    """The definition of one organization-specific ticket field (values live on the ticket)."""

    __tablename__ = "custom_field"
    __table_args__ = (UniqueConstraint("organization_id", "key"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    key: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[FieldType] = mapped_column(
        Enum(FieldType, name="custom_field_type", values_callable=lambda e: [m.value for m in e])
    )
    options: Mapped[list[str]] = mapped_column(ARRAY(String(100)), default=list)
    required: Mapped[bool] = mapped_column(Boolean, default=False)


class Tag(UUIDPrimaryKey, Base):
    __tablename__ = "tag"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(50))  # stored lower-cased
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
