"""Roll-up of units' JSON reports: sums, recomputed rates, refusals that name the file."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from docx import Document

from callrouter.errors import ReportError
from callrouter.report.figures import (
    AnswerFigures,
    AnswerUse,
    CallbackFigures,
    CaseCounts,
    CaseFigures,
    CountRow,
    DayRow,
    Figures,
    HourRow,
    NotableCase,
    OfficerRow,
    OpenQuestion,
    Period,
    Totals,
    UnitInfo,
    UnitSummary,
    p90_from_histogram,
)
from callrouter.report.merge import load_figures, merge_files
from callrouter.report.periods import month_period
from callrouter.report.render import render
from callrouter.report.render_docx import difficulties
from callrouter.report.tables import report_tables

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 10, 2, 0, tzinfo=UTC)
DISTRICT = UnitInfo(name="PHÒNG VĂN HÓA VÀ THÔNG TIN HUYỆN", governing_body="UBND HUYỆN")


def unit_figures(
    name: str, totals: Totals, period: Period | None = None, notes: str | None = None
) -> Figures:
    period = period or month_period("2026-11")
    counts = CaseCounts(
        conversations=totals.answered, received=2, answered=1, forwarded=1, overdue=1, notable=1
    )
    return Figures(
        generated_at=NOW,
        unit=UnitInfo(name=name),
        units=[UnitSummary(name=name, period=period, totals=totals, cases=counts, notes=notes)],
        branch=3,
        timezone="Asia/Ho_Chi_Minh",
        service_level_seconds=20,
        period=period,
        totals=totals,
        by_day=[DayRow(day=d, received=1 if d.day == 2 else 0) for d in period.days()],
        by_hour=[HourRow(hour=h, received=1 if h == 9 else 0) for h in range(24)],
        officers=[OfficerRow(officer_id="o1", name=f"Cán bộ {name}", answered=totals.answered)],
        cases=CaseFigures(
            counts=counts,
            by_kind=[
                CountRow(key="hoi_dap", label="Hỏi đáp", count=1),
                CountRow(key="kien_nghi", label="Kiến nghị", count=1),
            ],
            by_topic=[CountRow(key="tiem_chung", label="Tiêm chủng", count=2)],
            by_agency=[CountRow(key="so_y_te", label="Sở Y tế", count=1)],
            notable=[
                NotableCase(ref="1/2026", kind="Kiến nghị", topic="Tiêm chủng", status="Đã chuyển")
            ],
        ),
        notes=notes,
    )


A = Totals(
    received=1,
    answered=1,
    answered_within_sl=1,
    wait_seconds_sum=2.0,
    wait_count=1,
    talk_seconds_sum=60.0,
    talk_count=1,
    wait_p90_seconds=2.0,
    wait_histogram=[(2, 1)],
)
B = Totals(
    received=10,
    answered=1,
    abandoned=8,
    after_hours=1,
    answered_within_sl=0,
    wait_seconds_sum=50.0,
    wait_count=1,
    talk_seconds_sum=100.0,
    talk_count=1,
    wait_p90_seconds=50.0,
    wait_histogram=[(50, 1)],
)


def write(tmp_path: Path, name: str, f: Figures) -> Path:
    path = tmp_path / name
    path.write_text(f.to_json(), encoding="utf-8")
    return path


def test_given_two_units_then_counts_are_summed_and_rates_recomputed_not_averaged(
    tmp_path: Path,
) -> None:
    a = write(tmp_path, "a.json", unit_figures("TTYT A", A))
    b = write(tmp_path, "b.json", unit_figures("TTYT B", B))
    m = merge_files([a, b], issuer=DISTRICT, now=NOW)
    t = m.totals
    assert m.merged
    assert (t.received, t.answered, t.abandoned, t.after_hours) == (11, 2, 8, 1)
    # 2 answered of 10 offered: 20 %, not the 55.6 % an average of 100 % and 11.1 % gives.
    assert t.answer_rate == pytest.approx(0.2)
    assert t.service_level == pytest.approx(0.1)
    assert t.wait_avg_seconds == pytest.approx(26.0)
    assert t.talk_avg_seconds == pytest.approx(80.0)
    assert t.wait_histogram == [(2, 1), (50, 1)]
    assert t.wait_p90_seconds == 50.0
    assert t.wait_p90_method == "histogram"
    assert [u.name for u in m.units] == ["TTYT A", "TTYT B"]
    assert [u.totals.answer_rate for u in m.units] == [1.0, pytest.approx(1 / 9)]
    assert [(o.unit, o.name) for o in m.officers] == [
        ("TTYT A", "Cán bộ TTYT A"),
        ("TTYT B", "Cán bộ TTYT B"),
    ]
    assert {d.day: d.received for d in m.by_day}[date(2026, 11, 2)] == 2
    assert m.by_hour[9].received == 2
    assert m.cases.by_topic == [CountRow(key="tiem_chung", label="Tiêm chủng", count=4)]
    assert m.cases.counts.received == 4
    assert m.cases.counts.conversations == 2
    assert [n.unit for n in m.cases.notable] == ["TTYT A", "TTYT B"]
    assert m.unit == DISTRICT


def test_merge_keeps_every_units_difficulties_and_a_totals_row(tmp_path: Path) -> None:
    a = write(tmp_path, "a.json", unit_figures("TTYT A", A, notes="Thiếu máy bàn."))
    b = write(tmp_path, "b.json", unit_figures("TTYT B", B, notes="Mạng di động yếu."))
    m = merge_files([a, b], issuer=DISTRICT, notes="Đề nghị tập huấn.", now=NOW)
    assert [(u.name, u.notes) for u in m.units] == [
        ("TTYT A", "Thiếu máy bàn."),
        ("TTYT B", "Mạng di động yếu."),
    ]
    assert m.notes == "Đề nghị tập huấn."
    units = next(t for t in report_tables(m) if t.key == "cases_units")
    assert [[c.text() for c in row[:3]] for row in units.rows] == [
        ["TTYT A", "1", "2"],
        ["TTYT B", "1", "2"],
        ["Tổng cộng", "2", "4"],
    ]
    assert difficulties(m) == [
        ("TTYT A:", "Thiếu máy bàn."),
        ("TTYT B:", "Mạng di động yếu."),
        ("PHÒNG VĂN HÓA VÀ THÔNG TIN HUYỆN (đơn vị tổng hợp):", "Đề nghị tập huấn."),
    ]


def test_given_merged_json_then_province_can_merge_it_again(tmp_path: Path) -> None:
    a = write(tmp_path, "a.json", unit_figures("TTYT A", A))
    b = write(tmp_path, "b.json", unit_figures("TTYT B", B))
    district = write(tmp_path, "d.json", merge_files([a, b], issuer=DISTRICT, now=NOW))
    c = write(tmp_path, "c.json", unit_figures("TTYT C", A))
    province = merge_files([district, c], issuer=UnitInfo(name="SỞ"), now=NOW)
    assert province.totals.received == 12
    assert [u.name for u in province.units] == ["TTYT A", "TTYT B", "TTYT C"]


def test_given_report_json_when_loaded_back_then_figures_are_identical(tmp_path: Path) -> None:
    f = unit_figures("TTYT A", A)
    assert load_figures(write(tmp_path, "a.json", f)) == f


def test_json_carries_derived_rates_for_readers(tmp_path: Path) -> None:
    data = json.loads(unit_figures("TTYT B", B).to_json())
    assert data["format"] == "callrouter-report"
    assert data["version"] == 3
    assert data["totals"]["answer_rate"] == pytest.approx(1 / 9)
    assert data["totals"]["offered"] == 9


def test_given_different_periods_then_refused_unless_forced(tmp_path: Path) -> None:
    a = write(tmp_path, "a.json", unit_figures("TTYT A", A))
    b = write(tmp_path, "b.json", unit_figures("TTYT B", B, month_period("2026-11", cutoff=15)))
    with pytest.raises(ReportError, match=r"b\.json: period 2026-10-15\.\.2026-11-14 differs"):
        merge_files([a, b], issuer=DISTRICT)
    m = merge_files([a, b], issuer=DISTRICT, force=True)
    assert (m.period.kind, m.period.start, m.period.end) == (
        "mixed",
        date(2026, 10, 15),
        date(2026, 11, 30),
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"hello": "world"}', "not a callrouter report"),
        ("[1, 2]", "not a callrouter report"),
        ("{broken", "invalid JSON at line 1"),
        ('{"format": "callrouter-report", "version": 4}', "version 4"),
        ('{"format": "callrouter-report", "version": 1}', "version 1 .*callrouter report upgrade"),
        (
            '{"format": "callrouter-report", "version": 2, "totals": {}}',
            "malformed callrouter report",
        ),
    ],
)
def test_given_foreign_or_other_version_input_then_error_names_the_file(
    tmp_path: Path, content: str, message: str
) -> None:
    good = write(tmp_path, "a.json", unit_figures("TTYT A", A))
    bad = tmp_path / "don-vi-x.json"
    bad.write_text(content, encoding="utf-8")
    with pytest.raises(ReportError, match=message) as info:
        merge_files([good, bad], issuer=DISTRICT)
    assert str(info.value).startswith(str(bad))


def test_given_missing_file_then_error_names_it(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"khong-co\.json: cannot read"):
        merge_files([tmp_path / "khong-co.json"], issuer=DISTRICT)


def test_given_same_unit_twice_then_refused_unless_forced(tmp_path: Path) -> None:
    a = write(tmp_path, "a.json", unit_figures("TTYT A", A))
    with pytest.raises(ReportError, match="more than one input"):
        merge_files([a, a], issuer=DISTRICT)
    assert merge_files([a, a], issuer=DISTRICT, force=True).totals.received == 2


@pytest.mark.parametrize(
    ("histogram", "expected"),
    [
        ([], None),
        ([(7, 1)], 7.0),
        ([(1, 9), (100, 1)], 1.0),  # rank ceil(9.0) = 9
        ([(1, 8), (100, 2)], 100.0),  # rank 9 falls in the 100 s bucket
        ([(5, 3), (2, 7)], 5.0),  # unsorted input
    ],
)
def test_p90_from_histogram_is_nearest_rank(
    histogram: list[tuple[int, int]], expected: float | None
) -> None:
    assert p90_from_histogram(histogram) == expected


def test_a_version_1_file_upgrades_without_losing_a_figure(tmp_path: Path) -> None:
    v2 = json.loads(unit_figures("TTYT A", A, notes="Ghi chú cũ.").to_json())
    v1 = {k: v for k, v in v2.items() if k not in ("cases", "misdial_seconds")}
    v1["version"] = 1
    v1["totals"] = {**v1["totals"], "unclassified": 3}
    v1["units"] = [{k: v for k, v in u.items() if k not in ("cases", "notes")} for u in v1["units"]]
    v1["categories"] = [
        {"key": "tiem_chung", "label": "Tiêm chủng", "count": 5},
        {"key": None, "label": "Chưa phân loại", "count": 3},
    ]
    v1["resolutions"] = [
        {"key": "answered_on_phone", "label": "Đã trả lời qua điện thoại", "count": 2},
        {"key": "forwarded_to_agency", "label": "Đã chuyển cơ quan chức năng", "count": 2},
        {"key": "needs_callback", "label": "Cần gọi lại", "count": 1},
        {"key": None, "label": "Chưa phân loại", "count": 3},
    ]
    old = tmp_path / "v1.json"
    old.write_text(json.dumps(v1, ensure_ascii=False), encoding="utf-8")
    f = load_figures(old, upgrade=True)
    assert f.version == 3
    assert f.cases.answers is None  # the book was not counted then
    assert f.totals == unit_figures("TTYT A", A).totals
    c = f.cases.counts
    assert (c.received, c.answered, c.forwarded, c.in_progress) == (5, 2, 2, 1)
    assert c.conversations == A.answered
    assert f.cases.by_topic == [CountRow(key="tiem_chung", label="Tiêm chủng", count=5)]
    assert f.units[0].notes == "Ghi chú cũ."
    assert f.misdial_seconds == 10


def test_roll_up_shows_counts_next_to_rates_a_totals_row_and_repeat_callers_per_unit(
    tmp_path: Path,
) -> None:
    a = write(
        tmp_path, "a.json", unit_figures("TTYT A", A.model_copy(update={"repeat_callers": 3}))
    )
    b = write(
        tmp_path, "b.json", unit_figures("TTYT B", B.model_copy(update={"repeat_callers": 2}))
    )
    m = merge_files([a, b], issuer=DISTRICT, now=NOW)
    assert m.totals.repeat_callers == 0  # people are not summed across units
    units = next(t for t in report_tables(m) if t.key == "units")
    col = {h: i for i, h in enumerate(units.headers)}
    rows = {r[0].value: r for r in units.rows}
    assert list(rows) == ["TTYT A", "TTYT B", "Tổng cộng"]
    for name, offered, answered, within in (("TTYT A", 1, 1, 1), ("Tổng cộng", 10, 2, 1)):
        row = rows[name]
        assert row[col["Trong giờ trực"]].value == offered
        assert row[col["Trả lời"]].value == answered
        assert row[col["Trả lời trong 20 giây"]].value == within
    assert rows["Tổng cộng"][col["Tỷ lệ trả lời"]].value == pytest.approx(0.2)
    assert [rows[n][col["Người gọi từ 2 lần"]].value for n in rows] == [3, 2, None]
    summary = next(t for t in report_tables(m) if t.key == "summary")
    (repeat,) = (r for r in summary.rows if r[0].value.startswith("Số người gọi từ 2 lần"))
    assert repeat[1].value is None
    assert "chỉ tính theo từng đơn vị" in repeat[0].value


def test_merged_docx_puts_units_with_totals_in_the_body_and_groups_annex_rows_by_unit(
    tmp_path: Path,
) -> None:
    a = write(tmp_path, "a.json", unit_figures("TTYT A", A))
    b = write(tmp_path, "b.json", unit_figures("TTYT B", B))
    m = merge_files([a, b], issuer=DISTRICT, now=NOW)
    doc = Document(io.BytesIO(render(m, "docx")))
    tables = doc.tables
    signature = next(i for i, t in enumerate(tables) if "Nơi nhận" in t.rows[0].cells[0].text)
    units = next(i for i, t in enumerate(tables) if t.rows[0].cells[0].text == "Đơn vị")
    assert units < signature  # one row per unit and the totals, in the body
    assert tables[units].rows[-1].cells[0].text == "Tổng cộng"
    officers = next(t for t in tables[signature:] if t.rows[0].cells[0].text == "Cán bộ")
    texts = [[c.text for c in r.cells] for r in officers.rows]
    # The unit is a group row spanning the table, not a column repeated on every row.
    assert texts[1] == ["TTYT A"] * len(texts[1])
    assert texts[2][0] == "Cán bộ TTYT A"
    assert all(t[0] != "Đơn vị" for t in texts)


def test_a_version_2_file_from_before_the_letterhead_settings_still_merges(
    tmp_path: Path,
) -> None:
    """Files written before the hotline name, field and partial date existed lack them."""
    data = json.loads(unit_figures("TTYT A", A).to_json())
    for part, key in (("period", "as_of"), ("unit", "hotline"), ("unit", "field")):
        del data[part][key]
    del data["units"][0]["period"]["as_of"]
    old = tmp_path / "cu.json"
    old.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    b = write(tmp_path, "b.json", unit_figures("TTYT B", B))
    m = merge_files([old, b], issuer=DISTRICT, now=NOW)
    assert m.totals.received == 11
    assert m.period.as_of is None


SOURCE = "Công văn số 12/SYT ngày 01/02/2026"


def _with_book(f: Figures, used: list[tuple[str, int]], unanswered: int) -> Figures:
    questions = [
        OpenQuestion(ref=f"{i}/2026", topic="Tiêm chủng", summary=f"Câu hỏi {i}")
        for i in range(1, min(unanswered, 20) + 1)
    ]
    book = AnswerFigures(
        used=[AnswerUse(title=t, source=SOURCE, count=c) for t, c in used],
        unanswered=unanswered,
        questions=questions,
    )
    return f.model_copy(update={"cases": f.cases.model_copy(update={"answers": book})})


def test_merge_sums_answer_uses_by_title_and_source_and_lists_questions_per_unit(
    tmp_path: Path,
) -> None:
    a = _with_book(unit_figures("TTYT A", A), [("Lịch tiêm", 3), ("Thẻ BHYT", 1)], 2)
    b = _with_book(unit_figures("TTYT B", B), [("Thẻ BHYT", 4)], 19)
    m = merge_files(
        [write(tmp_path, "a.json", a), write(tmp_path, "b.json", b)], issuer=DISTRICT, now=NOW
    )
    assert m.cases.answers is not None
    assert [(u.title, u.count) for u in m.cases.answers.used] == [("Thẻ BHYT", 5), ("Lịch tiêm", 3)]
    assert m.cases.answers.unanswered == 21
    assert len(m.cases.answers.questions) == 20
    assert m.cases.answers.questions[0].unit == "TTYT A"
    assert m.cases.answers.questions[-1].unit == "TTYT B"
    heading, text = difficulties(m)[-1]
    assert heading == "Đề xuất bổ sung nội dung trả lời:"
    assert text.splitlines()[0].startswith("Trong kỳ báo cáo có 21 câu hỏi")
    assert "- Hồ sơ số 1/2026 (TTYT A, Tiêm chủng): Câu hỏi 1." in text
    assert text.splitlines()[-1] == "- Và 1 câu hỏi khác."


def test_a_version_2_file_merges_and_its_unit_is_left_out_of_the_book_counts(
    tmp_path: Path,
) -> None:
    """Version 2 (before the answer book) is read as it is: the book was not counted there."""
    old = json.loads(unit_figures("TTYT A", A).to_json())
    old["version"] = 2
    del old["cases"]["answers"]
    path = tmp_path / "v2.json"
    path.write_text(json.dumps(old, ensure_ascii=False), encoding="utf-8")
    assert load_figures(path).cases.answers is None
    only_old = merge_files([path], issuer=DISTRICT, now=NOW)
    assert only_old.cases.answers is None
    assert not [t for t in report_tables(only_old) if t.key.startswith("cases_answers")]
    b = write(tmp_path, "b.json", _with_book(unit_figures("TTYT B", B), [("Thẻ BHYT", 4)], 0))
    m = merge_files([path, b], issuer=DISTRICT, now=NOW)
    assert m.cases.answers is not None
    assert [(u.title, u.count) for u in m.cases.answers.used] == [("Thẻ BHYT", 4)]
    assert difficulties(m)[-1][0] != "Đề xuất bổ sung nội dung trả lời:"  # none unanswered


def _with_callbacks(f: Figures, **counts: int) -> Figures:
    end = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
    return f.model_copy(update={"callbacks": CallbackFigures(as_of=end, **counts)})


CALLBACKS_A = {
    "created": 5, "after_hours_message": 2, "abandoned": 2, "unanswered": 1, "made": 3,
    "tries": 4, "tries_reached": 2, "tries_no_answer": 2, "closed": 3, "closed_reached": 2,
    "closed_by_call": 1, "open": 2, "overdue": 1,
}  # fmt: skip
CALLBACKS_B = {
    "created": 2, "unanswered": 2, "made": 1, "tries": 1, "tries_wrong_number": 1,
    "closed": 1, "closed_wrong_number": 1, "open": 1, "overdue": 1,
}  # fmt: skip


def test_merge_sums_the_units_call_back_counts_and_reports_them_in_section_ii(
    tmp_path: Path,
) -> None:
    a = _with_callbacks(unit_figures("TTYT A", A), **CALLBACKS_A)
    b = _with_callbacks(unit_figures("TTYT B", B), **CALLBACKS_B)
    m = merge_files(
        [write(tmp_path, "a.json", a), write(tmp_path, "b.json", b)], issuer=DISTRICT, now=NOW
    )
    assert m.callbacks is not None
    got = m.callbacks.model_dump(exclude={"as_of"})
    want = {k: CALLBACKS_A.get(k, 0) + CALLBACKS_B.get(k, 0) for k in got}
    assert got == want
    assert (got["created"], got["overdue"], got["tries_wrong_number"]) == (7, 2, 1)
    again = load_figures(write(tmp_path, "m.json", m))  # the province merges it again
    assert again.callbacks == m.callbacks
    doc = Document(io.BytesIO(render(m, "docx")))
    body = "\n".join(p.text for p in doc.paragraphs)
    assert (
        "Gọi lại cho người dân: 7 lượt cần gọi lại (2 để lại lời nhắn ngoài giờ, 2 gác máy khi "
        "đang chờ, 3 không có cán bộ nghe máy), đã gọi 4 (5 lần gọi, 2 lần liên lạc được, 2 lần "
        "không nghe máy, 1 lần sai số); đã xong 4 (trong đó 1 lượt người dân gọi lại và được "
        "trả lời), còn 3 chưa xong; 2 lượt quá hạn gọi lại"
    ) in body
    table = next(t for t in report_tables(m) if t.key == "callbacks")
    rows = {r[0].text(): r[1].text() for r in table.rows}
    assert rows["Lượt cần gọi lại"] == "7"
    assert rows["Lượt quá hạn gọi lại"] == "2"
    assert json.loads(render(m, "json"))["callbacks"]["closed_wrong_number"] == 1


@pytest.mark.parametrize("version", [2, 3])
def test_a_file_without_call_back_counts_reads_them_as_not_counted_not_zero(
    tmp_path: Path, version: int
) -> None:
    """Version 2, or a version 3 file written before the call-back counts: null, and a merge
    sums only the units that counted them."""
    old = json.loads(unit_figures("TTYT A", A).to_json())
    old["version"] = version
    del old["callbacks"]
    if version == 2:
        del old["cases"]["answers"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old, ensure_ascii=False), encoding="utf-8")
    assert load_figures(path).callbacks is None
    only_old = merge_files([path], issuer=DISTRICT, now=NOW)
    assert only_old.callbacks is None
    assert json.loads(only_old.to_json())["callbacks"] is None
    assert not [t for t in report_tables(only_old) if t.key == "callbacks"]
    body = "\n".join(p.text for p in Document(io.BytesIO(render(only_old, "docx"))).paragraphs)
    assert "Gọi lại cho người dân" not in body
    b = write(tmp_path, "b.json", _with_callbacks(unit_figures("TTYT B", B), **CALLBACKS_B))
    m = merge_files([path, b], issuer=DISTRICT, now=NOW)
    assert m.callbacks is not None
    assert m.callbacks.created == 2
    assert m.callbacks.overdue == 1
