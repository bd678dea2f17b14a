"""outbox_deliver_at: an event may be emitted with a delay; its deliveries are due only then

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 14:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "outbox_event", sa.Column("deliver_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("outbox_event", "deliver_at")
