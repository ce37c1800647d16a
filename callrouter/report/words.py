"""The report's sentences in Vietnamese: title, subject line and the summary paragraph."""

from __future__ import annotations

from callrouter.report.figures import ABANDONED_SHORT_SECONDS, Figures, PeriodKind, percent


def _n(value: int) -> str:
    return f"{value:,}".replace(",", ".")


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}".replace(".", ",")


def subject(f: Figures) -> str:
    """What the report is about (after "BÁO CÁO", and in the "V/v" line)."""
    what = (
        f"Kết quả tiếp nhận, xử lý cuộc gọi của người dân qua đường dây nóng 1022 "
        f"(nhánh {f.branch} – lĩnh vực y tế) {f.period.title_vi}"
    )
    if f.period.kind is PeriodKind.ADHOC:
        what += " (báo cáo đột xuất)"
    return what


def report_title(f: Figures) -> str:
    prefix = "BÁO CÁO TỔNG HỢP" if f.merged else "BÁO CÁO"
    return f"{prefix}: {subject(f)}"


def empty_sentence(f: Figures) -> str:
    return (
        f"Trong kỳ báo cáo ({f.period.start:%d/%m/%Y} – {f.period.end:%d/%m/%Y}) đường dây "
        f"nóng 1022 nhánh {f.branch} không nhận được cuộc gọi nào."
    )


def summary_paragraphs(f: Figures) -> list[str]:
    """The body's opening paragraphs: the figures told in words."""
    if f.empty:
        return [empty_sentence(f)]
    t = f.totals
    who = f"{len(f.units)} đơn vị" if f.merged else "đơn vị"
    p1 = (
        f"Từ ngày {f.period.start:%d/%m/%Y} đến ngày {f.period.end:%d/%m/%Y}, đường dây nóng "
        f"1022 (nhánh {f.branch} – lĩnh vực y tế) của {who} đã tiếp nhận {_n(t.received)} cuộc "
        f"gọi, trong đó {_n(t.offered)} cuộc gọi trong giờ trực và {_n(t.after_hours)} cuộc gọi "
        f"ngoài giờ trực. Cán bộ trực đã trả lời {_n(t.answered)} cuộc gọi, đạt tỷ lệ "
        f"{percent(t.answer_rate)} số cuộc gọi trong giờ trực; {_n(t.answered_within_sl)} cuộc "
        f"gọi ({percent(t.service_level)}) được trả lời trong vòng {f.service_level_seconds} giây."
    )
    p2 = (
        f"Thời gian chờ trung bình là {_s(t.wait_avg_seconds)} giây; 90 % cuộc gọi được trả lời "
        f"sau không quá {_s(t.wait_p90_seconds)} giây. Thời gian đàm thoại trung bình là "
        f"{_s(t.talk_avg_seconds)} giây. Có {_n(t.abandoned)} cuộc gọi người gọi gác máy khi "
        f"đang chờ (trong đó {_n(t.abandoned_short)} cuộc gác máy trong {ABANDONED_SHORT_SECONDS} "
        f"giây đầu, thường là gọi nhầm), {_n(t.unanswered)} cuộc gọi không có cán bộ nào nghe "
        f"máy và {_n(t.failed)} cuộc gọi lỗi kỹ thuật."
    )
    busiest = f.busiest_hours(3)
    parts = [p1, p2]
    if busiest:
        hours = ", ".join(
            f"{h.hour:02d}:00–{h.hour:02d}:59 ({_n(h.received)} cuộc)" for h in busiest
        )
        parts.append(f"Các khung giờ có nhiều cuộc gọi nhất: {hours}.")
    extra = (
        f"Có {_n(t.repeat_callers)} người gọi từ 2 lần trở lên trong kỳ. Phát sinh "
        f"{_n(t.callbacks_requested)} yêu cầu gọi lại, đã gọi lại {_n(t.callbacks_done)}, "
        f"còn {_n(t.callbacks_open)} yêu cầu chưa gọi lại."
    )
    if t.unclassified:
        extra += f" Còn {_n(t.unclassified)} cuộc gọi chưa được phân loại nội dung."
    if t.fallback:
        extra += (
            f" {_n(t.fallback)} cuộc gọi được tổng đài xử lý theo phương án dự phòng "
            "(khi hệ thống định tuyến không hoạt động)."
        )
    parts.append(extra)
    if f.merged and t.wait_p90_method == "histogram":
        parts.append(
            "Ghi chú: số liệu tổng hợp được cộng từ số liệu gốc của các đơn vị (các tỷ lệ và "
            "giá trị trung bình được tính lại, không lấy trung bình của các tỷ lệ); thời gian "
            "chờ của 90 % cuộc gọi được tính từ phân bố thời gian chờ theo từng giây của các "
            "đơn vị (làm tròn lên đến giây)."
        )
    return parts
