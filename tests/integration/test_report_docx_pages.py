"""The signed report as LibreOffice lays it out: whatever the length of the body (1 to 6 pages,
with page breaks falling at every position the data can push them to), the signer's title and
name land on the same page, and pages from the second on carry their number at the top."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from callrouter.report.figures import Figures, Totals
from callrouter.report.periods import month_period
from callrouter.report.render import render
from callrouter.report.settings import ReportSettings
from tests.integration.test_report_docx_pdf import _tool

pytestmark = pytest.mark.integration

SIGNER_TITLE, SIGNER_NAME = "TRƯỞNG TRẠM", "Lê Văn Bình"
SETTINGS = ReportSettings(
    governing_body="ỦY BAN NHÂN DÂN XÃ AN HÒA",
    unit_name="Trạm Y tế xã Nam Sông",
    place="Nam Sông",
    addressees=["Ủy ban nhân dân xã Nam Sông"],
    signer_title=SIGNER_TITLE,
    signer_name=SIGNER_NAME,
    reference="Kế hoạch số 12/KH-UBND ngày 05/7/2025 của Ủy ban nhân dân xã Nam Sông",
)
#: Notes lines: each one paragraph of the body; about 30 fill a page, and a step of 4 lines is
#: smaller than the signature block, so some step leaves the block straddling every page end.
LINES = range(0, 170, 4)


def _figures(lines: int) -> Figures:
    notes = "\n".join(f"Ý kiến {i + 1}: đề nghị bổ sung máy trực ca đêm." for i in range(lines))
    return Figures(
        generated_at=datetime(2026, 12, 16, 2, 0, tzinfo=UTC),
        unit=SETTINGS.unit_info(),
        branch=3,
        timezone="Asia/Ho_Chi_Minh",
        service_level_seconds=20,
        period=month_period("2026-11"),
        totals=Totals(),
        notes=notes or None,
    )


def _pages(pdf: Path) -> list[str]:
    out = subprocess.run(
        [_tool("pdftotext", "poppler-utils"), "-layout", str(pdf), "-"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return [" ".join(p.split()) for p in out.stdout.decode().split("\f") if p.strip()]


def test_signature_title_and_name_share_a_page_for_reports_of_1_to_6_pages(
    tmp_path: Path,
) -> None:
    docs = []
    for n in LINES:
        path = tmp_path / f"r{n:03d}.docx"
        path.write_bytes(render(_figures(n), "docx", SETTINGS))
        docs.append(path)
    soffice = _tool("soffice", "libreoffice-writer-nogui")
    profile = tmp_path / "lo-profile"
    subprocess.run(
        [soffice, f"-env:UserInstallation=file://{profile}", "--headless",
         "--convert-to", "pdf", "--outdir", str(tmp_path), *map(str, docs)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    body_pages: set[int] = set()
    for doc in docs:
        pages = _pages(doc.with_suffix(".pdf"))
        annex = next(i for i, p in enumerate(pages) if "PHỤ LỤC" in p)
        body_pages.add(annex)
        with_title = [i for i, p in enumerate(pages) if SIGNER_TITLE in p]
        with_name = [i for i, p in enumerate(pages) if SIGNER_NAME in p]
        assert len(with_title) == 1, doc.name
        assert with_title == with_name, f"{doc.name}: title on {with_title}, name on {with_name}"
        assert with_title[0] < annex  # the signature ends the body, before the annex
        assert not pages[0].startswith("1 ")  # no number on the first page
        for i, page in enumerate(pages[1:], start=2):
            assert page.startswith(f"{i} "), f"{doc.name}: page {i} starts {page[:30]!r}"
    assert body_pages >= {1, 2, 3, 4, 5, 6}
