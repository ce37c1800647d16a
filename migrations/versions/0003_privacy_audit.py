"""privacy audit: one row per data subject's request served, without the number

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

``callrouter privacy export|erase NUMBER`` records what it did (action, who asked for it,
how many calls, call-backs, events and recordings) so the unit can show that a request was
served. The number itself is never stored here: an erased number must not survive in its
own audit trail.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "privacy_requests",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("callbacks", sa.Integer(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("recordings", sa.Integer(), nullable=False),
        sa.Column("file_lines", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "action IN ('export', 'erase')", name=op.f("ck_privacy_requests_action")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_requests")),
    )
    op.create_index(op.f("ix_privacy_requests_at"), "privacy_requests", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_privacy_requests_at"), table_name="privacy_requests")
    op.drop_table("privacy_requests")
