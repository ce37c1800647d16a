"""The report's tables, once, in Vietnamese: every renderer (terminal, CSV, XLSX, DOCX) lays
out these same rows, so the numbers cannot disagree between formats."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from callrouter.report.figures import (
    CaseCounts,
    CountRow,
    Figures,
    Totals,
    duration_text,
    percent,
)

Kind = Literal["text", "int", "pct", "sec", "duration", "date"]


@dataclass(frozen=True)
class Cell:
    value: Any  # None shows as a dash
    kind: Kind = "text"

    def text(self) -> str:
        v = self.value
        if v is None:
            return "—"
        if self.kind == "pct":
            return percent(float(v))
        if self.kind == "sec":
            return f"{float(v):.1f}".replace(".", ",")
        if self.kind == "duration":
            return duration_text(float(v))
        if self.kind == "date":
            return f"{v:%d/%m/%Y}"
        if self.kind == "int":
            return f"{int(v):,}".replace(",", ".")
        return str(v)


@dataclass(frozen=True)
class Table:
    key: str  # machine name (CSV section)
    sheet: str  # XLSX sheet name (≤ 31 characters)
    title: str
    headers: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    widths: list[int] = field(default_factory=list)  # XLSX column widths (characters)


def _unit_call_row(name: str, period: str, t: Totals, *, total: bool = False) -> list[Cell]:
    return [
        Cell(name),
        Cell(period),
        Cell(t.received, "int"),
        Cell(t.offered, "int"),
        Cell(t.answered, "int"),
        Cell(t.answer_rate, "pct"),
        Cell(t.answered_within_sl, "int"),
        Cell(t.service_level, "pct"),
        Cell(t.abandoned, "int"),
        Cell(t.after_hours, "int"),
        Cell(t.wait_avg_seconds, "sec"),
        Cell(None if total else t.repeat_callers, "int"),  # people: not summed across units
    ]


def units_table(f: Figures) -> Table:
    """One row per unit, every rate next to the counts behind it, and the totals row (the
    rates recomputed from the summed counts)."""
    n = f.service_level_seconds
    return Table(
        "units",
        "Đơn vị",
        "Kết quả tiếp nhận cuộc gọi theo đơn vị",
        [
            "Đơn vị",
            "Kỳ báo cáo",
            "Cuộc gọi đến",
            "Trong giờ trực",
            "Trả lời",
            "Tỷ lệ trả lời",
            f"Trả lời trong {n} giây",
            f"Tỷ lệ trả lời trong {n} giây",
            "Gác máy khi chờ",
            "Ngoài giờ",
            "Chờ TB (giây)",
            "Người gọi từ 2 lần",
        ],
        [
            *(
                _unit_call_row(u.name, f"{u.period.start:%d/%m}–{u.period.end:%d/%m/%Y}", u.totals)
                for u in f.units
            ),
            _unit_call_row("Tổng cộng", "", f.totals, total=True),
        ],
        [30, 14, 10, 10, 10, 10, 10, 11, 10, 10, 10, 10],
    )


def summary_rows(f: Figures) -> list[tuple[str, str, Cell]]:
    """(key, Vietnamese label, value) of every headline figure."""
    t, n = f.totals, f.service_level_seconds
    p90_note = " (tổng hợp theo giây)" if t.wait_p90_method == "histogram" else ""
    return [
        ("received", "Tổng số cuộc gọi đến", Cell(t.received, "int")),
        ("offered", "Cuộc gọi đến trong giờ trực", Cell(t.offered, "int")),
        ("answered", "Cuộc gọi được cán bộ trả lời", Cell(t.answered, "int")),
        ("answer_rate", "Tỷ lệ trả lời (trên cuộc gọi trong giờ trực)", Cell(t.answer_rate, "pct")),
        ("answered_within_sl", f"Trả lời trong {n} giây", Cell(t.answered_within_sl, "int")),
        ("service_level", f"Tỷ lệ trả lời trong {n} giây", Cell(t.service_level, "pct")),
        ("abandoned", "Người gọi gác máy khi đang chờ", Cell(t.abandoned, "int")),
        (
            "abandoned_short",
            f"  trong đó gác máy trong {f.misdial_seconds} giây đầu",
            Cell(t.abandoned_short, "int"),
        ),
        ("unanswered", "Không cán bộ nào nghe máy", Cell(t.unanswered, "int")),
        ("after_hours", "Cuộc gọi ngoài giờ trực", Cell(t.after_hours, "int")),
        ("failed", "Cuộc gọi lỗi kỹ thuật", Cell(t.failed, "int")),
        ("in_progress", "Cuộc gọi đang diễn ra khi lập báo cáo", Cell(t.in_progress, "int")),
        ("fallback", "Xử lý qua phương án dự phòng của tổng đài", Cell(t.fallback, "int")),
        ("wait_avg_seconds", "Thời gian chờ trung bình (giây)", Cell(t.wait_avg_seconds, "sec")),
        (
            "wait_p90_seconds",
            f"Thời gian chờ của 90% cuộc gọi không quá (giây){p90_note}",
            Cell(t.wait_p90_seconds, "sec"),
        ),
        ("talk_avg_seconds", "Thời gian đàm thoại trung bình (giây)",
         Cell(t.talk_avg_seconds, "sec")),
        ("talk_seconds_sum", "Tổng thời gian đàm thoại (giờ:phút:giây)",
         Cell(t.talk_seconds_sum, "duration")),
        (
            "repeat_callers",
            "Số người gọi từ 2 lần trở lên" + (" (chỉ tính theo từng đơn vị)" if f.merged else ""),
            Cell(None if f.merged else t.repeat_callers, "int"),
        ),
        ("callbacks_requested", "Yêu cầu gọi lại phát sinh", Cell(t.callbacks_requested, "int")),
        ("callbacks_done", "  trong đó đã gọi lại", Cell(t.callbacks_done, "int")),
        ("callbacks_open", "  trong đó chưa gọi lại", Cell(t.callbacks_open, "int")),
    ]  # fmt: skip


def _share_rows(rows: list[CountRow], total: int) -> list[list[Cell]]:
    return [
        [Cell(r.label), Cell(r.count, "int"), Cell(r.count / total if total else None, "pct")]
        for r in rows
    ]


def report_tables(f: Figures) -> list[Table]:
    """Every table of the report, in display order."""
    merged = f.merged
    unit_h = ["Đơn vị"] if merged else []
    tables: list[Table] = []
    if merged:
        tables.append(units_table(f))
    tables.append(
        Table(
            "summary",
            "Tổng hợp",
            "Số liệu tổng hợp",
            ["Chỉ tiêu", "Giá trị"],
            [[Cell(label), cell] for _, label, cell in summary_rows(f)],
            [62, 16],
        )
    )
    tables.append(
        Table(
            "by_day",
            "Theo ngày",
            "Cuộc gọi theo ngày",
            ["Ngày", "Cuộc gọi đến", "Trả lời", "Gác máy", "Không nghe máy", "Ngoài giờ"],
            [
                [
                    Cell(d.day, "date"),
                    Cell(d.received, "int"),
                    Cell(d.answered, "int"),
                    Cell(d.abandoned, "int"),
                    Cell(d.unanswered, "int"),
                    Cell(d.after_hours, "int"),
                ]
                for d in f.by_day
            ],
            [12, 14, 10, 10, 16, 12],
        )
    )
    tables.append(
        Table(
            "by_hour",
            "Theo giờ",
            "Cuộc gọi theo giờ trong ngày",
            ["Khung giờ", "Cuộc gọi đến", "Trả lời", "Gác máy"],
            [
                [
                    Cell(f"{h.hour:02d}:00–{h.hour:02d}:59"),
                    Cell(h.received, "int"),
                    Cell(h.answered, "int"),
                    Cell(h.abandoned, "int"),
                ]
                for h in f.by_hour
            ],
            [14, 14, 10, 10],
        )
    )
    tables.append(
        Table(
            "officers",
            "Cán bộ",
            "Kết quả theo cán bộ trực",
            [
                *unit_h,
                "Cán bộ",
                "Lượt đổ chuông",
                "Cuộc gọi trả lời",
                "Tổng đàm thoại",
                "Đàm thoại TB (giây)",
                "Chờ TB (giây)",
            ],
            [
                [
                    *([Cell(o.unit)] if merged else []),
                    Cell(o.name),
                    Cell(o.attempts, "int"),
                    Cell(o.answered, "int"),
                    Cell(o.talk_seconds_sum, "duration"),
                    Cell(o.talk_avg_seconds, "sec"),
                    Cell(o.wait_avg_seconds, "sec"),
                ]
                for o in f.officers
            ],
            [*([30] if merged else []), 28, 14, 14, 14, 16, 12],
        )
    )
    tables.append(
        Table(
            "numbers",
            "Số máy",
            "Kết quả theo số máy đăng ký",
            [
                *unit_h,
                "Số máy",
                "Tên",
                "Lượt đổ chuông",
                "Nghe máy",
                "Bận",
                "Không nghe",
                "Từ chối",
                "Lỗi",
                "Ngừng đổ chuông",
                "Cuộc gọi đàm thoại",
            ],
            [
                [
                    *([Cell(n.unit)] if merged else []),
                    Cell(n.number),
                    Cell(n.label),
                    Cell(n.attempts, "int"),
                    Cell(n.answered, "int"),
                    Cell(n.busy, "int"),
                    Cell(n.no_answer, "int"),
                    Cell(n.declined, "int"),
                    Cell(n.failed, "int"),
                    Cell(n.cancelled, "int"),
                    Cell(n.answered_calls, "int"),
                ]
                for n in f.numbers
            ],
            [*([30] if merged else []), 18, 18, 9, 9, 7, 10, 8, 8, 8, 13],
        )
    )
    return [*case_tables(f), *tables]


#: Section II of the DOCX (in this order); the others go to the annex after the signature.
CASE_TABLES = (
    "cases_units",
    "cases_kinds",
    "cases_results",
    "cases_topics",
    "cases_agencies",
    "cases_notable",
    "cases_answers",
    "callbacks",
)
#: The most used agreed answers shown by name; the others are summed on one row.
MOST_USED_ANSWERS = 10
SHARE_HEADER = "Tỷ lệ trên cuộc gọi có đàm thoại"
_RESULT_ROWS = (
    ("answered", "Trả lời ngay trong cuộc gọi"),
    ("in_progress", "Đang xử lý"),
    ("forwarded", "Đã chuyển cơ quan chức năng, chờ kết quả"),
    ("resolved", "Đã có kết quả"),
    ("told", "Đã phản hồi kết quả cho người dân"),
    ("overdue", "Quá hạn xử lý"),
)


def _case_share_rows(rows: list[CountRow], c: CaseCounts) -> list[list[Cell]]:
    return [[Cell(r.label), Cell(r.count, "int"), Cell(c.share(r.count), "pct")] for r in rows]


def _unit_case_row(name: str, c: CaseCounts) -> list[Cell]:
    return [
        Cell(name),
        Cell(c.conversations, "int"),
        Cell(c.received, "int"),
        *(Cell(getattr(c, key), "int") for key, _ in _RESULT_ROWS),
    ]


def case_tables(f: Figures) -> list[Table]:
    """Section II: the citizens' requests, every share over calls that had a conversation."""
    cf, c = f.cases, f.cases.counts
    tables: list[Table] = []
    if f.merged:
        tables.append(
            Table(
                "cases_units",
                "PAKN theo đơn vị",
                "Kết quả tiếp nhận, xử lý theo đơn vị",
                [
                    "Đơn vị",
                    "Cuộc gọi có đàm thoại",
                    "Tiếp nhận",
                    "Trả lời ngay",
                    "Đang xử lý",
                    "Đã chuyển",
                    "Có kết quả",
                    "Đã phản hồi",
                    "Quá hạn",
                ],
                [
                    *(_unit_case_row(u.name, u.cases) for u in f.units),
                    _unit_case_row("Tổng cộng", c),
                ],
                [40, 14, 10, 10, 10, 10, 10, 10, 10],
            )
        )
    tables.append(
        Table(
            "cases_kinds",
            "PAKN theo loại",
            "Yêu cầu tiếp nhận theo loại",
            ["Loại", "Số yêu cầu", SHARE_HEADER],
            [
                *_case_share_rows(cf.by_kind, c),
                [
                    Cell("Tổng số yêu cầu"),
                    Cell(c.received, "int"),
                    Cell(c.share(c.received), "pct"),
                ],
            ]
            if c.received
            else [],
            [34, 14, 16],
        )
    )
    tables.append(
        Table(
            "cases_results",
            "PAKN kết quả",
            "Kết quả xử lý",
            ["Kết quả xử lý", "Số yêu cầu", SHARE_HEADER],
            [
                [Cell(label), Cell(getattr(c, key), "int"), Cell(c.share(getattr(c, key)), "pct")]
                for key, label in _RESULT_ROWS
            ]
            if c.received
            else [],
            [40, 14, 16],
        )
    )
    tables.append(
        Table(
            "cases_topics",
            "PAKN theo lĩnh vực",
            "Yêu cầu theo lĩnh vực",
            ["Lĩnh vực", "Số yêu cầu", SHARE_HEADER],
            _case_share_rows(cf.by_topic, c),
            [34, 14, 16],
        )
    )
    tables.append(
        Table(
            "cases_agencies",
            "PAKN đã chuyển",
            "Yêu cầu đã chuyển cơ quan chức năng",
            ["Cơ quan", "Số yêu cầu"],
            [[Cell(r.label), Cell(r.count, "int")] for r in cf.by_agency],
            [40, 14],
        )
    )
    unit_h = ["Đơn vị"] if f.merged else []
    tables.append(
        Table(
            "cases_notable",
            "PAKN tiêu biểu",
            "Một số phản ánh, kiến nghị tiêu biểu",
            ["Số hồ sơ", *unit_h, "Loại", "Lĩnh vực", "Nội dung", "Kết quả xử lý"],
            [
                [
                    Cell(n.ref),
                    *([Cell(n.unit)] if f.merged else []),
                    Cell(n.kind),
                    Cell(n.topic),
                    Cell(n.summary),
                    Cell(
                        "; ".join(
                            x for x in (n.status, n.agency and f"chuyển {n.agency}", n.result) if x
                        )
                    ),
                ]
                for n in cf.notable
            ],
            [14, *([24] if f.merged else []), 12, 16, 40, 40],
        )
    )
    tables.extend(answer_tables(f))
    tables.extend(callback_tables(f))
    return tables


