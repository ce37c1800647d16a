"""Every table holding a caller's number or free text about a caller is covered by the purge
and by privacy export/erase (the rule in ``callrouter.store.privacy``'s docstring)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, Text

from callrouter.store.models import Base
from callrouter.store.privacy import NOT_ABOUT_CALLERS, PERSONAL_DATA

pytestmark = pytest.mark.unit

# Column names that suggest a number, a name or free text.
LOOKS_PERSONAL = re.compile(
    r"caller|number|phone|msisdn|cli|name|text|note|summary|(^|_)answers?(_text)?$|question"
    r"|comment|content|data|recording|address|email|by$|body|detail"
)


def uncovered(metadata: MetaData) -> list[str]:
    """Tables in neither list, and personal-looking columns neither covered nor explained."""
    missing = [
        name
        for name in metadata.tables
        if name not in PERSONAL_DATA and name not in NOT_ABOUT_CALLERS
    ]
    for name, table in metadata.tables.items():
        if name in NOT_ABOUT_CALLERS:
            continue
        for column in table.columns:
            key = f"{name}.{column.name}"
            if (
                LOOKS_PERSONAL.search(column.name)
                and column.name not in PERSONAL_DATA.get(name, ())
                and key not in NOT_ABOUT_CALLERS
            ):
                missing.append(key)
    return missing


def test_every_table_and_personal_looking_column_is_covered_or_explained() -> None:
    missing = uncovered(Base.metadata)
    assert not missing, (
        f"{missing}: list caller columns in PERSONAL_DATA (and clear them in purge and erase) "
        "or say in NOT_ABOUT_CALLERS why they hold nothing about callers"
    )
    assert set(PERSONAL_DATA) <= set(Base.metadata.tables)
    assert {k.split(".")[0] for k in NOT_ABOUT_CALLERS} <= set(Base.metadata.tables)


def test_a_new_table_or_column_with_caller_text_is_caught() -> None:
    metadata = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(metadata)
    Table("visits", metadata, Column("id", Integer, primary_key=True), Column("summary", Text))
    metadata.tables["calls"].append_column(Column("caller_name", String(100)))
    assert sorted(uncovered(metadata)) == ["calls.caller_name", "visits", "visits.summary"]


def test_personal_columns_exist_and_can_be_emptied() -> None:
    """purge and erase set these to NULL (or replace the JSON): they must be nullable or JSON."""
    from sqlalchemy import JSON

    for name, columns in PERSONAL_DATA.items():
        table = Base.metadata.tables[name]
        for column in columns:
            col = table.columns[column]
            emptied = col.nullable or isinstance(col.type, JSON)
            assert emptied, f"{name}.{column} cannot be emptied"
