"""initial schema: calls, attempts, events, callbacks

Revision ID: 0001
Revises:
Create Date: 2026-11-28

Every table of the call log, with the constraints that keep outcomes, results, modes
and resolutions to their allowed sets, attempts tied to their call, and the indexes the
monthly report (branch, local_day) and "calls of this caller" need.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("linkedid", sa.String(length=64), nullable=False),
        sa.Column("uniqueid", sa.String(length=64), nullable=True),
        sa.Column("branch", sa.SmallInteger(), nullable=False),
        sa.Column("caller", sa.String(length=64), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("local_day", sa.Date(), nullable=False),
        sa.Column("local_hour", sa.SmallInteger(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("answered_officer_id", sa.String(length=64), nullable=True),
        sa.Column("answered_officer_name", sa.String(length=200), nullable=True),
        sa.Column("answered_number", sa.String(length=32), nullable=True),
        sa.Column("wait_seconds", sa.Float(), nullable=True),
        sa.Column("talk_seconds", sa.Float(), nullable=True),
        sa.Column("hangup_cause", sa.Integer(), nullable=True),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("rota_version", sa.String(length=64), nullable=True),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("resolution", sa.String(length=32), nullable=True),
        sa.Column("classified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("classified_by", sa.String(length=100), nullable=True),
        sa.CheckConstraint("mode IN ('ari', 'agi', 'fallback')", name=op.f("ck_calls_mode")),
        sa.CheckConstraint(
            "outcome IN ('answered', 'abandoned', 'unanswered', 'after_hours', 'failed')",
            name=op.f("ck_calls_outcome"),
        ),
        sa.CheckConstraint(
            "resolution IN ('answered_on_phone', 'forwarded_to_agency', 'needs_callback', 'other')",
            name=op.f("ck_calls_resolution"),
        ),
        sa.CheckConstraint("local_hour BETWEEN 0 AND 23", name=op.f("ck_calls_local_hour")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
        sa.UniqueConstraint("linkedid", name=op.f("uq_calls_linkedid")),
    )
    op.create_index(
        op.f("ix_calls_branch_local_day"), "calls", ["branch", "local_day"], unique=False
    )
    op.create_index(op.f("ix_calls_caller"), "calls", ["caller"], unique=False)
    op.create_index(op.f("ix_calls_started_at"), "calls", ["started_at"], unique=False)

    op.create_table(
        "call_attempts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("call_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.SmallInteger(), nullable=False),
        sa.Column("officer_id", sa.String(length=64), nullable=False),
        sa.Column("officer_name", sa.String(length=200), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("number_label", sa.String(length=100), nullable=True),
        sa.Column("channel_id", sa.String(length=128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.String(length=16), nullable=True),
        sa.Column("cause", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "result IN ('answered', 'busy', 'no_answer', 'declined', 'failed', 'cancelled')",
            name=op.f("ck_call_attempts_result"),
        ),
        sa.CheckConstraint("seq >= 0", name=op.f("ck_call_attempts_seq")),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.id"],
            name=op.f("fk_call_attempts_call_id_calls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_attempts")),
        sa.UniqueConstraint("call_id", "seq", name=op.f("uq_call_attempts_call_id_seq")),
    )
    op.create_index(
        op.f("ix_call_attempts_officer_id"), "call_attempts", ["officer_id"], unique=False
    )

    op.create_table(
        "call_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("call_id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_call_events_call_id_calls"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_events")),
        sa.UniqueConstraint("record_id", name=op.f("uq_call_events_record_id")),
    )
    op.create_index(
        op.f("ix_call_events_call_id_at"), "call_events", ["call_id", "at"], unique=False
    )

    op.create_table(
        "callbacks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("call_id", sa.String(length=36), nullable=True),
        sa.Column("number", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recording", sa.Text(), nullable=True),
        sa.Column("done_by", sa.String(length=100), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outbound_linkedid", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "reason IN ('after_hours_message', 'abandoned', 'unanswered')",
            name=op.f("ck_callbacks_reason"),
        ),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_callbacks_call_id_calls"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callbacks")),
    )
    op.create_index(op.f("ix_callbacks_call_id"), "callbacks", ["call_id"], unique=False)
    op.create_index(
        op.f("ix_callbacks_done_at_created_at"),
        "callbacks",
        ["done_at", "created_at"],
        unique=False,
    )
    op.create_index(op.f("ix_callbacks_number"), "callbacks", ["number"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_callbacks_number"), table_name="callbacks")
    op.drop_index(op.f("ix_callbacks_done_at_created_at"), table_name="callbacks")
    op.drop_index(op.f("ix_callbacks_call_id"), table_name="callbacks")

    op.drop_table("callbacks")
    op.drop_index(op.f("ix_call_events_call_id_at"), table_name="call_events")

    op.drop_table("call_events")
    op.drop_index(op.f("ix_call_attempts_officer_id"), table_name="call_attempts")

    op.drop_table("call_attempts")
    op.drop_index(op.f("ix_calls_started_at"), table_name="calls")
    op.drop_index(op.f("ix_calls_caller"), table_name="calls")
    op.drop_index(op.f("ix_calls_branch_local_day"), table_name="calls")

    op.drop_table("calls")
