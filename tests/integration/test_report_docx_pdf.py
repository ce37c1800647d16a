"""The DOCX checked the way a person reads it: LibreOffice turns it into a PDF, poppler into
page images and text; the pages must exist and the text layer must hold the Vietnamese
headings, letterhead and figures (so the fonts carried the diacritics through)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from callrouter.cases.config import CasesConfig
from callrouter.report.figures import Figures, UnitInfo
from callrouter.report.merge import merge_figures
from callrouter.report.periods import month_period
from callrouter.report.queries import compute_figures
from callrouter.report.render import render
from callrouter.report.sample import generated_rows, insert_rows
from callrouter.report.settings import ReportSettings
from callrouter.store.db import make_engine
from callrouter.store.models import Base
from tests.conftest import require_service

pytestmark = pytest.mark.integration

NOTES = "Đường truyền tại trạm y tế xã chập chờn.\nĐề nghị bổ sung máy bàn cho ca đêm."


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        require_service(name, f"install the Debian package {package} (scripts/apt-packages.txt)")
        raise AssertionError("unreachable")  # pragma: no cover (require_service never returns)
    return path


def _to_pdf(docx: Path) -> Path:
    soffice = _tool("soffice", "libreoffice-writer-nogui")
    profile = docx.parent / "lo-profile"  # own profile: no clash with other LibreOffice runs
    subprocess.run(
        [soffice, f"-env:UserInstallation=file://{profile}", "--headless",
         "--convert-to", "pdf", "--outdir", str(docx.parent), str(docx)],
        check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    pdf = docx.with_suffix(".pdf")
    assert pdf.is_file(), f"LibreOffice made no PDF from {docx}"
    return pdf


def _pdf_text(pdf: Path) -> str:
    out = subprocess.run(
        [_tool("pdftotext", "poppler-utils"), "-raw", str(pdf), "-"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return out.stdout.decode()


def _pages_png(pdf: Path) -> list[Path]:
    subprocess.run(
        [
            _tool("pdftoppm", "poppler-utils"),
            "-r",
            "50",
            "-png",
            str(pdf),
            str(pdf.parent / "page"),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return sorted(pdf.parent.glob("page-*.png"))


async def _month_figures(tmp_path: Path) -> Figures:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        await insert_rows(engine, generated_rows(date(2026, 11, 1), 30))
        return await compute_figures(
            engine,
            period=month_period("2026-11"),
            branch=3,
            service_level_seconds=20,
            timezone="Asia/Ho_Chi_Minh",
            unit=UnitInfo(name="TTYT KHU VỰC BẮC SÔNG", governing_body="SỞ Y TẾ THÀNH PHỐ A"),
            cases_config=CasesConfig(
                topics={"tiem_chung": "Tiêm chủng", "kham_chua_benh": "Khám, chữa bệnh"},
                agencies={"so_y_te": "Sở Y tế", "bhxh": "Bảo hiểm xã hội"},
            ),
            notes=NOTES,
            now=datetime(2026, 12, 5, 2, 0, tzinfo=UTC),
        )
    finally:
        await engine.dispose()


async def test_given_month_docx_when_converted_by_libreoffice_then_pages_hold_vietnamese_text(
    tmp_path: Path,
) -> None:
    f = await _month_figures(tmp_path)
    docx = tmp_path / "bao-cao.docx"
    settings = ReportSettings(
        governing_body="SỞ Y TẾ THÀNH PHỐ A",
        unit_name="Trung tâm Y tế khu vực Bắc Sông",
        place="Bắc Sông",
        addressees=["Sở Y tế thành phố A"],
        signer_title="Giám đốc",
        signer_name="Nguyễn Thị Hoa",
        reference="Công văn số 123/SYT-VP ngày 10/8/2025 của Sở Y tế",
    )
    docx.write_bytes(render(f, "docx", settings))
    pdf = _to_pdf(docx)
    pages = _pages_png(pdf)
    assert 2 <= len(pages) <= 10
    assert all(p.stat().st_size > 5_000 for p in pages)  # rendered, not blank
    text = " ".join(_pdf_text(pdf).split())
    for expected in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "TRUNG TÂM Y TẾ KHU VỰC BẮC SÔNG",
        "Bắc Sông, ngày 05 tháng 12 năm 2026",
        "BÁO CÁO",
        "tháng 11 năm 2026",
        "Kính gửi: Sở Y tế thành phố A.",
        "Thực hiện Công văn số 123/SYT-VP ngày 10/8/2025 của Sở Y tế,",
        "I. TÌNH HÌNH CHUNG",
        "II. KẾT QUẢ TIẾP NHẬN, XỬ LÝ PHẢN ÁNH, KIẾN NGHỊ",
        "Tỷ lệ trên cuộc gọi có đàm thoại",
        "PHỤ LỤC",
        "III. KHÓ KHĂN, VƯỚNG MẮC VÀ ĐỀ XUẤT",
        "Đề nghị bổ sung máy bàn cho ca đêm.",
        "Nơi nhận:",
        "GIÁM ĐỐC",
        "Nguyễn Thị Hoa",
        f"nhận {f.totals.received:,} cuộc gọi".replace(",", "."),
        f"đã tiếp nhận {f.cases.counts.received:,} yêu cầu".replace(",", "."),
        "Biểu đồ 1. Số cuộc gọi theo ngày",  # chart caption, numbered
    ):
        assert expected in text, expected
    for absent in ("V/v", "(Ký", "chưa cấu hình"):
        assert absent not in text, absent


async def test_given_merged_report_when_converted_then_each_unit_is_listed(
    tmp_path: Path,
) -> None:
    f = await _month_figures(tmp_path)
    a = f.model_copy(update={"unit": UnitInfo(name="TTYT KHU VỰC BẮC SÔNG"), "units": []})
    b = f.model_copy(update={"unit": UnitInfo(name="TTYT KHU VỰC NAM SÔNG"), "units": []})
    merged = merge_figures(
        [(Path("a.json"), a), (Path("b.json"), b)],
        issuer=UnitInfo(name="SỞ Y TẾ THÀNH PHỐ A", governing_body="ỦY BAN NHÂN DÂN THÀNH PHỐ A"),
    )
    docx = tmp_path / "tong-hop.docx"
    docx.write_bytes(render(merged, "docx"))
    text = " ".join(_pdf_text(_to_pdf(docx)).split())
    assert "BÁO CÁO TỔNG HỢP" in text
    assert "Kết quả tiếp nhận cuộc gọi theo đơn vị" in text
    assert "TTYT KHU VỰC BẮC SÔNG" in text
    assert "TTYT KHU VỰC NAM SÔNG" in text
    assert f"nhận {2 * f.totals.received:,} cuộc gọi".replace(",", ".") in text
    assert "Kết quả tiếp nhận, xử lý theo đơn vị" in text
    assert "Tổng cộng" in text
