"""ai: triage decisions, suggestions, feedback, embeddings (pgvector), models, settings, spend

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 03:44:21.170924
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.create_table(
        "ai_settings",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("overrides", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_ai_settings_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"],
            ["user_account.id"],
            name=op.f("fk_ai_settings_updated_by_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("organization_id", name=op.f("pk_ai_settings")),
    )
    op.create_table(
        "organization_ai_model",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("tasks", postgresql.ARRAY(sa.String(length=32)), nullable=False),
        sa.Column("blob", sa.LargeBinary(), nullable=False),
        sa.Column("metrics", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("n_examples", sa.Integer(), nullable=False),
        sa.Column("trained_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_organization_ai_model_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organization_ai_model")),
        sa.UniqueConstraint(
            "organization_id",
            "version",
            name=op.f("uq_organization_ai_model_organization_id_version"),
        ),
    )
    op.create_index(
        "uq_organization_ai_model_active",
        "organization_ai_model",
        ["organization_id"],
        unique=True,
        postgresql_where=sa.text("active"),
    )
    op.create_table(
        "ai_decision",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("agent", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("model_version", sa.String(length=100), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("inputs_hash", sa.String(length=64), nullable=False),
        sa.Column("output", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("confidence", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.Column("applied_fields", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("record", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_ai_decision_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
            name=op.f("fk_ai_decision_ticket_id_ticket"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_decision")),
    )
    op.create_index(
        "ix_ai_decision_org_created", "ai_decision", ["organization_id", "created_at"], unique=False
    )
    op.create_index(
        "ix_ai_decision_ticket_created", "ai_decision", ["ticket_id", "created_at"], unique=False
    )
    op.create_table(
        "ai_spend",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=True),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_ai_spend_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
            name=op.f("fk_ai_spend_ticket_id_ticket"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_spend")),
    )
    op.create_index("ix_ai_spend_org_at", "ai_spend", ["organization_id", "at"], unique=False)
    op.create_index("ix_ai_spend_ticket", "ai_spend", ["ticket_id"], unique=False)
    op.create_table(
        "ticket_embedding",
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("embedding", Vector(384), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_ticket_embedding_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
            name=op.f("fk_ticket_embedding_ticket_id_ticket"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_ticket_embedding")),
    )
    op.create_index(
        "ix_ticket_embedding_org", "ticket_embedding", ["organization_id"], unique=False
    )
    op.create_index(
        "ix_ticket_embedding_vector",
        "ticket_embedding",
        ["embedding"],
        unique=False,
        postgresql_using="hnsw",
        postgresql_ops={"embedding": "vector_cosine_ops"},
    )
    op.create_table(
        "ai_feedback",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("decision_id", sa.Uuid(), nullable=True),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("ai_value", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("human_value", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("actor_user_id", sa.Uuid(), nullable=True),
        sa.Column("actor_api_key_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_api_key_id"],
            ["api_key.id"],
            name=op.f("fk_ai_feedback_actor_api_key_id_api_key"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["actor_user_id"],
            ["user_account.id"],
            name=op.f("fk_ai_feedback_actor_user_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["ai_decision.id"],
            name=op.f("fk_ai_feedback_decision_id_ai_decision"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_ai_feedback_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
            name=op.f("fk_ai_feedback_ticket_id_ticket"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_feedback")),
    )
    op.create_index(
        "ix_ai_feedback_org_created", "ai_feedback", ["organization_id", "created_at"], unique=False
    )
    op.create_index(op.f("ix_ai_feedback_ticket_id"), "ai_feedback", ["ticket_id"], unique=False)
    op.create_table(
        "ai_suggestion",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("decision_id", sa.Uuid(), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("value", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "accepted", "rejected", name="ai_suggestion_status"),
            nullable=False,
        ),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["decided_by"],
            ["user_account.id"],
            name=op.f("fk_ai_suggestion_decided_by_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["ai_decision.id"],
            name=op.f("fk_ai_suggestion_decision_id_ai_decision"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_ai_suggestion_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
            name=op.f("fk_ai_suggestion_ticket_id_ticket"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_suggestion")),
    )
    op.create_index(
        op.f("ix_ai_suggestion_decision_id"), "ai_suggestion", ["decision_id"], unique=False
    )
    op.create_index(
        "ix_ai_suggestion_ticket_status", "ai_suggestion", ["ticket_id", "status"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_ai_suggestion_ticket_status", table_name="ai_suggestion")
    op.drop_index(op.f("ix_ai_suggestion_decision_id"), table_name="ai_suggestion")
    op.drop_table("ai_suggestion")
    op.drop_index(op.f("ix_ai_feedback_ticket_id"), table_name="ai_feedback")
    op.drop_index("ix_ai_feedback_org_created", table_name="ai_feedback")
    op.drop_table("ai_feedback")
    op.drop_index(
        "ix_ticket_embedding_vector",
        table_name="ticket_embedding",
        postgresql_using="hnsw",
        postgresql_ops={"embedding": "vector_cosine_ops"},
    )
    op.drop_index("ix_ticket_embedding_org", table_name="ticket_embedding")
    op.drop_table("ticket_embedding")
    op.drop_index("ix_ai_spend_ticket", table_name="ai_spend")
    op.drop_index("ix_ai_spend_org_at", table_name="ai_spend")
    op.drop_table("ai_spend")
    op.drop_index("ix_ai_decision_ticket_created", table_name="ai_decision")
    op.drop_index("ix_ai_decision_org_created", table_name="ai_decision")
    op.drop_table("ai_decision")
    op.drop_index(
        "uq_organization_ai_model_active",
        table_name="organization_ai_model",
        postgresql_where=sa.text("active"),
    )
    op.drop_table("organization_ai_model")
    op.drop_table("ai_settings")
    sa.Enum(name="ai_suggestion_status").drop(op.get_bind(), checkfirst=False)
