"""Add users.email, a column that may be empty.

Revision ID: 0001
Revises: (none: the first migration; the tables were made by sandbox/messaging/db.py)
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    # Nullable: the rows already there get NULL. A NOT NULL column would need a server_default.
    op.add_column("users", sa.Column("email", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "email")  # ALTER TABLE ... DROP COLUMN: SQLite 3.35 (2021) or later
