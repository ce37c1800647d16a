"""answers: the answer book agreed with the Department of Health, and the answers a case used

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

``answers`` holds each answer's current version, ``answer_versions`` every version with
the account and time that saved it, ``case_answers`` the answers an officer attached to a
case. ``answers_fts`` is the full-text index, outside the models (the drift check skips
it): an FTS5 table on SQLite, a ``tsvector`` table with a GIN index on PostgreSQL.

Both hold text folded by callrouter itself (:func:`callrouter.answers.fold.fold`: lower
case, diacritics removed, ``đ`` → ``d``), and queries are folded the same way. Neither
SQLite's ``remove_diacritics`` nor PostgreSQL's ``unaccent`` folds ``đ`` by default, and
``unaccent`` needs ``CREATE EXTENSION``, which a database user without that right cannot
run: folding before indexing gives the same results on both databases with no extension.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "answers",
        sa.Column("id", _BIGINT, autoincrement=True, nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("agreed_on", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_answers")),
    )
    op.create_index(op.f("ix_answers_topic"), "answers", ["topic"])
    op.create_table(
        "answer_versions",
        sa.Column("answer_id", _BIGINT, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("agreed_on", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("retired", sa.Boolean(), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("saved_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["answer_id"],
            ["answers.id"],
            name=op.f("fk_answer_versions_answer_id_answers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("answer_id", "version", name=op.f("pk_answer_versions")),
    )
    op.create_table(
        "case_answers",
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("answer_id", _BIGINT, nullable=False),
        sa.Column("attached_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attached_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_answers_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["answer_id"],
            ["answers.id"],
            name=op.f("fk_case_answers_answer_id_answers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("case_id", "answer_id", name=op.f("pk_case_answers")),
    )
    op.create_index(op.f("ix_case_answers_answer_id"), "case_answers", ["answer_id"])
    if op.get_bind().dialect.name == "sqlite":
        # rowid = answers.id; the columns hold folded text (see the module docstring).
        op.execute(
            "CREATE VIRTUAL TABLE answers_fts USING fts5("
            "title, body, source, tokenize = 'unicode61 remove_diacritics 2')"
        )
    else:
        op.execute(
            "CREATE TABLE answers_fts ("
            "answer_id bigint PRIMARY KEY REFERENCES answers (id) ON DELETE CASCADE, "
            "document tsvector NOT NULL)"
        )
        op.execute("CREATE INDEX answers_fts_document ON answers_fts USING gin (document)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS answers_fts")
    op.drop_index(op.f("ix_case_answers_answer_id"), table_name="case_answers")
    op.drop_table("case_answers")
    op.drop_table("answer_versions")
    op.drop_index(op.f("ix_answers_topic"), table_name="answers")
    op.drop_table("answers")
