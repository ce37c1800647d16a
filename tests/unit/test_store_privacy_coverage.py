"""Every table holding a caller's number or free text about a caller is covered by the purge
and by privacy export/erase (the rule in ``callrouter.store.privacy``'s docstring)."""

from __future__ import annotations

import re

import pytest

from callrouter.store.models import Base
from callrouter.store.privacy import NOT_ABOUT_CALLERS, PERSONAL_DATA

pytestmark = pytest.mark.unit

# Column names that suggest a number, a name or free text.
LOOKS_PERSONAL = re.compile(
    r"caller|number|phone|msisdn|cli|name|text|note|summary|(^|_)answers?(_text)?$|question|comment|content"
    r"|data|recording|address|email|by$|body|detail"
)


def test_every_table_is_either_personal_data_or_explained() -> None:
    tables = set(Base.metadata.tables)
    unexplained = tables - set(PERSONAL_DATA) - set(NOT_ABOUT_CALLERS)
    assert not unexplained, (
        f"tables {sorted(unexplained)}: list their caller columns in PERSONAL_DATA (and clear "
        "them in purge and erase) or say in NOT_ABOUT_CALLERS why they hold none"
    )
    assert set(PERSONAL_DATA) <= tables
    assert {k.split(".")[0] for k in NOT_ABOUT_CALLERS} <= tables


def test_every_column_that_looks_personal_is_covered_or_explained() -> None:
    missing = []
    for name, table in Base.metadata.tables.items():
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
    assert not missing, f"columns {missing}: add to PERSONAL_DATA or NOT_ABOUT_CALLERS"


def test_personal_columns_exist_and_can_be_emptied() -> None:
    """purge and erase set these to NULL (or replace the JSON): they must be nullable or JSON."""
    for name, columns in PERSONAL_DATA.items():
        table = Base.metadata.tables[name]
        for column in columns:
            col = table.columns[column]
            assert col.nullable or column == "data", f"{name}.{column} cannot be emptied"
