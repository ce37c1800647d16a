"""The report's sentences in Vietnamese: title, subject line and the summary paragraph."""

from __future__ import annotations

from callrouter.report.figures import CountRow, Figures, PeriodKind, percent

TIME_GLOSSARY: tuple[tuple[str, str], ...] = (
    (
        "Thời điểm bắt đầu cuộc gọi",
        "lúc người gọi chọn nhánh (sau lời chào và phần chọn nhánh của tổng đài; phần này "
        "không tính vào thời gian chờ).",
    ),
    (
        "Thời gian chờ",
        "từ thời điểm bắt đầu đến khi cán bộ trực nhận cuộc gọi; cuộc gọi không ai nhận "
        "tính đến khi kết thúc.",
    ),
    ("Thời gian đàm thoại", "từ khi cán bộ trực nhận cuộc gọi đến khi cuộc gọi kết thúc."),
)
"""What the report's times mean (its glossary, "Cách tính thời gian"): one definition for
every call, whether callrouter routed it (ARI or FastAGI) or the exchange's fallback did
(callrouter.calls.recorder; docs/operator-guide.md, "What the times mean")."""
GLOSSARY_HEADING = "Cách tính thời gian"
"""The glossary's heading, in the DOCX annex and on the report page."""


def glossary_lines() -> list[str]:
    """The glossary as sentences: ``<term>: <meaning>``."""
    return [f"{term}: {meaning}" for term, meaning in TIME_GLOSSARY]


def _n(value: int) -> str:
    return f"{value:,}".replace(",", ".")


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}".replace(".", ",")


def subject(f: Figures) -> str:
    """What the report is about: the summary line under "BÁO CÁO" (a báo cáo has no "V/v")."""
    what = (
        f"Kết quả tiếp nhận, xử lý phản ánh, kiến nghị của người dân qua {f.unit.hotline} "
        f"(nhánh {f.branch} – {f.unit.field}) {f.period.title_vi}"
    )
    if f.period.kind is PeriodKind.ADHOC:
        what += " (báo cáo đột xuất)"
    return what


def report_title(f: Figures) -> str:
    prefix = "BÁO CÁO TỔNG HỢP" if f.merged else "BÁO CÁO"
    return f"{prefix}: {subject(f)}"


def empty_sentence(f: Figures) -> str:
    return (
        f"Trong kỳ báo cáo ({f.period.start:%d/%m/%Y} – {f.period.end:%d/%m/%Y}) "
        f"{f.unit.hotline} nhánh {f.branch} không nhận được cuộc gọi nào."
    )


def summary_paragraphs(f: Figures) -> list[str]:
    """The body's opening paragraphs: the cases first, then the calls in one paragraph."""
    if f.empty and not f.cases.counts.received:
        return [empty_sentence(f)]
    return [*case_paragraphs(f), telephony_paragraph(f)]


def _kinds(rows: list[CountRow]) -> str:
    """``163 hỏi đáp, 70 phản ánh, …`` (kinds read as common nouns in a sentence)."""
    return ", ".join(f"{_n(r.count)} {r.label.lower()}" for r in rows if r.count)


def case_paragraphs(f: Figures) -> list[str]:
    """Section II in words: received by kind, what became of them, over conversations; then
    the call-backs (when counted)."""
    callback = callback_sentence(f)
    return [*_case_paragraphs(f), *([callback] if callback else [])]


def callback_sentence(f: Figures) -> str | None:
    """The call-back list in one sentence; None when the file did not count it."""
    cb = f.callbacks
    if cb is None:
        return None
    if not cb.created:
        return "Gọi lại cho người dân: trong kỳ không phát sinh lượt cần gọi lại."
    reasons = ", ".join(
        f"{_n(n)} {label}"
        for n, label in (
            (cb.after_hours_message, "để lại lời nhắn ngoài giờ"),
            (cb.abandoned, "gác máy khi đang chờ"),
            (cb.unanswered, "không có cán bộ nghe máy"),
        )
        if n
    )
    return (
        f"Gọi lại cho người dân: {_n(cb.created)} lượt cần gọi lại ({reasons}), đã gọi "
        f"{_n(cb.made)} ({_n(cb.tries)} lần gọi, {_n(cb.tries_reached)} lần liên lạc được, "
        f"{_n(cb.tries_no_answer)} lần không nghe máy, {_n(cb.tries_wrong_number)} lần sai "
        f"số); đã xong {_n(cb.closed)} (trong đó {_n(cb.closed_by_call)} lượt người dân gọi "
        f"lại và được trả lời), còn {_n(cb.open)} chưa xong; {_n(cb.overdue)} lượt quá hạn "
        "gọi lại (quá thời hạn trong giờ làm việc)."
    )


