"""The scenes of ``callrouter demo`` and how it tells them: each call's duty list (an override
for today in the demo's working copy of the rota), what the caller does, what the call log must
say afterwards, and the one progress line per event the demo prints while the call goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from callrouter.errors import ConfigError
from callrouter.rota import Rota
from callrouter.sandbox.ami import Event

# ---------------------------------------------------------------------------------- scenes


@dataclass(frozen=True)
class Scene:
    """One call of the demo: who is on duty, what the caller does, what the log must say."""

    title: str
    duty: tuple[tuple[str, str], ...] = ()  # (officer id, at) in ring order
    closed: bool = False  # an override closing the line (after-hours)
    router_up: bool = True  # False: callrouter is stopped, the dialplan fallback works
    talk: float | None = 3.0  # seconds the caller talks once put through
    abandon_after: float | None = None  # caller hangs up this long after the first ring
    leaves_message: bool = False  # after the beep the caller speaks, then presses #
    outcome: str | None = None  # expected calls.outcome (None: no row expected)
    mode: str = "ari"  # expected calls.mode (fallback: imported from Asterisk's CDR)
    results: tuple[str, ...] = ()  # expected call_attempts.result, in order
    answered_by: str | None = None  # expected answered_officer_id
    callback: str | None = None  # expected callbacks.reason of a call-back entry


SCENES: tuple[Scene, ...] = (
    Scene(
        "Cán bộ trực nhấc máy ngay / answered at once",
        duty=(("lan", "may-co-quan"), ("thao", "di-dong-truc")),
        outcome="answered",
        results=("answered",),
        answered_by="lan",
    ),
    Scene(
        "Máy bận → chuyển người tiếp theo / busy → next officer",
        duty=(("dung", "own"), ("lan", "may-co-quan")),
        outcome="answered",
        results=("busy", "answered"),
        answered_by="lan",
    ),
    Scene(
        "Không nghe máy → hết 5 giây chuyển tiếp / no answer → next after the ring timeout",
        duty=(("huong", "own"), ("lan", "may-co-quan")),
        outcome="answered",
        results=("no_answer", "answered"),
        answered_by="lan",
    ),
    Scene(
        "Di động trực: bấm phím 1 để nhận / a mobile accepts by pressing 1",
        duty=(("thao", "di-dong-truc"), ("lan", "may-co-quan")),
        outcome="answered",
        results=("answered",),
        answered_by="thao",
    ),
    Scene(
        "Hộp thư thoại nhấc máy: bị từ chối / voicemail picks up: refused, next officer",
        duty=(("minh", "own"), ("lan", "may-co-quan")),
        outcome="answered",
        results=("no_answer", "answered"),
        answered_by="lan",
    ),
    Scene(
        "Người gọi gác máy khi đang chờ / caller hangs up while it rings (abandoned)",
        duty=(("huong", "own"), ("lan", "may-co-quan")),
        talk=None,
        abandon_after=2.0,
        outcome="abandoned",
        results=("cancelled",),
    ),
    Scene(
        "Ngoài giờ trực: để lại lời nhắn / after hours: the caller leaves a message",
        closed=True,
        talk=None,
        leaves_message=True,
        outcome="after_hours",
        callback="after_hours_message",
    ),
    Scene(
        "callrouter đang dừng → dialplan dự phòng / router stopped → dialplan fallback",
        router_up=False,
        outcome="answered",
        mode="fallback",
    ),
)


def scene_rota_text(base: str, scene: Scene, today: date) -> str:
    """The base rota plus one override for today and tomorrow: the scene's duty, or closed."""
    if "\noverrides:" in "\n" + base:
        raise ConfigError("the demo rota must not have an 'overrides' section (the demo adds one)")
    lines = [
        "",
        "# --- added by callrouter demo for this scene ---",
        "overrides:",
        f"  - from: {today.isoformat()}",
        f"    to: {(today + timedelta(days=1)).isoformat()}",
        f'    reason: "Demo: {scene.title}"',
    ]
    if scene.closed:
        lines.append("    closed: true")
    else:
        lines.append("    duty:")
        lines += [f"      - {{ officer: {who}, at: {at} }}" for who, at in scene.duty]
    return base.rstrip("\n") + "\n" + "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ narration


def phone_names(rota: Rota) -> dict[str, str]:
    names: dict[str, str] = {}
    for number in rota.numbers:
        names[number.number] = f"máy {number.label}"
    for officer in rota.officers:
        names.setdefault(officer.phone, officer.name)
    return names


def narrate(
    item: Event, phones: dict[str, str], caller: str, tag: str | None = None
) -> tuple[str, str] | None:
    """The progress line for one event of the current call (the caller's number, and the
    caller's channel ``tag`` on the pstn), or None to stay quiet."""
    f = item.fields
    if item.source == "pstn":
        ue = f.get("UserEvent") or ""
        number = f.get("Number", "")
        who = f"{phones.get(number, number)} ({number})"
        if ue.startswith("Officer") and f.get("Caller") != caller:
            return None
        if ue.startswith("Caller") and tag is not None and f.get("Tag") != tag:
            return None
        match ue:
            case "CallerAnswered":
                return "người gọi", "tổng đài 1022 nhấc máy, nghe lời chào / menu answers"
            case "CallerSentDigits":
                return "người gọi", f"đã bấm phím {f.get('Digits')} (y tế / health)"
            case "CallerSaid":
                return "người gọi", "(đã nói lời nhắn, bấm # để kết thúc) / said it, pressed #"
            case "CallerHangup":
                return (
                    "người gọi",
                    f"máy người gọi đã ngắt / caller's line closed (cause {f.get('Cause')})",
                )
            case "OfficerRinging":
                return "điện thoại", f"{who} đổ chuông / ringing"
            case "OfficerAnswered":
                return "điện thoại", f"{who} nhấc máy / picked up"
            case "OfficerPressed":
                return "điện thoại", f"{who} bấm phím {f.get('Digit')} / pressed"
            case "OfficerHangup":
                return "điện thoại", f"{who} kết thúc / hung up (cause {f.get('Cause')})"
        return None
    if item.source != "callrouter":
        return None
    match f.get("event"):
        case "call.received":
            state = "mở / open" if f.get("open") else "đóng / closed"
            reason = str(f.get("reason"))
            if reason.startswith("override: Demo:"):
                reason = "theo lịch trực hôm nay / today's override"
            return "callrouter", f"nhận cuộc gọi: {state} — {reason}"
        case "leg.confirming":
            return "callrouter", f"hỏi {f.get('officer')}: bấm 1 để nhận / asks to press 1"
        case "leg.not_confirmed":
            return "callrouter", "không bấm phím 1 (hộp thư?) → coi như không nghe / not confirmed"
        case "leg.declined":
            return "callrouter", f"cán bộ từ chối (phím {f.get('digit')}) / declined"
        case "leg.ended":
            return "callrouter", f"lượt gọi {f.get('seq')} kết thúc: {f.get('result')}"
        case "call.bridged":
            return "callrouter", f"nối máy người gọi với {f.get('officer')} / bridged"
        case "call.ended":
            return "callrouter", f"cuộc gọi kết thúc: {f.get('outcome')}"
        case "call.message_left":
            return "callrouter", "đã ghi lời nhắn, tạo yêu cầu gọi lại / message saved"
        case "cdr.fallback_call":
            return "callrouter", f"nhập cuộc gọi dự phòng từ CDR: {f.get('outcome')} / imported"
        case "call.handed_to_dialplan":
            return "callrouter", f"trả cuộc gọi về dialplan ({f.get('action')})"
    return None
