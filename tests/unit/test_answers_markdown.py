"""Answer book files: front matter validated like the rota (file:line), UTF-8 only."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from callrouter.answers.fold import fold, highlight, terms
from callrouter.answers.markdown import parse_answer_file, read_book
from callrouter.errors import AnswerFileError

pytestmark = pytest.mark.unit

TOPICS = {"tiem_chung": "Tiêm chủng", "bao_hiem_y_te": "Bảo hiểm y tế"}
GOOD = """---
title: "Lịch tiêm chủng: tháng 11"
topic: tiem_chung
source: Công văn số 123/SYT ngày 01/11/2026
agreed_on: 2026-11-01
valid_until: 2026-12-31
---
Trẻ dưới 1 tuổi tiêm tại trạm y tế xã.
"""


def _write(tmp_path: Path, text: str, name: str = "a.md", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Đường", "duong"),
        ("TIÊM CHỦNG", "tiem chung"),
        ("Ưu tiên người cao tuổi", "uu tien nguoi cao tuoi"),
        ("Ngộ độc", "ngo doc"),
        ("ĐẮK LẮK", "dak lak"),
    ],
)
def test_fold_removes_case_diacritics_and_d_stroke_one_char_for_one(
    text: str, expected: str
) -> None:
    assert fold(text) == expected
    assert len(fold(text)) == len(text)


def test_terms_are_bounded_and_highlight_keeps_the_original_letters() -> None:
    assert terms("Tiêm  CHỦNG tiem; " + "x " * 500) == ["tiem", "chung", "x"]
    assert highlight("Đường đi", ["duong"]) == [("Đường", True), (" đi", False)]


def test_a_good_file_is_read(tmp_path: Path) -> None:
    item = parse_answer_file(_write(tmp_path, GOOD), TOPICS)
    assert item.answer_id is None
    assert item.draft.title == "Lịch tiêm chủng: tháng 11"
    assert item.draft.valid_until == date(2026, 12, 31)
    assert item.draft.body == "Trẻ dưới 1 tuổi tiêm tại trạm y tế xã."


def test_unknown_topic_and_backwards_dates_are_reported_at_their_lines(tmp_path: Path) -> None:
    bad = GOOD.replace("topic: tiem_chung", "topic: xo_so").replace("2026-12-31", "2026-10-01")
    path = _write(tmp_path, bad)
    with pytest.raises(AnswerFileError) as caught:
        parse_answer_file(path, TOPICS)
    problems = caught.value.problems
    assert problems[0].startswith(f"{path}:3:8: topic: lĩnh vực 'xo_so' không có")
    assert any(
        "valid_until: hiệu lực đến 01/10/2026 trước ngày thống nhất 01/11/2026" in p
        for p in problems
    ), problems


def test_another_encoding_is_refused_clearly(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD, encoding="utf-16")  # Notepad's "Unicode"
    with pytest.raises(AnswerFileError) as caught:
        parse_answer_file(path, TOPICS)
    assert "tệp không phải UTF-8" in caught.value.problems[0]
    assert "hãy lưu lại tệp với bảng mã UTF-8" in caught.value.problems[0]


def test_missing_field_and_missing_fence_name_the_file(tmp_path: Path) -> None:
    no_title = _write(tmp_path, GOOD.replace('title: "Lịch tiêm chủng: tháng 11"\n', ""))
    no_fence = _write(tmp_path, GOOD[4:], name="b.md")
    with pytest.raises(AnswerFileError) as caught:
        read_book(tmp_path, TOPICS)
    problems = caught.value.problems
    assert any(p.startswith(f"{no_title}:") and "title" in p for p in problems), problems
    assert f"{no_fence}:1:1: tệp phải bắt đầu bằng dòng '---'" in problems


def test_a_control_character_in_the_body_is_refused_naming_the_file_and_line(
    tmp_path: Path,
) -> None:
    # PostgreSQL refuses NUL in text: the import would fail half-way instead of up front.
    path = _write(tmp_path, GOOD.replace("xã.", "xã.\x00"))
    with pytest.raises(AnswerFileError) as caught:
        parse_answer_file(path, TOPICS)
    assert caught.value.problems == [f"{path}:8:1: body: có ký tự điều khiển U+0000 ở vị trí 39"]


def test_a_version_without_an_id_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("title:", "version: 2\ntitle:"))
    with pytest.raises(AnswerFileError) as caught:
        parse_answer_file(path, TOPICS)
    assert caught.value.problems == [
        f"{path}:2:1: version: chỉ dùng cùng với id (câu trả lời đã có)"
    ]
