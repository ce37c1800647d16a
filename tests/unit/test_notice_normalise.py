"""Notice text read aloud: numbers, dates, times and abbreviations spelled out (tables)."""

from __future__ import annotations

import pytest

from callrouter.notices.normalise import Normaliser, digit_words, number_words


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "không"),
        (4, "bốn"),
        (10, "mười"),
        (11, "mười một"),
        (14, "mười bốn"),
        (15, "mười lăm"),
        (20, "hai mươi"),
        (21, "hai mươi mốt"),
        (24, "hai mươi tư"),
        (25, "hai mươi lăm"),
        (100, "một trăm"),
        (101, "một trăm linh một"),
        (105, "một trăm linh năm"),
        (115, "một trăm mười lăm"),
        (1000, "một nghìn"),
        (1005, "một nghìn không trăm linh năm"),
        (1022, "một nghìn không trăm hai mươi hai"),
        (2026, "hai nghìn không trăm hai mươi sáu"),
        (21000, "hai mươi mốt nghìn"),
        (1_500_000, "một triệu năm trăm nghìn"),
        (2_000_000_005, "hai tỷ không trăm linh năm"),
    ],
)
def test_numbers_are_read_in_vietnamese_words(n: int, words: str) -> None:
    assert number_words(n) == words


def test_numbers_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match="out of range"):
        number_words(10**12)
    assert digit_words("0243") == "không hai bốn ba"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("15/12", "ngày mười lăm tháng mười hai"),
        ("ngày 15/12", "ngày mười lăm tháng mười hai"),
        ("Ngày 1/4/2026", "Ngày mùng một tháng tư năm hai nghìn không trăm hai mươi sáu"),
        ("từ 01-06 đến 30.06", "từ ngày mùng một tháng sáu đến ngày ba mươi tháng sáu"),
        ("32/13 không phải ngày", "ba mươi hai/mười ba không phải ngày"),
        ("7h30", "bảy giờ ba mươi phút"),
        ("từ 7h đến 17h", "từ bảy giờ đến mười bảy giờ"),
        ("lúc 8:05", "lúc tám giờ năm phút"),
        ("đạt 95%", "đạt chín mươi lăm phần trăm"),
        ("tăng 2,5%", "tăng hai phẩy năm phần trăm"),
        ("1.500 liều", "một nghìn năm trăm liều"),
        ("1500 liều", "một nghìn năm trăm liều"),
        ("gọi 0243123456", "gọi không hai bốn ba một hai ba bốn năm sáu"),
        ("mã 1234567890123", "mã một hai ba bốn năm sáu bảy tám chín không một hai ba"),
    ],
)
def test_dates_times_and_numbers_are_spelled_out(text: str, said: str) -> None:
    assert Normaliser()(text) == said


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("Thẻ BHYT", "Thẻ bảo hiểm y tế"),
        ("TTYT huyện", "Trung tâm Y tế huyện"),
        ("theo SYT", "theo Sở Y tế"),
        ("TP. Hồ Chí Minh", "thành phố Hồ Chí Minh"),
        ("TP Huế", "thành phố Huế"),
        ("UBND xã", "Ủy ban nhân dân xã"),
        ("BHYTX", "BHYTX"),  # not a whole word of the table
        ("bhyt", "bhyt"),  # the table's case as written
        ("Công văn 123/SYT", "Công văn một trăm hai mươi ba/Sở Y tế"),
        ("dịch COVID-19", "dịch cô vít mười chín"),
    ],
)
def test_abbreviations_of_the_table_are_said_in_full(text: str, said: str) -> None:
    assert Normaliser()(text) == said


def test_a_notices_file_table_adds_and_overrides_abbreviations() -> None:
    say = Normaliser({"TCMR": "tiêm chủng mở rộng", "BV": "Bệnh viện"})
    assert say("Lịch TCMR tại BV huyện") == "Lịch tiêm chủng mở rộng tại Bệnh viện huyện"


def test_lines_and_runs_of_spaces_become_one_line() -> None:
    assert Normaliser()("Kính gửi\n  người dân ") == "Kính gửi người dân"
