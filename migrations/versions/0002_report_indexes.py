"""report indexes: a period's attempts and call-backs, found by their time

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

The monthly report joins a month's calls (found through ix_calls_branch_local_day) to their
attempts. Without a way to narrow call_attempts, PostgreSQL hashes the whole table (10 M calls:
11 M attempts, seconds per report). The report bounds attempts by start time around the
period (an attempt starts while its call rings, so a generous margin keeps the join exact) and
ix_call_attempts_started_at makes that a range scan. Call-backs are counted by creation
time; ix_callbacks_created_at spares a scan of the whole callbacks table.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_call_attempts_started_at"), "call_attempts", ["started_at"], unique=False
    )
    op.create_index(op.f("ix_callbacks_created_at"), "callbacks", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_callbacks_created_at"), table_name="callbacks")
    op.drop_index(op.f("ix_call_attempts_started_at"), table_name="call_attempts")
