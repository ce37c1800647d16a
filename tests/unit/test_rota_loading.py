"""Loading a rota: every problem names file, line, column and field; never a traceback."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callrouter.errors import RotaError, RotaValidationError
from callrouter.rota import MAX_BYTES, Rota, load_rota, parse_rota

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rota"

BASE = """\
numbers:
  - label: office
    number: "024 3333 4444"
officers:
  - id: an
    name: Nguyễn Văn An
    phone: "0912000101"
    email: an@example.vn
shifts:
  - days: mon-fri
    start: "07:00"
    end: "17:00"
    duty:
      - officer: an
        at: office
"""


def problems(text: str) -> list[str]:
    with pytest.raises(RotaValidationError) as info:
        parse_rota(text, "rota.yaml")
    assert info.value.path == "rota.yaml"
    return info.value.problems


def one_problem(text: str) -> str:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


def test_base_rota_is_valid_and_gets_defaults() -> None:
    rota = parse_rota(BASE, "rota.yaml")
    assert str(rota.timezone) == "Asia/Ho_Chi_Minh"
    assert rota.branch == 3
    assert rota.numbers[0].kind == "landline"
    assert rota.numbers[0].confirm is False
    assert rota.policy.strategy == "sequential"
    assert rota.holidays.default == "closed"
    assert rota.version == hashlib.sha256(BASE.encode()).hexdigest()[:12]


def test_version_of_a_file_is_the_short_sha256_of_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "rota.yaml"
    path.write_text(BASE, encoding="utf-8")
    assert load_rota(path).version == hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def test_example_and_fixture_rotas_are_valid() -> None:
    example = load_rota(FIXTURES.parents[2] / "config" / "rota.example.yaml")
    assert len(example.numbers) == 2
    assert all(o.name and o.phone and o.email for o in example.officers)
    assert isinstance(load_rota(FIXTURES / "valid.yaml"), Rota)


@pytest.mark.parametrize(
    ("old", "new", "where", "words"),
    [
        ('    phone: "0912000101"', '    phone: "0912 00"', "7:12", "officers[0].phone"),
        ("    email: an@example.vn", "    email: an@", "8:12", "officers[0].email (e-mail"),
        ('    start: "07:00"', '    start: "7h6"', "11:12", "shifts[0].start (giờ bắt đầu"),
        ('    end: "17:00"', '    end: "07:00"', "12:10", "trùng giờ bắt đầu"),
        ('    end: "17:00"', '    end: "25:00"', "12:10", "không tồn tại"),
        ('    end: "17:00"', "    end: 17:00", "12:10", None),  # unquoted is fine
        ("  - days: mon-fri", "  - days: mon-fry", "10:11", "shifts[0].days"),
        ("      - officer: an", "      - officer: anh", "14:18", "không có cán bộ nào mã 'anh'"),
        ("        at: office", "        at: ofice", "15:13", "có phải 'office'?"),
        ("  - id: an", "  - id: An Nguyen", "5:9", "officers[0].id (mã cán bộ)"),
        ("    name: Nguyễn Văn An", '    name: "  "', "6:11", "không được để trống"),
        ('    number: "024 3333 4444"', '    number: "1900 1234"', "3:13", "số điện thoại đăng ký"),
        ("  - label: office", "  - label: văn phòng", "2:12", "nhãn chỉ gồm"),
        ("  - label: office", "  - label: own", "2:12", "từ dành riêng"),
    ],
)
def test_single_mistake_is_reported_at_its_line_and_column(
    old: str, new: str, where: str, words: str | None
) -> None:
    assert old in BASE
    text = BASE.replace(old, new)
    if words is None:
        assert parse_rota(text, "rota.yaml").shifts[0].end == 17 * 60
        return
    problem = problems(text)[0]  # a bad id or label also leaves its references dangling
    assert problem.startswith(f"rota.yaml:{where}: "), problem
    assert words in problem


@pytest.mark.parametrize(
    ("extra", "where", "words"),
    [
        ("timezone: Asia/Saigon_X\n", "17:11", "múi giờ không tồn tại"),
        ("branch: ba\n", "17:9", "cần một số nguyên"),
        ("policy:\n  strategy: round-robin\n", "18:13", "sequential"),
        ("policy:\n  rounds: 0\n", "18:11", "lớn hơn hoặc bằng 1"),
        ("policy:\n  ring_timeout: 30\n  max_wait: 20\n", "19:13", "ngắn hơn một lượt"),
        ("policy:\n  after_hours_action: voicemail\n", "18:23", "forward:<số điện thoại>"),
        ("policy:\n  nobody_answered_action: forward:113\n", "18:27", "không phải số điện thoại"),
        ("policy:\n  confirm_own_phone: maybe\n", "18:22", "true hoặc false"),
        ("polcy:\n  rounds: 2\n", "17:1", "không có trong mẫu rota"),
        ("version: abc\n", "17:1", "tự động"),
        ("holidays:\n  default: sometimes\n", "18:12", "like:<ngày>"),
        ("holidays:\n  default: like:holiday\n", "18:12", "shifts"),
        ("holidays:\n  default: shifts\n", "18:12", "ít nhất một ca"),
        (
            "holidays:\n  rules:\n    - match: Halloween\n      staffing: closed\n",
            "19:14",
            "Halloween",
        ),
        ("holidays:\n  rules:\n    - staffing: closed\n", "19:7", "'match'"),
        (
            "holidays:\n  rules:\n    - {date: 2026-03-03, staffing: closed}\n",
            "19:14",
            "không phải ngày lễ Việt Nam",
        ),
        ("holidays:\n  closed_dates: [2026-02-30]\n", "18:18", "không phải ngày hợp lệ"),
        ("holidays:\n  closed_dates: [1999-01-01]\n", "18:18", "2000–2100"),
        (
            "holidays:\n  closed_dates: [2026-06-01]\n"
            "  make_up_days: [{date: 2026-06-01, like: mon}]\n",
            "19:18",
            "đã có trong closed_dates[0]",
        ),
        ("holidays:\n  make_up_days: [{date: 2026-06-06, like: holiday}]\n", "18:43", "mon…sun"),
        ("unit: [a, b]\n", "17:7", "cần một đoạn chữ"),
        ("shifts: {a: 1}\n", "17:9", "cần một danh sách"),
    ],
)
def test_top_level_mistakes_are_reported_with_position(extra: str, where: str, words: str) -> None:
    if extra.startswith("shifts:"):
        text = BASE.split("shifts:", maxsplit=1)[0] + "\n" + extra
        where = "10:9"
    else:
        text = BASE + "\n" + extra
    found = problems(text)
    assert any(p.startswith(f"rota.yaml:{where}: ") and words in p for p in found), found


OVERRIDE = """
overrides:
  - {spec}
    reason: đổi ca
    duty: [{{officer: an}}]
