"""``callrouter cases`` on SQLite and PostgreSQL: open, update, list with filters, show, export."""

from __future__ import annotations

import asyncio
import csv
import io
import json

import pytest
from click.testing import CliRunner, Result

from callrouter.cli import cli
from callrouter.store.db import make_engine
from callrouter.store.migrate import upgrade

pytestmark = pytest.mark.integration


@pytest.fixture
def url(store_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CALLROUTER_CASES_PATH", "config/cases.example.yaml")
    monkeypatch.setenv("CALLROUTER_ROTA_PATH", "config/rota.example.yaml")

    async def migrate() -> None:
        engine = make_engine(store_url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(migrate())
    return store_url


def _run(url: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["cases", *args, "--database-url", url])


def test_open_forward_resolve_tell_then_list_show_and_export(url: str) -> None:
    opened = _run(
        url, "open", "--kind", "kien_nghi", "--topic", "bao_hiem_y_te",
        "--summary", "Đề nghị cấp lại thẻ BHYT", "--by", "an",
    )  # fmt: skip
    assert opened.exit_code == 0, opened.output
    assert "Đã mở hồ sơ số 1/" in opened.output
    ref = opened.output.split("số ")[1].split(",")[0]
    other = _run(url, "open", "--kind", "hoi_dap", "--status", "answered", "--by", "an")
    assert other.exit_code == 0, other.output

    for step in (
        ["--status", "forwarded", "--agency", "bhxh"],
        ["--status", "resolved", "--result", "Đã cấp lại thẻ"],
        ["--status", "told"],
    ):
        done = _run(url, "update", ref, *step, "--by", "admin")
        assert done.exit_code == 0, done.output

    out = _run(url, "list", "--kind", "kien_nghi", "--json")
    assert out.exit_code == 0, (out.output, out.exception)
    listed = json.loads(out.output)
    assert [(r["ref"], r["status"], r["agency"], r["told_by"]) for r in listed] == [
        (ref, "told", "bhxh", "admin")
    ]
    table = _run(url, "list", "--status", "Đã trả lời").output
    assert "Hỏi đáp" in table
    assert "Kiến nghị" not in table

    shown = json.loads(_run(url, "show", ref, "--json").output)[0]
    assert [(h["from"], h["to"]) for h in shown["history"]] == [
        (None, "in_progress"),
        ("in_progress", "forwarded"),
        ("forwarded", "resolved"),
        ("resolved", "told"),
    ]
    exported = list(csv.DictReader(io.StringIO(_run(url, "export").output)))
    assert {r["ref"] for r in exported} == {ref, "2/" + ref.split("/")[1]}
    assert {r["summary"] for r in exported} == {"Đề nghị cấp lại thẻ BHYT", ""}


def test_bad_input_is_refused_with_a_clear_message(url: str) -> None:
    ref = _run(url, "open", "--kind", "phan_anh", "--by", "an").output.split("số ")[1]
    ref = ref.split(",")[0]
    cases = [
        (["open", "--kind", "to_cao", "--by", "an"], "loại 'to_cao' không có"),
        (["open", "--kind", "phan_anh", "--topic", "thue", "--by", "an"], "lĩnh vực 'thue'"),
        (["update", ref, "--status", "told", "--by", "an"], "không thể chuyển"),
        (["update", ref, "--status", "forwarded", "--agency", "x", "--by", "an"], "cơ quan 'x'"),
        (["update", ref, "--summary", "y" * 2001, "--by", "an"], "tối đa 2000 ký tự"),
        (
            ["update", ref, "--summary", "z", "--expect-version", "7", "--by", "an"],
            "đã bị thay đổi trong lúc bạn sửa",
        ),
        (["show", "999/2026"], "không có hồ sơ"),
    ]
    for args, message in cases:
        result = _run(url, *args)
        assert result.exit_code != 0, args
        assert message in result.output, (args, result.output)
