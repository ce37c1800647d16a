"""The messages, in Vietnamese, plain and short; each overridable by a file.

A template is a subject line and a body, ``$name`` / ``${name}`` placeholders
(:class:`string.Template`). An override is ``<templates_dir>/<kind>.txt``: the first line is
the subject, then an empty line, then the body. Each file is checked when it is loaded: a
placeholder the kind does not provide is refused with the file and line, so a typo never
reaches an officer as a literal ``$ten_can_bo``.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from callrouter.errors import ConfigError

#: per kind: the placeholders it provides (every message also gets ``unit``)
PLACEHOLDERS: Final[dict[str, frozenset[str]]] = {
    "shift_reminder": frozenset({"unit", "officer", "start", "end", "number", "when"}),
    "uncovered_hours": frozenset({"unit", "days", "gaps", "count"}),
    "duty_changed": frozenset({"unit", "officer", "days", "added", "removed"}),
    "fallback_alarm": frozenset({"unit", "at", "callers"}),
    "health_alarm": frozenset({"unit", "since", "minutes", "what"}),
    "missed_call": frozenset({"unit", "officer", "number", "at", "reason", "wait", "link"}),
    "digest": frozenset(
        {"unit", "day", "callbacks", "callback_count", "overdue_count", "cases", "case_count"}
    ),
}

DEFAULTS: Final[dict[str, str]] = {
    "shift_reminder": (
        "[$unit] Nhắc lịch trực 1022: $start\n"
        "\n"
        "Kính gửi $officer,\n"
        "\n"
        "Anh/chị có ca trực đường dây 1022 $when:\n"
        "từ $start đến $end, nghe máy tại số $number.\n"
        "\n"
        "Lịch của ca trực ở tệp đính kèm (mở bằng lịch điện thoại hoặc Outlook).\n"
    ),
    "uncovered_hours": (
        "[$unit] Cảnh báo: $count khoảng giờ không có ai trực 1022\n"
        "\n"
        "Trong $days ngày tới, các khoảng giờ sau không có cán bộ trực (máy không đóng):\n"
        "\n"
        "$gaps\n"
        "\n"
        "Đề nghị bổ sung người trực vào tệp lịch trực.\n"
    ),
    "duty_changed": (
        "[$unit] Lịch trực 1022 của anh/chị đã thay đổi\n"
        "\n"
        "Kính gửi $officer,\n"
        "\n"
        "Lịch trực trong $days ngày tới vừa thay đổi.\n"
        "\n"
        "Ca trực mới:\n$added\n"
        "\n"
        "Ca trực bỏ:\n$removed\n"
    ),
    "fallback_alarm": (
        "[$unit] KHẨN: tổng đài 1022 đang chuyển cuộc gọi sang phương án dự phòng\n"
        "\n"
        "Lúc $at, bộ định tuyến cuộc gọi không trả lời; $callers cuộc gọi đã được chuyển\n"
        "sang phương án dự phòng (đổ chuông các số đã đăng ký).\n"
        "\n"
        "Đề nghị kiểm tra máy chủ callrouter ngay.\n"
    ),
    "health_alarm": (
        "[$unit] KHẨN: bộ định tuyến 1022 không hoạt động bình thường\n"
        "\n"
        "Từ $since (đã $minutes phút), bộ định tuyến báo lỗi: $what.\n"
        "\n"
        "Đề nghị kiểm tra máy chủ callrouter, kết nối Asterisk và cơ sở dữ liệu.\n"
    ),
    "missed_call": (
        "[$unit] Cuộc gọi nhỡ 1022 lúc $at: $number\n"
        "\n"
        "Kính gửi $officer,\n"
        "\n"
        "Lúc $at có cuộc gọi tới đường dây 1022 từ số $number\n"
        "không được trả lời ($reason, chờ $wait giây).\n"
        "Số này đã được đưa vào danh sách gọi lại:\n"
        "\n"
        "$link\n"
        "\n"
        "Đề nghị gọi lại cho người dân trong thời hạn.\n"
    ),
    "digest": (
        "[$unit] Tổng hợp ngày $day: $callback_count cuộc cần gọi lại, $case_count hồ sơ quá hạn\n"
        "\n"
        "Tình hình đường dây 1022 đầu ngày $day.\n"
        "\n"
        "Cuộc gọi chưa được gọi lại ($callback_count, trong đó $overdue_count đã quá hạn):\n"
        "$callbacks\n"
        "\n"
        "Hồ sơ quá hạn xử lý ($case_count):\n"
        "$cases\n"
    ),
}


@dataclass(frozen=True)
class Template:
    kind: str
    subject: string.Template
    body: string.Template

    def render(self, values: dict[str, str]) -> tuple[str, str]:
        subject = self.subject.substitute(values).strip()
        return " ".join(subject.split())[:300], self.body.substitute(values).strip() + "\n"


def _unknown(line: str, allowed: frozenset[str]) -> str | None:
    for match in string.Template.pattern.finditer(line):
        if match.group("invalid") is not None:
            return "$" + line[match.start("invalid") :][:10]
        name = match.group("named") or match.group("braced")
        if name is not None and name not in allowed:
            return name
    return None


def parse(kind: str, text: str, where: str) -> Template:
    """``text`` as the template of ``kind``; :class:`ConfigError` ``where:line`` otherwise."""
    allowed = PLACEHOLDERS[kind]
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        bad = _unknown(line, allowed)
        if bad is not None:
            raise ConfigError(
                f"{where}:{number}: không có biến ${bad} trong mẫu {kind} "
                f"(dùng được: {', '.join('$' + n for n in sorted(allowed))})"
            )
    if not lines or not lines[0].strip():
        raise ConfigError(f"{where}:1: dòng đầu là tiêu đề thư, không được để trống")
    if len(lines) > 1 and lines[1].strip():
        raise ConfigError(f"{where}:2: sau dòng tiêu đề phải là một dòng trống")
    body = "\n".join(lines[2:])
    if not body.strip():
        raise ConfigError(f"{where}:3: nội dung thư trống")
    return Template(kind, string.Template(lines[0]), string.Template(body))


def load_templates(directory: Path | None) -> dict[str, Template]:
    """The built-in templates, each replaced by ``directory/<kind>.txt`` when present."""
    out = {kind: parse(kind, text, f"<mẫu {kind}>") for kind, text in DEFAULTS.items()}
    if directory is None:
        return out
    if not directory.is_dir():
        raise ConfigError(f"{directory}: thư mục mẫu thư không tồn tại")
    for kind in DEFAULTS:
        path = directory / f"{kind}.txt"
        if not path.exists():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: không đọc được mẫu thư: {exc}") from None
        out[kind] = parse(kind, text, str(path))
    unknown = sorted(p.name for p in directory.glob("*.txt") if p.stem not in DEFAULTS)
    if unknown:
        raise ConfigError(
            f"{directory / unknown[0]}:1: không có loại thông báo này "
            f"(các loại: {', '.join(sorted(DEFAULTS))})"
        )
    return out
