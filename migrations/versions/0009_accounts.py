"""accounts and API tokens: officers log in as themselves; the read-only JSON API's tokens

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

Officers shared one role. ``accounts`` holds one row per rota officer id (role, branch,
rota e-mail, scrypt password hash, enabled, the SHA-256 of a one-time set-password link).
``callback_attempts`` records each try at calling a caller back (reached, no answer, wrong
number). ``api_tokens`` holds the SHA-256 of each API token, its name, revocation and last use.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("branch", sa.SmallInteger(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("link_key", sa.String(length=64), nullable=True),
        sa.Column("link_expires", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('officer', 'admin')", name=op.f("ck_accounts_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
    )
    op.create_index(op.f("ix_accounts_link_key"), "accounts", ["link_key"])
    op.create_table(
        "callback_attempts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("callback_id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(length=100), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('reached', 'no_answer', 'wrong_number')",
            name=op.f("ck_callback_attempts_outcome"),
        ),
        sa.ForeignKeyConstraint(
            ["callback_id"],
            ["callbacks.id"],
            name=op.f("fk_callback_attempts_callback_id_callbacks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_attempts")),
    )
    op.create_index(
        op.f("ix_callback_attempts_callback_id_at"), "callback_attempts", ["callback_id", "at"]
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
    )


def downgrade() -> None:
    op.drop_table("api_tokens")
    op.drop_index(op.f("ix_callback_attempts_callback_id_at"), table_name="callback_attempts")
    op.drop_table("callback_attempts")
    op.drop_index(op.f("ix_accounts_link_key"), table_name="accounts")
    op.drop_table("accounts")
