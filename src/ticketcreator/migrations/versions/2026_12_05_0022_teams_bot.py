"""teams_bot holds the Entra app and conversation of a Teams bot endpoint; teams_card keeps
the card a bot posted (its activity id), the changes it shows and which of its versions
Teams shows

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "teams_bot",
        sa.Column("endpoint_id", sa.Uuid(), nullable=False),
        sa.Column("app_id", sa.String(length=64), nullable=False),
        sa.Column("app_secret", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.String(length=100), nullable=False),
        sa.Column("conversation_id", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoint.id"],
            name=op.f("fk_teams_bot_endpoint_id_webhook_endpoint"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("endpoint_id", name=op.f("pk_teams_bot")),
    )
    op.add_column("teams_card", sa.Column("activity_id", sa.String(length=200), nullable=True))
    for name, kind, empty in (
        ("shown", postgresql.JSONB(astext_type=sa.Text()), "'[]'::jsonb"),
        ("shown_total", sa.Integer(), "0"),
        ("cards_made", sa.Integer(), "0"),
        ("cards_shown", sa.Integer(), "0"),
    ):
        column = sa.Column(name, kind, nullable=False, server_default=sa.text(empty))
        op.add_column("teams_card", column)
        op.alter_column("teams_card", name, server_default=None)


def downgrade() -> None:
    for name in ("cards_shown", "cards_made", "shown_total", "shown", "activity_id"):
        op.drop_column("teams_card", name)
    op.drop_table("teams_bot")
