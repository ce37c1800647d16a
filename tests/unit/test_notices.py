"""Health notices: the notices file (file:line), sound checks, speech, include files, CLI."""

from __future__ import annotations

import math
import struct
import wave
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from callrouter.asterisk import contract
from callrouter.cli import cli
from callrouter.errors import NoticeFileError, NoticeSoundError
from callrouter.notices.board import (
    NoticeBoard,
    music_class,
    prepare,
    render_moh_include,
    render_notices_include,
    sound_name,
)
from callrouter.notices.config import Audience, parse_notices
from callrouter.notices.speech import check_wav, sound_key, speak

NOW = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)
GOOD = """\
timezone: UTC
max_seconds: 20
say:
  TCMR: tiêm chủng mở rộng
notices:
  - id: cu
    text: Lịch cũ đã kết thúc.
    valid_from: 2026-11-01 07:00
    valid_until: 2026-11-30 17:00
  - id: tcmr
    text: Lịch TCMR ngày 15/12 tại TTYT huyện.
    valid_from: 2026-12-01 07:00
    valid_until: 2026-12-31 17:00
  - id: ngoai-gio
    text: Ngoài giờ làm việc, xin gọi lại sau 7h30.
    valid_from: 2026-12-01
    valid_until: 2027-01-01
    audience: after_hours
"""


def tone(
    path: Path, seconds: float, *, rate: int = 8000, channels: int = 1, amp: int = 8000
) -> Path:
    frames = int(seconds * rate)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        one = [int(amp * math.sin(2 * math.pi * 440 * i / rate)) for i in range(frames)]
        w.writeframes(b"".join(struct.pack("<h", s) * channels for s in one))
    return path


def test_a_bad_notices_file_names_every_problem_with_file_line() -> None:
    text = """\
say:
  BAD KEY: x
notices:
  - id: a
    text: Một
    valid_from: 2026-12-01
    valid_until: 2026-11-01
  - id: a
    text: " "
    valid_from: 2026-12-01
    valid_until: 2026-12-31
    audience: everyone
"""
    with pytest.raises(NoticeFileError) as caught:
        parse_notices(text, "notices.yaml")
    lines = [p.split(": ", 1)[0] for p in caught.value.problems]
    assert lines == [
        "notices.yaml:2:12",
        "notices.yaml:4:5",
        "notices.yaml:8:9",
        "notices.yaml:9:11",
        "notices.yaml:12:15",
    ]
    assert "valid_until" in caught.value.problems[1]


def test_only_notices_valid_now_for_the_audience_are_current() -> None:
    notices = parse_notices(GOOD, "notices.yaml")
    assert [n.id for n in notices.current(Audience.WAITING, NOW)] == ["tcmr"]
    assert [n.id for n in notices.current(Audience.AFTER_HOURS, NOW)] == ["ngoai-gio"]
    end = datetime(2026, 12, 31, 17, 0, tzinfo=UTC)
    assert notices.current(Audience.WAITING, end) == []  # until is excluded


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: tone(p, 2, rate=22050), "22050 Hz"),
        (lambda p: tone(p, 2, channels=2), "2 kênh"),
        (lambda p: tone(p, 0.2), "quá ngắn"),
        (lambda p: tone(p, 25), "dài 25.0 giây, quá giới hạn 20 giây"),
        (lambda p: tone(p, 2, amp=0), "im lặng"),
        (lambda p: (p.write_bytes(b"not a wav"), p)[1], "không phải tệp WAV"),
    ],
)
def test_a_sound_asterisk_cannot_play_as_it_is_is_refused_with_what_it_needs(
    tmp_path: Path, make: object, message: str
) -> None:
    path = tmp_path / "n.wav"
    make(path)  # type: ignore[operator]
    with pytest.raises(NoticeSoundError, match=message):
        check_wav(path, 20)


def test_speech_is_8_khz_mono_16_bit_and_named_by_what_is_said(tmp_path: Path) -> None:
    out = tmp_path / "n.wav"
    speak("Trung tâm Y tế xin thông báo", out)
    info = check_wav(out, 30)
    assert (info.rate, info.channels, info.sample_bytes) == (8000, 1, 2)
    assert sound_key("một") == sound_key("một") != sound_key("hai")


def test_prepare_speaks_each_notice_once_and_refuses_one_too_long(tmp_path: Path) -> None:
    long_text = "Thông báo rất dài. " * 40
    text = GOOD + f"  - id: dai\n    text: {long_text}\n    valid_from: 2026-12-01\n"
    text += "    valid_until: 2026-12-31\n"
    ready = prepare(parse_notices(text, "n.yaml"), tmp_path, tmp_path / "sounds")
    assert [r.notice.id for r in ready.ready] == ["cu", "tcmr", "ngoai-gio"]
    [problem] = ready.problems
    assert problem.startswith("thông báo dai:")
    assert "quá giới hạn 20 giây" in problem
    tcmr = ready.ready[1]
    assert tcmr.spoken == (
        "Lịch tiêm chủng mở rộng ngày mười lăm tháng mười hai tại Trung tâm Y tế huyện."
    )
    path = tmp_path / "sounds/vi/callrouter/notices" / f"{tcmr.key}.wav"
    stamp = path.stat().st_mtime_ns
    again = prepare(parse_notices(text, "n.yaml"), tmp_path, tmp_path / "sounds")
    assert again.ready[1].key == tcmr.key
    assert path.stat().st_mtime_ns == stamp  # cached: not spoken again


