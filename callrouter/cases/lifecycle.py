"""A case's kind and its status lifecycle: one transition table, an illegal move raises.

Codes are ASCII and stored as such (the database has no CHECK on them: the lists are
configuration and code, not schema); what officers, citizens and the report read are the
Vietnamese labels. The lifecycle::

    (new) ──► đã trả lời                      answered on the call: closed at once
    (new) ──► đang xử lý ──► đã chuyển ──► đã có kết quả ──► đã phản hồi người dân
                  │   ▲          │              ▲
                  │   └──────────┘ (trả lại)    │
                  └─────────────────────────────┘

``đã chuyển`` needs an agency, ``đã có kết quả`` a result text, ``đã phản hồi người dân``
who told the citizen; those checks live with the store's update (they need the row).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, TypeVar

from callrouter.errors import CaseTransitionError

_E = TypeVar("_E", bound=StrEnum)


class Kind(StrEnum):
    QUESTION = "hoi_dap"
    FEEDBACK = "phan_anh"
    PETITION = "kien_nghi"
    OTHER = "khac"

    @property
    def label(self) -> str:
        return KIND_LABELS[self]


class Status(StrEnum):
    ANSWERED = "answered"
    IN_PROGRESS = "in_progress"
    FORWARDED = "forwarded"
    RESOLVED = "resolved"
    TOLD = "told"

    @property
    def label(self) -> str:
        return STATUS_LABELS[self]

    @property
    def closed(self) -> bool:
        """Nothing more is owed to the citizen."""
        return self in CLOSED


KIND_LABELS: Final[dict[Kind, str]] = {
    Kind.QUESTION: "Hỏi đáp",
    Kind.FEEDBACK: "Phản ánh",
    Kind.PETITION: "Kiến nghị",
    Kind.OTHER: "Khác",
}
STATUS_LABELS: Final[dict[Status, str]] = {
    Status.ANSWERED: "Đã trả lời",
    Status.IN_PROGRESS: "Đang xử lý",
    Status.FORWARDED: "Đã chuyển",
    Status.RESOLVED: "Đã có kết quả",
    Status.TOLD: "Đã phản hồi người dân",
}
CLOSED: Final = frozenset({Status.ANSWERED, Status.TOLD})

#: The statuses a new case may start in.
INITIAL: Final = frozenset({Status.ANSWERED, Status.IN_PROGRESS, Status.FORWARDED})

#: from → the statuses it may move to.
TRANSITIONS: Final[dict[Status, frozenset[Status]]] = {
    Status.ANSWERED: frozenset(),
    Status.IN_PROGRESS: frozenset({Status.FORWARDED, Status.RESOLVED}),
    Status.FORWARDED: frozenset({Status.IN_PROGRESS, Status.RESOLVED}),
    Status.RESOLVED: frozenset({Status.TOLD}),
    Status.TOLD: frozenset(),
}


def _labels(statuses: frozenset[Status]) -> str:
    ordered = [s for s in Status if s in statuses]
    return ", ".join(f"'{s.label}'" for s in ordered) or "không trạng thái nào (đã kết thúc)"


def parse_kind(raw: str) -> Kind:
    """A kind from its code or its Vietnamese label (any case)."""
    return _parse(Kind, KIND_LABELS, raw, "loại")


def parse_status(raw: str) -> Status:
    """A status from its code or its Vietnamese label (any case)."""
    return _parse(Status, STATUS_LABELS, raw, "trạng thái")


def _parse(enum: type[_E], labels: dict[_E, str], raw: str, what: str) -> _E:
    text = raw.strip().casefold()
    for member in enum:
        if text in (member.value, labels[member].casefold()):
            return member
    choices = ", ".join(f"{m.value} ({labels[m]})" for m in enum)
    raise CaseTransitionError(f"{what} {raw!r} không có; chọn một trong: {choices}")


def check_initial(status: Status) -> None:
    if status not in INITIAL:
        raise CaseTransitionError(
            f"hồ sơ mới không thể ở trạng thái '{status.label}'; "
            f"chỉ có thể bắt đầu ở: {_labels(INITIAL)}"
        )


def check_transition(current: Status, new: Status) -> None:
    """Refuse a move the table forbids (staying in the same status is not a move)."""
    if new == current or new in TRANSITIONS[current]:
        return
    raise CaseTransitionError(
        f"không thể chuyển hồ sơ từ '{current.label}' sang '{new.label}'; "
        f"từ '{current.label}' chỉ có thể sang: {_labels(TRANSITIONS[current])}"
    )