def callback_tables(f: Figures) -> list[Table]:
    """The call-back list: entries made in the period, tries and how they stood at its end."""
    cb = f.callbacks
    if cb is None:  # an older file: not counted
        return []
    rows = [
        ("Lượt cần gọi lại", cb.created),
        ("– Để lại lời nhắn ngoài giờ", cb.after_hours_message),
        ("– Gác máy khi đang chờ", cb.abandoned),
        ("– Không có cán bộ nghe máy", cb.unanswered),
        ("Lượt đã gọi lại (ít nhất một lần)", cb.made),
        ("Số lần gọi lại", cb.tries),
        ("– Liên lạc được", cb.tries_reached),
        ("– Không nghe máy", cb.tries_no_answer),
        ("– Sai số", cb.tries_wrong_number),
        ("Lượt đã xong", cb.closed),
        ("– Đã liên lạc được", cb.closed_reached),
        ("– Sai số", cb.closed_wrong_number),
        ("– Người dân gọi lại và được trả lời", cb.closed_by_call),
        ("– Đánh dấu xong (khác)", cb.closed_other),
        ("Lượt chưa xong cuối kỳ", cb.open),
        ("Lượt quá hạn gọi lại", cb.overdue),
    ]
    return [
        Table(
            "callbacks",
            "Gọi lại",
            "Gọi lại cho người dân",
            ["Nội dung", "Số lượng"],
            [[Cell(label), Cell(n, "int")] for label, n in rows],
            [70, 30],
        )
    ]


