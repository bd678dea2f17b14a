"""captures: capture submissions, their media, and text of attachments (transcripts, OCR)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 03:56:34.776404
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "attachment_text",
        sa.Column("attachment_id", sa.Uuid(), nullable=False),
        sa.Column(
            "source", sa.Enum("transcript", "ocr", name="attachment_text_source"), nullable=False
        ),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column(
            "status", sa.Enum("ready", "failed", name="attachment_text_status"), nullable=False
        ),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("segments", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("empty_reason", sa.String(length=40), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("processing_s", sa.Float(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["attachment_id"],
            ["attachment.id"],
            name=op.f("fk_attachment_text_attachment_id_attachment"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_attachment_text_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("attachment_id", "source", name=op.f("pk_attachment_text")),
    )
    op.create_index(
        op.f("ix_attachment_text_organization_id"),
        "attachment_text",
        ["organization_id"],
        unique=False,
    )
    op.create_table(
        "capture",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("created_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("created_by_api_key_id", sa.Uuid(), nullable=True),
        sa.Column(
            "kind",
            sa.Enum("screenshot", "tab_recording", "screen_recording", "file", name="capture_kind"),
            nullable=False,
        ),
        sa.Column("page_url", sa.Text(), nullable=False),
        sa.Column("page_title", sa.String(length=1000), nullable=False),
        sa.Column("user_agent", sa.String(length=1000), nullable=False),
        sa.Column("browser", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("os", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("viewport", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("console", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("network", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("steps", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("title_generated", sa.Boolean(), nullable=False),
        sa.Column("secrets_removed", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_api_key_id"],
            ["api_key.id"],
            name=op.f("fk_capture_created_by_api_key_id_api_key"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["user_account.id"],
            name=op.f("fk_capture_created_by_user_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_capture_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
            name=op.f("fk_capture_ticket_id_ticket"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_capture")),
    )
    op.create_index(
        op.f("ix_capture_organization_id"), "capture", ["organization_id"], unique=False
    )
    op.create_index(
        "ix_capture_ticket_created", "capture", ["ticket_id", "created_at"], unique=False
    )
    op.create_table(
        "capture_attachment",
        sa.Column("capture_id", sa.Uuid(), nullable=False),
        sa.Column("attachment_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["attachment_id"],
            ["attachment.id"],
            name=op.f("fk_capture_attachment_attachment_id_attachment"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["capture_id"],
            ["capture.id"],
            name=op.f("fk_capture_attachment_capture_id_capture"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("capture_id", "attachment_id", name=op.f("pk_capture_attachment")),
    )
    op.create_index(
        op.f("ix_capture_attachment_attachment_id"),
        "capture_attachment",
        ["attachment_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_capture_attachment_attachment_id"), table_name="capture_attachment")
    op.drop_table("capture_attachment")
    op.drop_index("ix_capture_ticket_created", table_name="capture")
    op.drop_index(op.f("ix_capture_organization_id"), table_name="capture")
    op.drop_table("capture")
    op.drop_index(op.f("ix_attachment_text_organization_id"), table_name="attachment_text")
    op.drop_table("attachment_text")
    for enum in ("capture_kind", "attachment_text_status", "attachment_text_source"):
        sa.Enum(name=enum).drop(op.get_bind(), checkfirst=True)
