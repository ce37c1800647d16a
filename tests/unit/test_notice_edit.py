"""Changing the notices file one notice at a time (the web page's and ``notices add``'s way):
the lines of that notice only, the loader's validation, the spoken length measured, the
file untouched when refused, every change journaled with its account and time."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from callrouter.notices.board import NoticeBoard
from callrouter.notices.config import parse_notices
from callrouter.notices.edit import (
    NoticeChangeRefused,
    NoticeConflict,
    NoticeDraft,
    NoticesEditor,
    digest,
    journal_path,
    read_journal,
    read_snapshot,
    splice,
    suggest_id,
)
from callrouter.notices.speech import unsayable
from tests.unit.test_notices import tone

NOW = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)
FILE = """\
# Thông báo cho người gọi (the operator's comment stays)
timezone: UTC
max_seconds: 20
notices:
  - id: cu
    text: >-
      Lịch tiêm cũ,
      đã kết thúc.
    valid_from: 2026-11-01 07:00
    valid_until: 2026-11-30 17:00   # hết hạn
  # - id: ghi-am
  #   recording: so-y-te.wav
  - id: tiem-chung
    text: Từ 15/12 tiêm chủng miễn phí.
    valid_from: 2026-12-01 07:00
    valid_until: 2026-12-31 17:00
    audience: waiting