def answer_tables(f: Figures) -> list[Table]:
    """The answer book in the period: the most used agreed answers and the questions (hỏi
    đáp) that had none (listed in full in XLSX and CSV; the DOCX proposes them in section III)."""
    book = f.cases.answers
    if book is None:  # a version 2 file: the book was not counted
        return []
    top, rest = book.used[:MOST_USED_ANSWERS], book.used[MOST_USED_ANSWERS:]
    rows = [[Cell(u.title), Cell(u.source), Cell(u.count, "int")] for u in top]
    if rest:
        rows.append(
            [
                Cell(f"Các câu trả lời khác ({len(rest)} câu)"),
                Cell(None),
                Cell(sum(u.count for u in rest), "int"),
            ]
        )
    unit_h = ["Đơn vị"] if f.merged else []
    return [
        Table(
            "cases_answers",
            "Câu trả lời đã dùng",
            "Câu trả lời thống nhất được sử dụng nhiều nhất",
            ["Câu trả lời", "Văn bản nguồn", "Số lần sử dụng"],
            rows,
            [50, 36, 14],
        ),
        Table(
            "cases_unanswered",
            "Câu hỏi chưa có trả lời",
            "Câu hỏi chưa có nội dung trả lời thống nhất",
            ["Số hồ sơ", *unit_h, "Lĩnh vực", "Nội dung"],
            [
                [
                    Cell(q.ref),
                    *([Cell(q.unit)] if f.merged else []),
                    Cell(q.topic),
                    Cell(q.summary),
                ]
                for q in book.questions
            ],
            [14, *([24] if f.merged else []), 20, 60],
        ),
    ]