def test_a_recording_replaces_the_speech_and_must_have_asterisks_format(tmp_path: Path) -> None:
    tone(tmp_path / "ok.wav", 2)
    tone(tmp_path / "bad.wav", 2, rate=16000)
    text = """\
notices:
  - {id: ghi-am, text: Ghi âm, valid_from: 2026-12-01, valid_until: 2026-12-31, recording: ok.wav}
  - {id: sai, text: Sai, valid_from: 2026-12-01, valid_until: 2026-12-31, recording: bad.wav}
"""
    ready = prepare(parse_notices(text, "n.yaml"), tmp_path, tmp_path / "sounds")
    assert [r.notice.id for r in ready.ready] == ["ghi-am"]
    assert ready.ready[0].key.startswith("notice-rec-")
    assert ready.ready[0].spoken is None
    [problem] = ready.problems
    assert "16000 Hz" in problem
    assert "8000 Hz, mono" in problem


def test_the_include_files_carry_each_notice_with_its_dates_as_epoch(tmp_path: Path) -> None:
    ready = prepare(parse_notices(GOOD, "n.yaml"), tmp_path, tmp_path / "sounds")
    include = render_notices_include(ready)
    tcmr = ready.ready[1]
    assert f"[{contract.CONTEXT_NOTICES}]" in include
    assert "Set(CALLROUTER_NOTICE_COUNT=3)" in include
    assert f"Set(CALLROUTER_NOTICE_CLASS_2={music_class(tcmr.key)})" in include
    start = int(datetime(2026, 12, 1, 7, 0, tzinfo=UTC).timestamp())
    assert f"Set(CALLROUTER_NOTICE_FROM_2={start})" in include
    assert "Set(CALLROUTER_NOTICE_AUDIENCE_3=after_hours)" in include
    after_hours = ready.ready[2]
    assert f"Set(CALLROUTER_NOTICE_SOUND_3={sound_name(after_hours.key)})" in include
    moh = render_moh_include(ready)
    assert f"[{music_class(tcmr.key)}]\nmode = files\ndirectory = moh\n" in moh
    assert f"announcement = {sound_name(tcmr.key)}" in moh


def test_a_bad_file_keeps_the_running_set(tmp_path: Path) -> None:
    path = tmp_path / "notices.yaml"
    path.write_text(GOOD, encoding="utf-8")
    board = NoticeBoard(path, sounds_dir=tmp_path / "sounds", etc_dir=tmp_path)
    assert board.reload()
    assert (tmp_path / contract.NOTICES_INCLUDE_FILENAME).exists()
    assert board.sounds(NOW) == [sound_name(board.ready()[1].key)]
    assert board.sounds(NOW, "after_hours") == [sound_name(board.ready()[2].key)]
    path.write_text(GOOD.replace("audience: after_hours", "audience: nobody"), encoding="utf-8")
    assert not board.reload()
    assert board.sounds(NOW) == [sound_name(board.ready()[1].key)]


def test_a_set_is_in_use_only_once_the_dialplan_includes_carry_it(tmp_path: Path) -> None:
    """ci10: the web showed a notice in use while the include for FastAGI and the fallback
    still held the old set; the includes are written before the set is published, so a
    failed write leaves the old set in use everywhere."""
    path = tmp_path / "notices.yaml"
    path.write_text(GOOD, encoding="utf-8")
    etc = tmp_path / "etc"
    etc.write_text("not a directory", encoding="utf-8")  # the includes cannot be written
    board = NoticeBoard(path, sounds_dir=tmp_path / "sounds", etc_dir=etc)
    with pytest.raises(NotADirectoryError):
        board.reload()
    assert board.ready() == ()


def test_cli_add_writes_only_a_valid_speakable_notice(tmp_path: Path) -> None:
    path = tmp_path / "notices.yaml"
    path.write_text(GOOD, encoding="utf-8")
    runner = CliRunner()
    base = ["notices", "add", "--file", str(path), "--from", "2026-12-01", "--until"]
    bad = runner.invoke(cli, [*base, "2026-11-01", "--id", "moi", "--text", "Tin mới"])
    assert bad.exit_code != 0
    assert "valid_until" in bad.output
    too_long = runner.invoke(
        cli, [*base, "2026-12-31", "--id", "moi", "--text", "Thông báo dài. " * 40]
    )
    assert too_long.exit_code != 0
    assert "quá giới hạn 20 giây" in too_long.output
    assert path.read_text(encoding="utf-8") == GOOD
    ok = runner.invoke(cli, [*base, "2026-12-31", "--id", "moi", "--text", "Tin: mới, 1/1"])
    assert ok.exit_code == 0, ok.output
    assert [n.id for n in parse_notices(path.read_text(encoding="utf-8"), "n").notices][-1] == "moi"
    said = runner.invoke(cli, ["notices", "say", "Thẻ BHYT hết hạn 31/12"])
    assert said.output.strip() == "Thẻ bảo hiểm y tế hết hạn ngày ba mươi mốt tháng mười hai"