# cuối tệp
"""
NEW = {
    "id": "moi",
    "text": "Xin mang theo thẻ BHYT.",
    "valid_from": "2026-12-01 07:00",
    "valid_until": "2026-12-20 17:00",
    "audience": "after_hours",
}


def ids(text: str) -> list[str]:
    return [n.id for n in parse_notices(text, "n.yaml").notices]


def test_splice_adds_after_the_last_notice_and_keeps_every_other_line() -> None:
    out = splice(FILE, None, NEW)
    assert ids(out) == ["cu", "tiem-chung", "moi"]
    assert out.startswith(FILE.removesuffix("# cuối tệp\n"))
    assert out.endswith("    audience: after_hours\n# cuối tệp\n")


def test_splice_replaces_only_that_notices_lines() -> None:
    out = splice(FILE, "cu", {**NEW, "id": "cu"})
    assert ids(out) == ["cu", "tiem-chung"]
    assert parse_notices(out, "n").notices[0].text == NEW["text"]
    assert "Lịch tiêm cũ" not in out
    for kept in ("# Thông báo cho người gọi", "  # - id: ghi-am", "# cuối tệp", "max_seconds: 20"):
        assert kept in out


def test_splice_removes_a_notice_and_the_last_one_leaves_an_empty_list() -> None:
    out = splice(FILE, "tiem-chung", None)
    assert ids(out) == ["cu"]
    assert "# cuối tệp" in out
    assert ids(splice(out, "cu", None)) == []


@pytest.mark.parametrize(
    "text",
    [
        "",
        "timezone: UTC\n",
        "notices:\n",
        "notices: []\n",
        "notices:   # none yet\n",
        "notices: [{id: a, text: A, valid_from: 2026-12-01, valid_until: 2026-12-02}]\n",
        "notices:\n-\n  id: a\n  text: A\n  valid_from: 2026-12-01\n  valid_until: 2026-12-02\n",
    ],
)
def test_splice_adds_to_any_layout_the_loader_reads(text: str) -> None:
    before = ids(text) if text.strip() else []
    assert ids(splice(text, None, NEW)) == [*before, "moi"]


def test_splice_of_an_unknown_notice_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        splice(FILE, "khong-co", NEW)


@pytest.mark.parametrize(
    ("text", "taken", "expected"),
    [
        (
            "Tiêm chủng mở rộng tháng 12 cho trẻ em dưới 5 tuổi",
            set(),
            "tiem-chung-mo-rong-thang-12",
        ),
        ("Đường dây nóng", {"duong-day-nong"}, "duong-day-nong-2"),
        ("!!!", set(), "thong-bao"),
    ],
)
def test_suggested_ids_drop_diacritics_and_stay_unique(
    text: str, taken: set[str], expected: str
) -> None:
    assert suggest_id(text, taken) == expected


@pytest.mark.parametrize(
    ("spoken", "strange"),
    [
        ("Xin chào, đường Lê Lợi: ngày mười lăm (tiêm) — “miễn phí”…", []),
        ("Gọi số một một năm 🚑", ["🚑"]),
        ("Bệnh viện 医院", ["医", "院"]),
        ("Liên hệ ttyt@huyen.gov.vn #1", ["@", "#"]),
        ("Привет", ["П", "р", "и", "в", "е", "т"]),
    ],
)
def test_unsayable_lists_what_the_vietnamese_voice_cannot_read(
    spoken: str, strange: list[str]
) -> None:
    assert unsayable(spoken) == strange


@pytest.fixture
def editor(tmp_path: Path) -> NoticesEditor:
    path = tmp_path / "notices.yaml"
    path.write_text(FILE, encoding="utf-8")
    return NoticesEditor(path, sounds_dir=tmp_path / "sounds")


def draft(**changes: str) -> NoticeDraft:
    return NoticeDraft(**{**NEW, **changes})


def test_an_added_notice_is_measured_written_journaled_and_its_sound_ready_for_serve(
    editor: NoticesEditor, tmp_path: Path
) -> None:
    expected = digest(FILE)
    saved = editor.save("add", draft(), expected=expected, account="admin", now=NOW)
    assert saved.checked.ready is not None
    assert 0.5 < saved.checked.ready.seconds < 20
    text = editor.path.read_text(encoding="utf-8")
    assert ids(text) == ["cu", "tiem-chung", "moi"]
    assert (tmp_path / "sounds/vi/callrouter/notices" / f"{saved.checked.ready.key}.wav").exists()
    [change] = read_journal(editor.path)
    assert (change.at, change.account, change.action, change.notice_id) == (
        NOW,
        "admin",
        "add",
        "moi",
    )
    assert change.before is None
    assert change.after is not None
    assert change.after["text"] == NEW["text"]
    assert change.digest == digest(text)
    # serve's board takes the new file as its running set, without speaking it again
    board = NoticeBoard(editor.path, sounds_dir=tmp_path / "sounds")
    assert board.reload()
    assert "moi" in [r.notice.id for r in board.ready()]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"valid_until": "2026-11-01 07:00"}, "phải sau valid_from"),
        ({"valid_from": "15/12/2026"}, "valid_from"),
        ({"audience": "moi_nguoi"}, "audience"),
        ({"id": "có dấu"}, "mã thông báo chỉ gồm"),
        ({"id": "cu"}, "mã 'cu' đã có"),
        ({"text": "   "}, "không được để trống"),
        ({"text": "Thông báo dài. " * 40}, "quá giới hạn 20 giây"),
    ],
)
def test_a_refused_change_leaves_the_file_and_the_journal_as_they_were(
    editor: NoticesEditor, changes: dict[str, str], message: str
) -> None:
    with pytest.raises(NoticeChangeRefused) as refused:
        editor.save("add", draft(**changes), expected=digest(FILE), account="admin", now=NOW)
    assert message in str(refused.value)
    assert editor.path.read_text(encoding="utf-8") == FILE
    assert not journal_path(editor.path).exists()


def test_a_notice_too_long_once_spoken_is_refused_with_its_measured_length(
    editor: NoticesEditor,
) -> None:
    with pytest.raises(NoticeChangeRefused) as refused:
        editor.save("add", draft(text="Thông báo dài. " * 40), expected=None, account="a", now=NOW)
    [problem] = refused.value.problems
    seconds = float(problem.split("dài ", 1)[1].split(" giây")[0])
    assert seconds > 20


def test_text_the_voice_cannot_say_is_saved_with_a_warning_and_not_played(
    editor: NoticesEditor, tmp_path: Path
) -> None:
    saved = editor.save(
        "add", draft(text="Cấp cứu gọi 115 🚑"), expected=None, account="admin", now=NOW
    )
    assert saved.checked.ready is None
    [warning] = saved.checked.warnings
    assert "🚑" in warning
    assert "ambulance" in warning
    assert "KHÔNG phát" in warning
    board = NoticeBoard(editor.path, sounds_dir=tmp_path / "sounds")
    assert board.reload()
    assert "moi" not in [r.notice.id for r in board.ready()]
    assert any("moi" in p and "🚑" in p for p in board.current_set.problems)  # type: ignore[union-attr]


def test_a_change_built_from_an_older_file_is_a_conflict(editor: NoticesEditor) -> None:
    editor.path.write_text(FILE.replace("miễn phí", "cho trẻ em"), encoding="utf-8")
    with pytest.raises(NoticeConflict):
        editor.save("add", draft(), expected=digest(FILE), account="admin", now=NOW)


def test_an_edit_keeps_the_notices_recording_and_a_removal_is_journaled(
    editor: NoticesEditor, tmp_path: Path
) -> None:
    text = FILE.replace("    audience: waiting\n", "    audience: waiting\n    recording: r.wav\n")
    editor.path.write_text(text, encoding="utf-8")
    tone(tmp_path / "r.wav", 2.0)  # a real 8 kHz mono WAV
    edit = NoticeDraft("tiem-chung", "Văn bản mới", "2026-12-01 07:00", "2026-12-31 17:00", "all")
    editor.save("edit", edit, expected=digest(text), account="admin", now=NOW)
    snap = read_snapshot(editor.path)
    assert snap.file is not None
    [changed] = [n for n in snap.file.notices if n.id == "tiem-chung"]
    assert (changed.recording, changed.audience.value) == ("r.wav", "all")
    editor.save("remove", None, notice_id="cu", expected=snap.digest, account="lan", now=NOW)
    assert ids(editor.path.read_text(encoding="utf-8")) == ["tiem-chung"]
    removal, edited = read_journal(editor.path)
    assert (removal.action, removal.account, removal.after) == ("remove", "lan", None)
    assert removal.before is not None
    assert "Lịch tiêm cũ" in removal.before["text"]
    assert (edited.action, edited.before and edited.before["text"]) == (
        "edit",
        "Từ 15/12 tiêm chủng miễn phí.",
    )


def test_a_file_with_an_error_is_not_edited(editor: NoticesEditor) -> None:
    bad = FILE.replace("timezone: UTC", "timezone: Sao/Hoa")
    editor.path.write_text(bad, encoding="utf-8")
    with pytest.raises(NoticeChangeRefused) as refused:
        editor.save("add", draft(), expected=digest(bad), account="admin", now=NOW)
    assert "múi giờ không tồn tại" in str(refused.value)
    assert editor.path.read_text(encoding="utf-8") == bad


def test_the_journal_skips_lines_it_cannot_read(editor: NoticesEditor) -> None:
    editor.save("add", draft(), expected=None, account="admin", now=NOW)
    with journal_path(editor.path).open("a", encoding="utf-8") as f:
        f.write("not json\n")
    assert [c.notice_id for c in read_journal(editor.path)] == ["moi"]


def test_the_shipped_example_takes_a_notice_from_the_web_and_keeps_its_comments(
    tmp_path: Path,
) -> None:
    example = Path(__file__).resolve().parents[2] / "config" / "notices.example.yaml"
    text = example.read_text(encoding="utf-8")
    editor = NoticesEditor(tmp_path / "notices.yaml")
    editor.path.write_text(text, encoding="utf-8")
    editor.save("add", draft(), expected=digest(text), account="admin", now=NOW)
    out = editor.path.read_text(encoding="utf-8")
    assert ids(out) == ["tiem-chung-thang-12", "moi"]
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert comments == [line for line in out.splitlines() if line.lstrip().startswith("#")]
