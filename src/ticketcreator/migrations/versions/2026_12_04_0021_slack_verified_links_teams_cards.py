"""slack_user_link holds only links Slack vouched for (with the workspace); teams_card holds
the changes to a ticket waiting for the next card to a Teams endpoint

The links stored so far were claimed by members without Slack's word: they are removed, and
each member links again from a click in Slack.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 20:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DELETE FROM slack_user_link")
    op.add_column(
        "slack_user_link", sa.Column("slack_team_id", sa.String(length=32), nullable=False)
    )
    op.drop_constraint(
        "uq_slack_user_link_organization_id_slack_user_id", "slack_user_link", type_="unique"
    )
    op.create_unique_constraint(
        "uq_slack_user_link_organization_id_slack_team_id_slack_user_id",
        "slack_user_link",
        ["organization_id", "slack_team_id", "slack_user_id"],
    )
    op.create_table(
        "teams_card",
        sa.Column("endpoint_id", sa.Uuid(), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("held", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoint.id"],
            name=op.f("fk_teams_card_endpoint_id_webhook_endpoint"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
            name=op.f("fk_teams_card_ticket_id_ticket"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_teams_card_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("endpoint_id", "ticket_id", name=op.f("pk_teams_card")),
    )
    op.create_index(
        op.f("ix_teams_card_organization_id"), "teams_card", ["organization_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_teams_card_organization_id"), table_name="teams_card")
    op.drop_table("teams_card")
    op.drop_constraint(
        "uq_slack_user_link_organization_id_slack_team_id_slack_user_id",
        "slack_user_link",
        type_="unique",
    )
    op.create_unique_constraint(
        "uq_slack_user_link_organization_id_slack_user_id",
        "slack_user_link",
        ["organization_id", "slack_user_id"],
    )
    op.drop_column("slack_user_link", "slack_team_id")
