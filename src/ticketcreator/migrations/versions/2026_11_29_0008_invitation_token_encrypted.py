"""invitation_token_encrypted: the invitation token, sealed, until the e-mail is sent

The mail worker needs the token to build the accept link; it is kept encrypted at rest
(``EncryptedString``, ``v1:<kid>:...``) and cleared once the e-mail is sent or the invitation
is accepted or withdrawn. Existing invitations have no stored token and are not mailed.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 07:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("invitation", sa.Column("token_encrypted", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("invitation", "token_encrypted")