"""


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ('from: "2026-03-10 12:00"\n    to: "2026-03-10 12:00"', "phải sau"),
        ('from: "2026-03-10 12:00"\n    to: "2026-03-10 11:00"', "phải sau"),
        ('from: "2026-03-10 12:00"\n    to: "2028-03-10"', "dài hơn 366 ngày"),
        ('from: "2026-03-10 12:00"', "cần 'date'"),
        ("date: 2026-03-10\n    from: 2026-03-10", "không ghi cả hai"),
        ('from: "2026-03-10 24:00"\n    to: "2026-03-11"', "00:00 của ngày hôm sau"),
        ('from: "10/03/2026"\n    to: "2026-03-11"', "YYYY-MM-DD HH:MM"),
        ("date: 2026-03-10 08:00", "không kèm giờ"),
    ],
)
def test_override_range_mistakes_are_errors(spec: str, words: str) -> None:
    found = problems(BASE + OVERRIDE.format(spec=spec))
    assert any(words in p and "overrides[0]" in p for p in found), found


def test_override_needs_exactly_one_of_duty_closed_swap() -> None:
    head = BASE + "overrides:\n  - {date: 2026-03-10, reason: x"
    for body in (
        "}\n",
        ", closed: true, duty: [{officer: an}]}\n",
        ", swap: [{officer: an, by: an}], closed: true}\n",
    ):
        assert "ghi đúng một trong ba" in one_problem(head + body)


def test_swap_names_known_officers() -> None:
    text = BASE + "overrides:\n  - {date: 2026-03-10, reason: x, swap: [{officer: an, by: bnh}]}\n"
    problem = one_problem(text)
    assert problem.startswith("rota.yaml:17:60: overrides[0].swap[0].by (người trực thay): ")
    assert "không có cán bộ nào mã 'bnh'" in problem


def test_override_to_a_date_means_through_that_day() -> None:
    rota = parse_rota(
        BASE + OVERRIDE.format(spec='from: "2026-03-10 12:00"\n    to: 2026-03-11'), "r"
    )
    assert (rota.overrides[0].start.isoformat(), rota.overrides[0].end.isoformat()) == (
        "2026-03-10T12:00:00",
        "2026-03-12T00:00:00",
    )


def test_kind_contradicting_the_number_is_an_error() -> None:
    text = BASE.replace('"024 3333 4444"', '"024 3333 4444"\n    kind: mobile')
    assert "là số cố định (landline), không phải mobile" in one_problem(text)


def test_registered_number_defaults_confirm_on_for_mobiles_and_allows_turning_it_off() -> None:
    text = BASE.replace(
        "officers:",
        '  - {label: m1, number: "0987 000 111"}\n'
        '  - {label: m2, number: "0987 000 222", confirm: no}\nofficers:',
    )
    rota = parse_rota(text, "r")
    assert [(n.label, n.kind, n.confirm) for n in rota.numbers] == [
        ("office", "landline", False),
        ("m1", "mobile", True),
        ("m2", "mobile", False),
    ]


def test_duplicates_are_reported_at_the_second_occurrence() -> None:
    text = BASE.replace(
        "shifts:",
        "  - id: an\n    name: Khác\n    phone: '0912000102'\n    email: k@example.vn\nshifts:",
    ).replace(
        "officers:",
        '  - label: office\n    number: "+84 24 3333 4444"\nofficers:',
    )
    found = problems(text)
    assert any("numbers[1].label" in p and "bị trùng" in p and ":4:12:" in p for p in found), found
    assert any("numbers[1].number" in p and "đã đăng ký" in p for p in found), found
    assert any("officers[1].id" in p and "đã dùng" in p and ":11:9:" in p for p in found), found


def test_duplicate_yaml_keys_are_an_error() -> None:
    text = BASE.replace(
        "    email: an@example.vn", "    email: an@example.vn\n    email: b@example.vn"
    )
    problem = one_problem(text)
    assert problem.startswith("rota.yaml:9:5: ")
    assert "bị lặp lại (đã có ở dòng 8)" in problem


def test_several_problems_are_reported_at_once_sorted_by_line() -> None:
    found = load_problems(FIXTURES / "invalid_many.yaml")
    assert len(found) >= 20
    lines = [int(p.split(":")[1]) for p in found]
    assert lines == sorted(lines)
    joined = "\n".join(found)
    for expected in (
        ":1:11: timezone (múi giờ)",
        ":13:12: officers[0].email",
        ":24:20: shifts[0].duty[0].officer",
        ":35:9: overrides[1].to",
        ":44:13: policy.strategy",
        ":48:3: policy.policy: khóa 'policy' bị lặp lại",
    ):
        assert expected in joined


def load_problems(path: Path) -> list[str]:
    with pytest.raises(RotaValidationError) as info:
        load_rota(path)
    assert str(path) in str(info.value)
    return info.value.problems


@pytest.mark.parametrize(
    ("content", "where", "words"),
    [
        (b"", "1:1", "trống"),
        (b"   \n\n", "1:1", "trống"),
        (b"# only a comment\n", "1:1", "trống"),
        (b"- a\n- b\n", "1:1", "khóa: giá trị"),
        (b"just text\n", "1:1", "khóa: giá trị"),
        (b"numbers: [\n", "2:1", "lỗi cú pháp YAML"),
        (b"a: 1\n  b: 2\n", "2:4", "lỗi cú pháp YAML"),
        (b"a: *nowhere\n", "1:4", "lỗi cú pháp YAML"),
        (b"a: 1\n---\nb: 2\n", "2:1", "lỗi cú pháp YAML"),
        (b"a:\t1\n\tb: 2\n", "1:3", "lỗi cú pháp YAML"),
        (b"a: \x07\n", "1:4", "ký tự không được phép"),
        (b"[1, 2]: x\n", "1:1", "khóa phải là một chữ"),
        (b"officers: caf\xe9\n", "1:14", "không phải UTF-8"),
        (b"\xff\xfe\x00n\x00u", "1:1", "không phải UTF-8"),
        (b"[" * 5000 + b"]" * 5000, "1:1", "lồng nhau quá sâu"),
    ],
)
def test_unreadable_files_give_one_clear_error(
    tmp_path: Path, content: bytes, where: str, words: str
) -> None:
    path = tmp_path / "rota.yaml"
    path.write_bytes(content)
    found = load_problems(path)
    assert found[0].startswith(f"{path}:{where}: ") or found[0].startswith(f"{path}: "), found
    assert any(words in p for p in found), found


def test_a_huge_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "rota.yaml"
    path.write_bytes(b"# padding\n" * (MAX_BYTES // 10 + 1))
    (problem,) = load_problems(path)
    assert "quá lớn" in problem
    with pytest.raises(RotaValidationError, match="quá lớn"):
        parse_rota("#" * (MAX_BYTES + 1), "big")


def test_alias_bombs_are_refused() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 9):
        bomb += f"{chr(97 + i)}: &{chr(97 + i)} [" + ", ".join([f"*{chr(96 + i)}"] * 10) + "]\n"
    assert "quá phức tạp" in one_problem(bomb)


def test_missing_file_is_a_rota_error(tmp_path: Path) -> None:
    with pytest.raises(RotaError, match="không đọc được tệp"):
        load_rota(tmp_path / "nope.yaml")


def test_byte_order_mark_and_anchors_and_merge_keys_are_accepted() -> None:
    text = "\ufeff" + BASE.replace(
        "      - officer: an\n        at: office",
        "      - &who {officer: an, at: office}\n      - {<<: *who, at: own}",
    )
    rota = parse_rota(text, "r")
    assert [(e.officer, e.at) for e in rota.shifts[0].duty] == [("an", "office"), ("an", "own")]


def test_yaml_never_guesses_types() -> None:
    text = BASE.replace('start: "07:00"', "start: 07:00").replace('end: "17:00"', "end: 17:00")
    text = text.replace("name: Nguyễn Văn An", "name: no")
    rota = parse_rota(text, "r")
    assert (rota.shifts[0].start, rota.shifts[0].end) == (7 * 60, 17 * 60)
    assert rota.officers[0].name == "no"


def test_days_accept_vietnamese_names_ranges_and_lists() -> None:
    for days, expected in [
        ("T2-T6", (0, 1, 2, 3, 4)),
        ("[CN, T7]", (6, 5)),
        ('"mon, wed, fri"', (0, 2, 4)),
        ("fri-mon", (4, 5, 6, 0)),
        ("[thứ hai, Chủ Nhật, holiday]", (0, 6, 7)),
    ]:
        rota = parse_rota(BASE.replace("days: mon-fri", f"days: {days}"), "r")
        assert rota.shifts[0].days == expected
    for bad, words in [
        ("[mon, mon]", "lặp lại"),
        ("[]", "trống"),
        ("mon-holiday", "khoảng"),
        ("{a: b}", "danh sách ngày"),
        ("[[mon]]", "không hiểu ngày"),
    ]:
        found = problems(BASE.replace("days: mon-fri", f"days: {bad}"))
        assert any(words in p and "shifts[0].days" in p for p in found), (bad, found)


def test_model_validation_refuses_dangling_references_without_the_loader() -> None:
    with pytest.raises(ValueError, match="không có cán bộ mã 'ghost'"):
        Rota.model_validate(
            {
                "numbers": [{"label": "office", "number": "02433334444"}],
                "officers": [{"id": "an", "name": "An", "phone": "0912000101", "email": "a@b.vn"}],
                "shifts": [
                    {
                        "days": "mon",
                        "start": "07:00",
                        "end": "08:00",
                        "duty": [{"officer": "ghost"}],
                    }
                ],
            }
        )


def test_items_of_the_wrong_shape_are_reported_once_each() -> None:
    text = BASE.replace("      - officer: an\n        at: office", "      - an") + "policy: 5\n"
    found = problems(text)
    assert len(found) == 2, found
    assert "shifts[0].duty[0]" in found[0]
    assert "ví dụ { officer: an, at: own } (đang ghi: 'an')" in found[0]
    assert found[1].startswith("rota.yaml:15:9: policy (cách đổ chuông): cần các cặp")


def test_a_single_date_where_a_list_is_expected_is_one_error() -> None:
    found = problems(BASE + "holidays:\n  closed_dates: 2026-06-01\n")
    assert len(found) == 1, found
    assert "holidays.closed_dates" in found[0]
    assert "cần một danh sách" in found[0]


VALID_LINES = (FIXTURES / "valid.yaml").read_text(encoding="utf-8").splitlines()


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=300))
def test_any_text_gives_a_rota_or_a_validation_error_never_a_crash(text: str) -> None:
    found = problems_or_none(text, "fuzz.yaml")
    if found is not None:
        assert found
        assert all(p.startswith("fuzz.yaml:") for p in found)


def problems_or_none(text: str, source: str) -> list[str] | None:
    """The problems found, or None when the text is a valid rota (anything else propagates)."""
    try:
        parse_rota(text, source)
    except RotaValidationError as exc:
        return exc.problems
    return None


@settings(max_examples=150, deadline=None)
@given(
    edits=st.lists(
        st.tuples(
            st.integers(0, len(VALID_LINES) - 1),
            st.sampled_from(["drop", "dup", "indent", "dedent", "garble", "insert"]),
            st.text(alphabet="abc:-[]{}, 0123456789\"'#&*!|>", max_size=12),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_edited_rota_gives_a_rota_or_located_errors(edits: list[tuple[int, str, str]]) -> None:
    lines = list(VALID_LINES)
    for position, action, junk in edits:
        index = position % len(lines)
        if action == "drop":
            del lines[index]
        elif action == "dup":
            lines.insert(index, lines[index])
        elif action == "indent":
            lines[index] = "  " + lines[index]
        elif action == "dedent":
            lines[index] = lines[index][2:]
        elif action == "garble":
            lines[index] = lines[index][: len(lines[index]) // 2] + junk
        else:
            lines.insert(index, junk)
        if not lines:
            lines = [""]
    for problem in problems_or_none("\n".join(lines), "edited.yaml") or []:
        _, line, column, _ = problem.split(":", 3)
        assert 1 <= int(line) <= len(lines) + 1
        assert int(column) >= 1


@pytest.mark.parametrize(
    "email_line",
    ["", "    email:\n", '    email: ""\n', "    email: '   '\n", "    email: null\n"],
    ids=["absent", "empty", "blank-string", "spaces", "null"],
)
def test_an_officer_without_an_email_loads_with_none_and_its_line(email_line: str) -> None:
    text = BASE.replace("    email: an@example.vn\n", email_line)
    rota = parse_rota(text, "rota.yaml")
    (officer,) = rota.officers
    assert officer.email is None
    assert rota.without_email() == [officer]
    assert rota.officer_line("an") == 5  # the entry's first line: "  - id: an"


def test_a_malformed_email_is_still_an_error_at_its_line_and_column() -> None:
    with pytest.raises(RotaValidationError) as caught:
        parse_rota(BASE.replace("email: an@example.vn", "email: an.example.vn"), "rota.yaml")
    (problem,) = caught.value.problems
    assert problem.startswith("rota.yaml:8:12: officers[0].email")
    assert "không phải địa chỉ e-mail hợp lệ" in problem


def test_an_officer_with_an_email_is_not_listed_as_without() -> None:
    rota = parse_rota(BASE, "rota.yaml")
    assert rota.without_email() == []
    assert rota.officers[0].email == "an@example.vn"
