"""rate_limits: name the counter column hits, as the code reads it

Revision ID: 5b2f0c9e7a41
Revises: 0d10865cafc7
Create Date: 2026-12-03 14:30:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "5b2f0c9e7a41"
down_revision = "0d10865cafc7"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rate_limits", schema=None) as batch_op:
        batch_op.alter_column("count", new_column_name="hits")


def downgrade() -> None:
    with op.batch_alter_table("rate_limits", schema=None) as batch_op:
        batch_op.alter_column("hits", new_column_name="count")
