"""Charts for the report (matplotlib, PNG bytes), with Vietnamese text that renders.

matplotlib ships DejaVu Sans, which has every Vietnamese letter with its diacritics; the
charts use it explicitly so no system font lookup can fall back to one without them. Rendering
is blocking CPU work: call these from a worker thread (``asyncio.to_thread``) or a sync CLI.
"""

from __future__ import annotations

import io
from typing import Any, Final

import matplotlib as mpl

mpl.use("Agg")  # headless: no display, no GUI toolkit

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from matplotlib.typing import RcKeyType

from callrouter.calls.outcomes import OUTCOME_LABELS as CALL_OUTCOME_LABELS
from callrouter.report.figures import Figures

FONT_FAMILY = "DejaVu Sans"
_STYLE: dict[RcKeyType, Any] = {
    "font.family": FONT_FAMILY,
    "font.size": 9,
    "axes.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
BLUE, GREEN, ORANGE, RED, GREY, PURPLE = (
    "#1f4e79",
    "#2e7d32",
    "#ef6c00",
    "#c62828",
    "#757575",
    "#6a1b9a",
)

TITLE_BY_DAY = "Số cuộc gọi theo ngày"
TITLE_BY_HOUR = "Số cuộc gọi theo giờ trong ngày"
TITLE_OUTCOMES = "Cơ cấu cuộc gọi theo tình trạng tiếp nhận"
OUTCOME_LABELS: Final[dict[str, str]] = {
    **{str(k): label for k, label in CALL_OUTCOME_LABELS.items() if k is not None},
    "in_progress": CALL_OUTCOME_LABELS[None],
}
ALL_CHART_TEXT = (TITLE_BY_DAY, TITLE_BY_HOUR, TITLE_OUTCOMES, *OUTCOME_LABELS.values())


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=200, bbox_inches="tight")
    return buf.getvalue()


def by_day_chart(f: Figures) -> bytes:
    with mpl.rc_context(_STYLE):
        fig = Figure(figsize=(6.3, 2.6))
        ax = fig.add_subplot()
        xs = list(range(len(f.by_day)))
        answered = [d.answered for d in f.by_day]
        other = [d.received - d.answered for d in f.by_day]
        ax.bar(xs, answered, color=GREEN, label="Đã trả lời")
        ax.bar(xs, other, bottom=answered, color=ORANGE, label="Khác (gác máy, ngoài giờ…)")
        step = max(1, -(-len(xs) // 15))  # at most ~15 labels
        ax.set_xticks(xs[::step], [f"{d.day:%d/%m}" for d in f.by_day][::step], rotation=45)
        ax.set_ylabel("Cuộc gọi")
        ax.legend(frameon=False, fontsize=8, ncol=2, loc="lower center", bbox_to_anchor=(0.5, 1.0))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        return _png(fig)


def by_hour_chart(f: Figures) -> bytes:
    with mpl.rc_context(_STYLE):
        fig = Figure(figsize=(6.3, 2.4))
        ax = fig.add_subplot()
        hours = [h.hour for h in f.by_hour]
        ax.bar(hours, [h.received for h in f.by_hour], color=BLUE, label="Nhận")
        ax.plot(hours, [h.answered for h in f.by_hour], color=GREEN, marker=".", label="Trả lời")
        ax.set_xticks(range(0, 24, 2), [f"{h}h" for h in range(0, 24, 2)])
        ax.set_ylabel("Cuộc gọi")
        ax.legend(frameon=False, fontsize=8, ncol=2, loc="lower center", bbox_to_anchor=(0.5, 1.0))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        return _png(fig)


def outcomes_chart(f: Figures) -> bytes:
    t = f.totals
    parts = [
        ("answered", t.answered, GREEN),
        ("abandoned", t.abandoned, ORANGE),
        ("unanswered", t.unanswered, RED),
        ("after_hours", t.after_hours, GREY),
        ("failed", t.failed, PURPLE),
        ("in_progress", t.in_progress, BLUE),
    ]
    parts = [p for p in parts if p[1]]
    with mpl.rc_context(_STYLE):
        fig = Figure(figsize=(6.3, 2.6))
        ax = fig.add_subplot()
        if parts:
            ax.pie(
                [n for _, n, _ in parts],
                colors=[c for _, _, c in parts],
                # Slices under 5 % are too thin for a label; the legend gives their counts.
                autopct=lambda p: f"{p:.1f}%".replace(".", ",") if p >= 5 else "",
                startangle=90,
                counterclock=False,
                wedgeprops={"linewidth": 1, "edgecolor": "white"},
                textprops={"fontsize": 8, "color": "white"},
            )
            ax.legend(
                [f"{OUTCOME_LABELS[k]} ({n})" for k, n, _ in parts],
                loc="center left",
                bbox_to_anchor=(1.0, 0.5),
                frameon=False,
            )
        else:
            ax.text(0.5, 0.5, "Không có cuộc gọi", ha="center", va="center")
            ax.set_axis_off()
        ax.set_aspect("equal")
        return _png(fig)


def all_charts(f: Figures) -> list[tuple[str, bytes]]:
    """(caption, PNG) for every chart the document shows."""
    return [
        (TITLE_BY_DAY, by_day_chart(f)),
        (TITLE_BY_HOUR, by_hour_chart(f)),
        (TITLE_OUTCOMES, outcomes_chart(f)),
    ]
