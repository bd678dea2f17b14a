"""ticket_event_actor_kind: who made each ticket change (user, api_key, ai, system)

Existing events are classified by their actor ids: the key first (an API key's events also
carry the id of the user who created the key), then the user, else ``system`` (the AI's
earlier changes cannot be told apart from system changes). Every writer sets the kind from
now on.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 06:29:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

actor_kind = postgresql.ENUM(
    "user", "api_key", "ai", "system", name="ticket_actor_kind", create_type=False
)


def upgrade() -> None:
    actor_kind.create(op.get_bind())
    op.add_column("ticket_event", sa.Column("actor_kind", actor_kind, nullable=True))
    op.execute(
        """
        UPDATE ticket_event SET actor_kind = CASE
            WHEN actor_api_key_id IS NOT NULL THEN 'api_key'::ticket_actor_kind
            WHEN actor_user_id IS NOT NULL THEN 'user'::ticket_actor_kind
            ELSE 'system'::ticket_actor_kind
        END
        """
    )
    op.alter_column("ticket_event", "actor_kind", nullable=False)


def downgrade() -> None:
    op.drop_column("ticket_event", "actor_kind")
    actor_kind.drop(op.get_bind())