def _case_paragraphs(f: Figures) -> list[str]:
    c = f.cases.counts
    who = f"{len(f.units)} đơn vị" if f.merged else "đơn vị"
    if not c.received:
        return [
            f"Trong kỳ báo cáo, {who} không tiếp nhận phản ánh, kiến nghị hay câu hỏi nào "
            f"được ghi nhận thành hồ sơ (có {_n(c.conversations)} cuộc gọi có đàm thoại)."
        ]
    kinds = _kinds(f.cases.by_kind)
    p1 = (
        f"Trong kỳ báo cáo, {who} đã tiếp nhận {_n(c.received)} yêu cầu của người dân "
        f"({kinds}) qua {_n(c.conversations)} cuộc gọi có đàm thoại với cán bộ trực; "
        f"số yêu cầu bằng {percent(c.share(c.received))} số cuộc gọi có đàm thoại."
    )
    p2 = (
        f"Kết quả xử lý: trả lời ngay trong cuộc gọi {_n(c.answered)} "
        f"({percent(c.share(c.answered))}); đang xử lý {_n(c.in_progress)}; đã chuyển cơ quan "
        f"chức năng, đang chờ kết quả {_n(c.forwarded)}; đã có kết quả {_n(c.resolved)}; đã "
        f"phản hồi kết quả cho người dân {_n(c.told)}. Số yêu cầu quá hạn xử lý: "
        f"{_n(c.overdue)}."
    )
    sent = [r for r in f.cases.by_agency if r.count]
    if sent:
        p2 += (
            f" Trong kỳ đã chuyển {_n(sum(r.count for r in sent))} yêu cầu đến cơ quan chức "
            "năng (" + "; ".join(f"{r.label}: {_n(r.count)}" for r in sent) + ")."
        )
    return [p1, p2]


def telephony_paragraph(f: Figures) -> str:
    """The call figures condensed to one paragraph (the tables are in the annex)."""
    if f.empty:
        return empty_sentence(f)
    t = f.totals
    text = (
        f"Về tiếp nhận cuộc gọi: từ ngày {f.period.start:%d/%m/%Y} đến ngày "
        f"{f.period.end:%d/%m/%Y}, {f.unit.hotline} (nhánh {f.branch} – {f.unit.field}) nhận "
        f"{_n(t.received)} cuộc gọi ({_n(t.offered)} trong giờ trực, {_n(t.after_hours)} ngoài "
        f"giờ); cán bộ trực trả lời {_n(t.answered)} cuộc ({percent(t.answer_rate)} số cuộc gọi "
        f"trong giờ trực, {percent(t.service_level)} trong vòng {f.service_level_seconds} giây); "
        f"thời gian chờ trung bình {_s(t.wait_avg_seconds)} giây, đàm thoại trung bình "
        f"{_s(t.talk_avg_seconds)} giây; {_n(t.abandoned)} cuộc người gọi gác máy khi chờ "
        f"(trong đó {_n(t.abandoned_short)} cuộc gác máy trong {f.misdial_seconds} giây đầu), "
        f"{_n(t.unanswered)} cuộc không có cán bộ nghe máy, {_n(t.failed)} cuộc lỗi "
        f"kỹ thuật; phát sinh {_n(t.callbacks_requested)} yêu cầu gọi lại, đã gọi lại "
        f"{_n(t.callbacks_done)}."
    )
    if t.fallback:
        text += (
            f" {_n(t.fallback)} cuộc gọi được tổng đài xử lý theo phương án dự phòng "
            "(khi hệ thống định tuyến không hoạt động)."
        )
    text += " Số liệu chi tiết tại Phụ lục kèm theo."
    if f.merged and t.wait_p90_method == "histogram":
        text += (
            " Số liệu tổng hợp được cộng từ số liệu gốc của các đơn vị (các tỷ lệ và giá trị "
            "trung bình được tính lại, không lấy trung bình của các tỷ lệ)."
        )
    return text


#: The heading of the proposal to the Department of Health in section III.
PROPOSAL_HEADING = "Đề xuất bổ sung nội dung trả lời"
_SUMMARY_CHARS = 150


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SUMMARY_CHARS else text[: _SUMMARY_CHARS - 1].rstrip() + "…"


def answer_proposal(f: Figures) -> list[str]:
    """Section III's proposal: the questions of the period that had no agreed answer, counted
    and the first few listed by reference, topic and a short summary; empty when there were
    none (or the book was not counted)."""
    book = f.cases.answers
    if book is None or not book.unanswered:
        return []
    lines = [
        f"Trong kỳ báo cáo có {_n(book.unanswered)} câu hỏi của người dân chưa có nội dung trả "
        "lời thống nhất với Sở Y tế. Đề nghị Sở Y tế xem xét, bổ sung nội dung trả lời cho "
        "các câu hỏi sau:"
    ]
    for q in book.questions:
        where = f"{q.unit}, " if q.unit else ""
        what = f": {_short(q.summary)}" if q.summary and q.summary.strip() else ""
        lines.append(f"- Hồ sơ số {q.ref} ({where}{q.topic}){what}.")
    rest = book.unanswered - len(book.questions)
    if rest > 0:
        lines.append(f"- Và {_n(rest)} câu hỏi khác.")
    return lines
