"""delivery_lease: a running delivery is claimed by a lease (token and expiry), not a row lock

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("processed_event", sa.Column("lease", sa.Uuid(), nullable=True))
    op.add_column(
        "processed_event", sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("processed_event", "leased_until")
    op.drop_column("processed_event", "lease")
