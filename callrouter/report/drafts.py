"""The month's report as a draft the clerk signs before anything leaves the unit.

``prepare`` renders the report once (DOCX, XLSX, the JSON ``report merge`` reads, and a PDF
from LibreOffice headless, ready for a digital signature) into ``<reports_dir>/<stem>/`` and
records it in ``report_drafts``; ``approve`` records the account that approved it; ``send``
mails only an approved draft, from the kept files (what was approved is what leaves), and
records when and to whom. A draft already approved is never prepared again.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.errors import ReportError
from callrouter.report.figures import Figures
from callrouter.report.render import render
from callrouter.report.send import attachment_stem
from callrouter.report.settings import ReportSettings
from callrouter.store.models import report_drafts

FORMATS = ("docx", "xlsx", "json", "pdf")
_ACCOUNT = re.compile(r"^[^\x00-\x1f\x7f]{1,100}$")
PDF_TIMEOUT = 180.0


@dataclass(frozen=True)
class Draft:
    stem: str
    period_start: date
    period_end: date
    created_at: datetime
    directory: Path
    approved_by: str | None
    approved_at: datetime | None
    sent_at: datetime | None
    sent_to: str | None

    def file(self, fmt: str) -> Path:
        return self.directory / f"{self.stem}.{fmt}"

    def read(self, fmt: str) -> bytes:
        try:
            return self.file(fmt).read_bytes()
        except OSError as exc:
            raise ReportError(
                f"{self.file(fmt)}: the kept file cannot be read: {exc.strerror}"
            ) from None

    @property
    def status_vi(self) -> str:
        if self.sent_at is not None:
            return "đã gửi"
        if self.approved_at is not None:
            return "đã duyệt, chờ gửi"
        return "dự thảo, chờ duyệt"


def pdf_from_docx(docx: Path) -> Path:
    """The PDF LibreOffice (headless) makes of ``docx``, next to it. Blocking."""
    soffice = shutil.which("soffice")
    if soffice is None:
        raise ReportError(
            "LibreOffice (soffice) is not installed: the draft's PDF needs it "
            "(Debian package libreoffice-writer-nogui)"
        )
    with tempfile.TemporaryDirectory(prefix="callrouter-lo-") as profile:
        try:
            subprocess.run(  # noqa: S603 (our own soffice path and file names, no shell)
                [soffice, f"-env:UserInstallation=file://{profile}", "--headless",
                 "--convert-to", "pdf", "--outdir", str(docx.parent), str(docx)],
                check=True, capture_output=True, timeout=PDF_TIMEOUT,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise ReportError(f"{docx}: LibreOffice made no PDF in {PDF_TIMEOUT:.0f} s") from None
        except subprocess.CalledProcessError as exc:
            reason = exc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
            raise ReportError(f"{docx}: LibreOffice failed: {reason[0]}") from None
    pdf = docx.with_suffix(".pdf")
    if not pdf.is_file():
        raise ReportError(f"{docx}: LibreOffice made no PDF")
    return pdf


def _write(f: Figures, rs: ReportSettings, directory: Path, stem: str) -> None:
    """Blocking: render every format into ``directory`` and convert the DOCX to PDF."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for fmt in ("docx", "xlsx", "json"):
            (directory / f"{stem}.{fmt}").write_bytes(render(f, fmt, rs))
    except OSError as exc:
        raise ReportError(f"{directory}: cannot write the draft: {exc.strerror}") from None
    pdf_from_docx(directory / f"{stem}.docx")


def _row(r: object) -> Draft:
    m = r._mapping  # type: ignore[attr-defined]
    return Draft(
        stem=m["stem"],
        period_start=m["period_start"],
        period_end=m["period_end"],
        created_at=m["created_at"],
        directory=Path(m["directory"]),
        approved_by=m["approved_by"],
        approved_at=m["approved_at"],
        sent_at=m["sent_at"],
        sent_to=m["sent_to"],
    )


async def get(engine: AsyncEngine, stem: str) -> Draft | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(select(report_drafts).where(report_drafts.c.stem == stem))
        ).first()
    return None if row is None else _row(row)


def when(at: datetime, tz: str) -> str:
    """A time as the rota's local "HH:MM dd/mm/YYYY"."""
    return f"{at.astimezone(ZoneInfo(tz)):%H:%M %d/%m/%Y}"


async def prepare(
    engine: AsyncEngine, f: Figures, rs: ReportSettings, reports_dir: Path, *, now: datetime
) -> Draft:
    """Render ``f`` as this period's draft (replacing an unapproved one) and record it."""
    stem = attachment_stem(f)
    old = await get(engine, stem)
    if old is not None and old.approved_at is not None:
        raise ReportError(
            f"{stem}: approved by {old.approved_by} at {when(old.approved_at, f.timezone)}; "
            "an approved report is not prepared again"
        )
    directory = reports_dir / stem
    await asyncio.to_thread(_write, f, rs, directory, stem)
    values = {
        "stem": stem,
        "period_start": f.period.start,
        "period_end": f.period.end,
        "created_at": now,
        "directory": str(directory),
        "approved_by": None,
        "approved_at": None,
        "sent_at": None,
        "sent_to": None,
    }
    async with engine.begin() as conn:
        await conn.execute(delete(report_drafts).where(report_drafts.c.stem == stem))
        await conn.execute(insert(report_drafts).values(**values))
    draft = await get(engine, stem)
    assert draft is not None  # noqa: S101 (just written in this transaction's sequel)
    return draft


async def approve(engine: AsyncEngine, stem: str, account: str, *, now: datetime, tz: str) -> Draft:
    """Record that ``account`` approved the draft ``stem``; refused when there is none, when
    it is already approved, or for an account name that is empty, too long or has controls."""
    if not _ACCOUNT.match(account):
        raise ReportError(f"--by {account!r}: an account name of 1 to 100 printable characters")
    draft = await get(engine, stem)
    if draft is None:
        raise ReportError(f"{stem}: no draft to approve (the timer prepares it: report draft)")
    if draft.approved_at is not None:
        raise ReportError(
            f"{stem}: already approved by {draft.approved_by} at {when(draft.approved_at, tz)}"
        )
    async with engine.begin() as conn:
        await conn.execute(
            update(report_drafts)
            .where(report_drafts.c.stem == stem, report_drafts.c.approved_at.is_(None))
            .values(approved_by=account, approved_at=now)
        )
    approved = await get(engine, stem)
    assert approved is not None  # noqa: S101
    return approved


async def approved(engine: AsyncEngine, stem: str) -> Draft:
    """The approved draft ``stem``; a clear refusal for a missing or unapproved one."""
    draft = await get(engine, stem)
    if draft is None:
        raise ReportError(f"{stem}: no draft; prepare it first: callrouter report draft")
    if draft.approved_at is None:
        raise ReportError(
            f"{stem}: the draft is not approved; only an approved report is sent "
            "(callrouter report approve --by ACCOUNT, or the button on the report page)"
        )
    return draft


async def mark_sent(engine: AsyncEngine, stem: str, to: list[str], *, now: datetime) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            update(report_drafts)
            .where(report_drafts.c.stem == stem)
            .values(sent_at=now, sent_to=", ".join(to)[:1000])
        )
