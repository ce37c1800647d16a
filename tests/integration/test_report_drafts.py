"""Report drafts on SQLite and PostgreSQL: prepared once (LibreOffice makes the PDF), approved
once by an account, sent only when approved, and the record keeps who and when."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.errors import ReportError
from callrouter.report import drafts
from callrouter.report.figures import Figures, Totals
from callrouter.report.periods import month_period
from callrouter.report.settings import ReportSettings
from callrouter.store.migrate import upgrade
from tests.conftest import require_service

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 16, 1, 0, tzinfo=UTC)
TZ = "Asia/Ho_Chi_Minh"
#: The shipped commune health station example (invented names, complete letterhead).
SETTINGS = ReportSettings(
    _env_file=Path(__file__).resolve().parents[2] / "config" / "report" / "tram-y-te-xa.env"
)


def _figures() -> Figures:
    return Figures(
        generated_at=NOW,
        unit=SETTINGS.unit_info(),
        branch=3,
        timezone=TZ,
        service_level_seconds=20,
        period=month_period("2026-12", cutoff=15),
        totals=Totals(),
    )


async def test_draft_is_approved_once_and_never_prepared_again(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    if shutil.which("soffice") is None:
        require_service("soffice", "install libreoffice-writer-nogui (scripts/apt-packages.txt)")
    await upgrade(engine)
    stem = "bao-cao-1022-2026-12"
    with pytest.raises(ReportError, match="no draft to approve"):
        await drafts.approve(engine, stem, "van.thu", now=NOW, tz=TZ)
    with pytest.raises(ReportError, match="no draft; prepare it first"):
        await drafts.approved(engine, stem)

    d = await drafts.prepare(engine, _figures(), SETTINGS, tmp_path, now=NOW)
    assert d.stem == stem
    assert d.status_vi == "dự thảo, chờ duyệt"
    assert d.read("pdf").startswith(b"%PDF")
    assert Figures.model_validate_json(d.read("json")) == _figures()
    # An unapproved draft may be prepared again (new notes, new figures).
    again = await drafts.prepare(engine, _figures(), SETTINGS, tmp_path, now=NOW + timedelta(1))
    assert again.created_at == NOW + timedelta(1)
    with pytest.raises(ReportError, match="not approved"):
        await drafts.approved(engine, stem)

    for bad in ("", "x" * 101, "a\nb"):
        with pytest.raises(ReportError, match="--by"):
            await drafts.approve(engine, stem, bad, now=NOW, tz=TZ)
    ok = await drafts.approve(engine, stem, "van.thu", now=NOW + timedelta(hours=2), tz=TZ)
    assert (ok.approved_by, ok.approved_at) == ("van.thu", NOW + timedelta(hours=2))
    with pytest.raises(ReportError, match=r"already approved by van\.thu at 10:00 16/12/2026"):
        await drafts.approve(engine, stem, "other", now=NOW, tz=TZ)
    with pytest.raises(ReportError, match="not prepared again"):
        await drafts.prepare(engine, _figures(), SETTINGS, tmp_path, now=NOW)

    await drafts.mark_sent(engine, stem, ["a@x.example", "b@x.example"], now=NOW)
    sent = await drafts.approved(engine, stem)
    assert (sent.sent_at, sent.sent_to, sent.status_vi) == (
        NOW,
        "a@x.example, b@x.example",
        "đã gửi",
    )
