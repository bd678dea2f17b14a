"""integrations: installations, per-ticket sync state, comment links, webhooks, sync log

External links gain the installation that keeps them in sync, the last synced ticket version
and the state the vendor is known to hold. Installation secrets are sealed
(``EncryptedString``: stored as text).

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-03 22:47:54.819297
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "integration_installation",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("base_url", sa.String(length=2000), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("config", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("secrets", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failures_total", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rate_limit_waits", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_lag_ms", sa.Integer(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
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
            ["created_by"],
            ["user_account.id"],
            name=op.f("fk_integration_installation_created_by_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_integration_installation_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration_installation")),
    )
    op.create_index(
        "ix_integration_installation_org",
        "integration_installation",
        ["organization_id", "provider"],
        unique=False,
    )
    op.create_table(
        "integration_webhook_delivery",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("installation_id", sa.Uuid(), nullable=False),
        sa.Column("delivery_id", sa.String(length=200), nullable=False),
        sa.Column("event", sa.String(length=100), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=200), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["installation_id"],
            ["integration_installation.id"],
            name=op.f("fk_integration_webhook_delivery_installation_id_integration_installation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_integration_webhook_delivery_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration_webhook_delivery")),
        sa.UniqueConstraint(
            "installation_id",
            "delivery_id",
            name=op.f("uq_integration_webhook_delivery_installation_id_delivery_id"),
        ),
    )
    op.create_index(
        op.f("ix_integration_webhook_delivery_installation_id"),
        "integration_webhook_delivery",
        ["installation_id"],
        unique=False,
    )
    op.create_table(
        "integration_sync_log",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("installation_id", sa.Uuid(), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=True),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["installation_id"],
            ["integration_installation.id"],
            name=op.f("fk_integration_sync_log_installation_id_integration_installation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_integration_sync_log_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
            name=op.f("fk_integration_sync_log_ticket_id_ticket"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration_sync_log")),
    )
    op.create_index(
        "ix_integration_sync_log_installation",
        "integration_sync_log",
        ["installation_id", "created_at", "id"],
        unique=False,
    )
    op.create_table(
        "integration_ticket_sync",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("installation_id", sa.Uuid(), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("create_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["installation_id"],
            ["integration_installation.id"],
            name=op.f("fk_integration_ticket_sync_installation_id_integration_installation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_integration_ticket_sync_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
            name=op.f("fk_integration_ticket_sync_ticket_id_ticket"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration_ticket_sync")),
        sa.UniqueConstraint(
            "installation_id",
            "ticket_id",
            name=op.f("uq_integration_ticket_sync_installation_id_ticket_id"),
        ),
    )
    op.create_index(
        "ix_integration_ticket_sync_due",
        "integration_ticket_sync",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("requested_at IS NOT NULL"),
    )
    op.create_table(
        "integration_comment_link",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("installation_id", sa.Uuid(), nullable=False),
        sa.Column("comment_id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("origin", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["ticket_comment.id"],
            name=op.f("fk_integration_comment_link_comment_id_ticket_comment"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["installation_id"],
            ["integration_installation.id"],
            name=op.f("fk_integration_comment_link_installation_id_integration_installation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_integration_comment_link_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration_comment_link")),
        sa.UniqueConstraint(
            "installation_id",
            "comment_id",
            name=op.f("uq_integration_comment_link_installation_id_comment_id"),
        ),
    )
    op.create_index(
        "uq_integration_comment_link_external",
        "integration_comment_link",
        ["installation_id", "external_id"],
        unique=True,
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )
    op.add_column("external_link", sa.Column("installation_id", sa.Uuid(), nullable=True))
    op.add_column("external_link", sa.Column("last_synced_version", sa.Integer(), nullable=True))
    op.add_column(
        "external_link", sa.Column("last_synced_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "external_link",
        sa.Column(
            "remote_state",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
    )
    op.create_index(
        op.f("ix_external_link_installation_id"), "external_link", ["installation_id"], unique=False
    )
    op.create_foreign_key(
        op.f("fk_external_link_installation_id_integration_installation"),
        "external_link",
        "integration_installation",
        ["installation_id"],
        ["id"],
        ondelete="SET NULL",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("fk_external_link_installation_id_integration_installation"),
        "external_link",
        type_="foreignkey",
    )
    op.drop_index(op.f("ix_external_link_installation_id"), table_name="external_link")
    op.drop_column("external_link", "remote_state")
    op.drop_column("external_link", "last_synced_at")
    op.drop_column("external_link", "last_synced_version")
    op.drop_column("external_link", "installation_id")
    op.drop_index(
        "uq_integration_comment_link_external",
        table_name="integration_comment_link",
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )
    op.drop_table("integration_comment_link")
    op.drop_index(
        "ix_integration_ticket_sync_due",
        table_name="integration_ticket_sync",
        postgresql_where=sa.text("requested_at IS NOT NULL"),
    )
    op.drop_table("integration_ticket_sync")
    op.drop_index("ix_integration_sync_log_installation", table_name="integration_sync_log")
    op.drop_table("integration_sync_log")
    op.drop_index(
        op.f("ix_integration_webhook_delivery_installation_id"),
        table_name="integration_webhook_delivery",
    )
    op.drop_table("integration_webhook_delivery")
    op.drop_index("ix_integration_installation_org", table_name="integration_installation")
    op.drop_table("integration_installation")
