"""event_delivery_state: one processed_event row per (event, subscriber) delivery, with state

``processed_event`` held only finished deliveries. It now records each delivery from the
moment the relay hands the event out: ``pending`` (due again at ``next_attempt_at``, runs
counted in ``attempts``, hand-overs in ``sends``) until ``done`` or ``dead`` (dead-lettered,
``last_error`` says why). Existing rows were finished: they become ``done``. ``id`` names a
delivery in the API. ``attachment.processing_requeues`` counts how often the sweeper queued
an attachment stuck in processing again.

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-03 22:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "processed_event",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
    )
    op.alter_column("processed_event", "id", server_default=None)
    op.create_unique_constraint(op.f("uq_processed_event_id"), "processed_event", ["id"])
    op.add_column(
        "processed_event",
        sa.Column("queue", sa.String(length=50), server_default="default", nullable=False),
    )
    op.add_column(
        "processed_event",
        sa.Column("state", sa.String(length=10), server_default="done", nullable=False),
    )
    op.add_column(
        "processed_event", sa.Column("attempts", sa.Integer(), server_default="1", nullable=False)
    )
    op.add_column(
        "processed_event", sa.Column("sends", sa.Integer(), server_default="1", nullable=False)
    )
    op.add_column(
        "processed_event",
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column("processed_event", sa.Column("last_error", sa.Text(), nullable=True))
    op.add_column(
        "processed_event",
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )
    op.execute("UPDATE processed_event SET created_at = processed_at")
    for column in ("queue", "state", "attempts", "sends", "created_at"):
        op.alter_column("processed_event", column, server_default=None)
    op.alter_column("processed_event", "processed_at", nullable=True)
    op.create_check_constraint(
        op.f("ck_processed_event_state"),
        "processed_event",
        "state IN ('pending', 'done', 'dead')",
    )
    op.create_index(
        "ix_processed_event_due",
        "processed_event",
        ["next_attempt_at"],
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_index(
        "ix_processed_event_dead",
        "processed_event",
        ["created_at"],
        postgresql_where=sa.text("state = 'dead'"),
    )
    op.add_column(
        "attachment",
        sa.Column("processing_requeues", sa.Integer(), server_default="0", nullable=False),
    )
    op.alter_column("attachment", "processing_requeues", server_default=None)


def downgrade() -> None:
    op.drop_column("attachment", "processing_requeues")
    op.execute("DELETE FROM processed_event WHERE state <> 'done'")
    op.drop_index("ix_processed_event_dead", table_name="processed_event")
    op.drop_index("ix_processed_event_due", table_name="processed_event")
    op.drop_constraint(op.f("ck_processed_event_state"), "processed_event", type_="check")
    op.alter_column("processed_event", "processed_at", nullable=False)
    op.drop_constraint(op.f("uq_processed_event_id"), "processed_event", type_="unique")
    for column in (
        "created_at",
        "last_error",
        "next_attempt_at",
        "sends",
        "attempts",
        "state",
        "queue",
        "id",
    ):
        op.drop_column("processed_event", column)
