"""web sessions: the admin web's log-ins kept server-side

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

A signed cookie stayed valid after logout (up to its 12 h maximum). Sessions now live in
this table: the browser holds a random token, the row holds its SHA-256, the user, a digest
of the user's password hash (a changed password revokes the user's sessions) and the
log-in and last-seen times. Logout deletes the row; sessions survive a restart.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_name", sa.String(length=100), nullable=False),
        sa.Column("credential", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
    )
    op.create_index(op.f("ix_web_sessions_user_name"), "web_sessions", ["user_name"])
    op.create_index(op.f("ix_web_sessions_seen_at"), "web_sessions", ["seen_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_web_sessions_seen_at"), table_name="web_sessions")
    op.drop_index(op.f("ix_web_sessions_user_name"), table_name="web_sessions")
    op.drop_table("web_sessions")
