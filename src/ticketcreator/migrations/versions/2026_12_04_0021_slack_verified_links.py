"""slack_user_link holds only links Slack vouched for (with the workspace)

The links stored so far were claimed by members without Slack's word: they are removed, and
each member links again from a click in Slack.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 20:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

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


def downgrade() -> None:
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
