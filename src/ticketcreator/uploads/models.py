"""The ``upload`` table: one resumable (tus) upload in progress or finished."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ticketcreator.core.db import Base, Timestamps, UUIDPrimaryKey


class Upload(UUIDPrimaryKey, Timestamps, Base):
    """Bytes arrive as parts (one stored object per accepted PATCH, keyed by its offset);
    on completion they are joined into the attachment that shares this upload's id."""

    __tablename__ = "upload"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_by_api_key_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_key.id", ondelete="SET NULL")
    )
    length: Mapped[int] = mapped_column(BigInteger)
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    # [[offset, size, tag], ...] of the parts accepted so far, in order (``tag`` names the
    # PATCH that wrote the part; parts written before tags existed have none).
    parts: Mapped[list[list[int]]] = mapped_column(JSONB, default=list)
    filename: Mapped[str] = mapped_column(String(255))
    declared_type: Mapped[str | None] = mapped_column(String(100))
    content_type: Mapped[str | None] = mapped_column(String(100))
    metadata_: Mapped[dict[str, str]] = mapped_column("metadata", JSONB, default=dict)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def is_complete(self) -> bool:
        return self.completed_at is not None

    @property
    def storage_prefix(self) -> str:
        return f"orgs/{self.organization_id}/uploads/{self.id}"

    def part_key(self, offset: int, tag: int | None = None) -> str:
        """Where a part is stored: each PATCH writes its own object, so two requests racing
        for the same offset never write into each other's bytes."""
        suffix = f"-{tag:012x}" if tag is not None else ""
        return f"{self.storage_prefix}/{offset:015d}{suffix}"

    def part_keys(self) -> list[str]:
        return [self.part_key(part[0], part[2] if len(part) > 2 else None) for part in self.parts]
