"""Fuzz suites (hypothesis) over what Asterisk, a peer unit or a file can hand callrouter: ARI
event JSON, CDR lines, rota YAML, report JSON for merge. Each input is either taken (and then
within its bounds) or refused with callrouter's own error naming what is wrong — never an
unhandled exception, never a hang. The FastAGI suite, over real TCP, is in
tests/integration/test_fuzz_agi.py.

``--hypothesis-profile=deep`` runs 10,000 examples per suite (tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import assume, example, given
from hypothesis import strategies as st

from callrouter.asterisk import contract
from callrouter.asterisk.ari import Event
from callrouter.asterisk.cdr_import import fold
from callrouter.asterisk.cdr_lines import EARLIEST, LATEST, CdrLine, CdrLineError, parse_line
from callrouter.asterisk.contract import is_linkedid
from callrouter.errors import ReportError, RotaError
from callrouter.exports import is_risky
from callrouter.report.figures import UnitInfo
from callrouter.report.merge import load_figures, merge_figures
from callrouter.report.render import render
from callrouter.rota import parse_rota
from callrouter.rota.phones import caller_number, is_caller_number
from tests.unit.test_report_render import figures

pytestmark = [pytest.mark.unit, pytest.mark.fuzz]

ROOT = Path(__file__).resolve().parents[2]

# JSON values of any shape, with the odd characters hostile input carries.
hostile_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["=HYPERLINK(1)", "+cmd|x", "0" * 70, "anonymous", "\x00", "../..", "é"]),
    st.text(alphabet="0123456789+-", max_size=30),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    hostile_text,
)
# A value of the wrong shape where any field belongs: a scalar, a short list or object of
# scalars, or (rarely) something nested. Shallow on purpose: cheap to draw, so a suite runs
# 10,000 examples in a minute or two.
shallow = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(hostile_text, scalars, max_size=3),
)
json_values = st.one_of(
    shallow,
    st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(hostile_text, inner, max_size=3)
        ),
        max_leaves=6,
    ),
)


# ----------------------------------------------------------------------------- ARI events

ari_keys = st.sampled_from(
    ["type", "application", "timestamp", "channel", "bridge", "args", "cause", "digit",
     "playback", "recording", "peer"]
)  # fmt: skip
channel_like = st.fixed_dictionaries(
    {},
    optional={
        "id": shallow,
        "name": shallow,
        "state": shallow,
        "caller": st.one_of(shallow, st.fixed_dictionaries({"number": shallow})),
        "connected": st.one_of(shallow, st.fixed_dictionaries({"number": shallow})),
        "dialplan": st.one_of(shallow, st.fixed_dictionaries({"priority": shallow})),
        "channelvars": shallow,
        "channels": shallow,
    },
)
ari_events = st.dictionaries(ari_keys, st.one_of(shallow, channel_like), max_size=6)


@example(data={"channel": {"caller": [1]}})  # each raised in the event loop before
@example(data={"channel": {"connected": True}})
@example(data={"channel": {"dialplan": {"priority": "x"}}})
@example(data={"channel": {"channelvars": [1]}})
@example(data={"args": 5})
@given(data=ari_events)
def test_any_ari_event_json_is_read_without_raising(data: dict[str, Any]) -> None:
    event = Event.from_json(data, received=0.0)
    assert isinstance(event.type, str)
    assert event.cause is None or event.cause >= 0
    if event.channel is not None:
        number = caller_number(event.channel.caller.number)
        assert number is None or is_caller_number(number)
    event.at()  # a garbled timestamp is None, never an exception
    _ = event.channel_id, event.recording


# ----------------------------------------------------------------------------- CDR lines

good_line = {
    "linkedid": "pbx-1.1",
    "uniqueid": "pbx-1.1",
    "src": "0987000001",
    "start": "2026-11-02T08:00:00+0000",
    "end": "2026-11-02T08:00:30+0000",
    "disposition": "ANSWERED",
    "lastapp": "Dial",
    "userfield": "callrouter=fallback;linkedid=pbx-1.1;result=answered;answered_by=0901100001;"
    "dial_at=1793606405",
    contract.CDR_ATTEMPTS_VAR: "|1:0901100001:BRIDGED:16:1793606405:1793606430:1793606406:",
}
cdr_values = st.one_of(
    json_values,
    st.sampled_from(
        ["0001-01-01T00:00:00+0100", "9999-12-31T23:59:59-1400", "2026-11-02T08:00:00",
         "|1:0901:BUSY:17:999999999999:999999999999::", "callrouter=fallback;dial_at=99999999999",
         "callrouter=fallback;answered_by=" + "9" * 40, "x" * 100]
    ),
)  # fmt: skip


def _check_line(cdr: CdrLine) -> None:
    assert is_linkedid(cdr.linkedid)
    assert is_linkedid(cdr.uniqueid)
    assert cdr.src is None or is_caller_number(cdr.src)
    assert EARLIEST <= cdr.start < LATEST
    assert EARLIEST <= cdr.end < LATEST
    for call in fold([cdr]).values():  # what the import then writes cannot raise either
        call.attempts()
        call.bridged_at()
        _ = call.outcome


@given(
    changes=st.dictionaries(st.sampled_from(sorted(good_line)), cdr_values, max_size=4),
    drop=st.sets(st.sampled_from(sorted(good_line)), max_size=2),
)
def test_a_cdr_line_with_hostile_fields_is_read_within_bounds_or_rejected_by_field(
    changes: dict[str, Any], drop: set[str]
) -> None:
    data = {k: v for k, v in {**good_line, **changes}.items() if k not in drop}
    try:
        text = json.dumps(data)
    except ValueError:
        assume(False)
    try:
        cdr = parse_line(text, Path("cdr.json"), 7)
    except CdrLineError as exc:
        refused = exc
    else:
        _check_line(cdr)
        return
    assert (refused.line, str(refused.path)) == (7, "cdr.json")
    assert refused.field
    assert refused.problem


@given(text=st.one_of(st.text(max_size=300), st.binary(max_size=300).map(repr)))
def test_any_text_as_a_cdr_line_is_read_or_rejected(text: str) -> None:
    try:
        cdr = parse_line(text, Path("cdr.json"), 1)
    except CdrLineError:
        return
    _check_line(cdr)


# ----------------------------------------------------------------------------- rota YAML

VALID_ROTA = yaml.safe_load(
    (ROOT / "tests" / "fixtures" / "rota" / "valid.yaml").read_text(encoding="utf-8")
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


ROTA_PATHS = _paths(VALID_ROTA)[1:]


def _replace(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        return {**node, head: _replace(node[head], rest, value)}
    copy = list(node)
    copy[head] = _replace(copy[head], rest, value)
    return copy


Edits = list[tuple[tuple[Any, ...], Any]]


def _edited(doc: Any, edits: Edits) -> Any:
    """``doc`` with each (path, value) of ``edits`` put in (a path an earlier edit removed
    is skipped)."""
    for path, value in edits:
        with contextlib.suppress(KeyError, IndexError, TypeError):
            doc = _replace(doc, path, value)
    return doc


@given(edits=st.lists(st.tuples(st.sampled_from(ROTA_PATHS), json_values), min_size=1, max_size=3))
def test_a_rota_with_hostile_values_loads_or_is_refused_with_every_problem_named(
    edits: Edits,
) -> None:
    text = yaml.safe_dump(_edited(VALID_ROTA, edits), allow_unicode=True)
    try:
        rota = parse_rota(text, "rota.yaml")
    except RotaError as exc:
        refused = exc
    else:
        for officer in rota.officers:
            assert is_caller_number(officer.phone)
        return
    assert "rota.yaml" in str(refused)


@given(text=st.text(max_size=500))
def test_any_text_as_a_rota_loads_or_is_refused(text: str) -> None:
    with contextlib.suppress(RotaError):
        parse_rota(text, "rota.yaml")


# ----------------------------------------------------------------------------- report JSON

REPORT = json.loads(render(figures(), "json"))
REPORT_PATHS = [p for p in _paths(REPORT)[1:] if p[0] not in ("format", "version")]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


ISSUER = UnitInfo(name="SỞ Y TẾ THỬ NGHIỆM", governing_body="UBND TỈNH THỬ NGHIỆM")


@given(
    edits=st.lists(st.tuples(st.sampled_from(REPORT_PATHS), json_values), min_size=1, max_size=3)
)
def test_a_peer_report_with_hostile_values_merges_or_is_refused_naming_the_file(
    edits: Edits, tmp_path_factory: pytest.TempPathFactory
) -> None:
    try:
        text = json.dumps(_edited(REPORT, edits), ensure_ascii=False, allow_nan=False)
    except ValueError:
        assume(False)
    path = tmp_path_factory.mktemp("merge") / "peer.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        peer = load_figures(path)
        merged = merge_figures(
            [(Path("mine.json"), figures()), (path, peer)],
            issuer=ISSUER,
            force=True,
            now=datetime(2026, 12, 5, tzinfo=UTC),
        )
    except ReportError as exc:
        refused = exc
    else:
        rows = csv.reader(io.StringIO(render(merged, "csv").decode()))
        # Text a peer sent is quoted, never a formula (numbers, negative ones too, are numbers).
        assert not [c for row in rows for c in row if is_risky(c) and not _is_number(c)]
        return
    assert str(path) in str(refused) or "unit" in str(refused)
