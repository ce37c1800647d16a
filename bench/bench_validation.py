"""What issue 16's input validation costs, counted in instructions (callgrind), not timed.

    nice -n 10 .venv/bin/python bench/bench_validation.py [--calls 100] [--paths agi,store,...]
        [--pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/callrouter_bench]

Needs ``valgrind`` (Debian package). Takes ~8 minutes (two callgrind processes per path).

Wall-clock benches on this shared 2-core machine vary by ±20-30 % from run to run
(``bench/bench_trees.py``), so they cannot show whether validation stays within the issue's
5 %. Instructions executed repeat: each figure here is the number of instructions
(callgrind's ``Ir``: user space, every thread of the process; the kernel's share of a socket
or an fsync is not counted) that one stretch of the real code took, divided by the calls or
lines it handled. All in-process (no sandbox, no sockets):

* ``agi``: one FastAGI call, the six requests the dialplan sends for a call whose first
  officer is busy and whose second answers (``route``, ``attempt`` start/end, ``attempt``
  start, ``answered``, ``end``), each through :class:`FastAgiServer`'s real ``handler`` (the
  header block read from a stream, the access check, the script, ``EXEC MSet`` answered
  ``200``), with a secret in the AGI URL and an allow-list set, then ``CallLog.flush()``: the
  call's records in SQLite. Validators: the peer allow-list and the secret
  (``AgiAccess.check_peer``/``script``), the bounded arguments (``AgiCallFlow.args``, with the
  linkedid check), ``_seq``/``_dialstatus``/``_cause``, the caller-number normaliser, the
  linkedid and answered-number checks.
* ``store`` / ``store-pg``: ``bench_store.py``'s call (7 records: started, 2 x attempt
  started/ended, answered, ended) handed to ``CallLog`` and flushed into SQLite / PostgreSQL
  (a schema of its own in ``--pg-url``'s database; the server's work is another process and
  not counted, so the ratio is higher than SQLite's). Validators: every record field check of
  ``store/records.py`` (``text``/``integer``/``choice``/``when``/``cause``...; most predate
  issue 16, which added the cause rule and the late-writer flag).
* ``cdr``: one fallback CDR line (the caller's leg with two attempts and the fallback mark)
  imported by ``import_fallback`` into SQLite. Validators: the line's bounds
  (``cdr_lines._token``/``_when``/``_caller``/``_check_attempts``/``_check_mark``).

Each path runs in its own ``valgrind --tool=callgrind`` process per mode; a warm-up, then the
heap is frozen (``gc.freeze``, see :func:`start_measuring`) and ``--calls`` units measured:

* **on**: the code as it is;
* **off**: the validators listed above replaced by stand-ins doing what the path needs
  without checking (the pre-issue-16 code: the caller number stripped, ``int()`` of a
  number, no access check, the script name the last path segment); the inputs are valid, so
  both modes store the same rows.

``(on - off) / off`` is what validation adds to the path. Two cross-checks, in the ``on``
process: the validator calls one unit made (recorded during the warm-up) replayed alone,
``--calls`` times, each validator and then its stand-in with the same arguments: **checks** =
the sum of (validator - stand-in), which should match on - off; **alone** = the validators'
whole cost (the parsing some wrap included, ``_when``'s ``strptime``): an upper bound.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_store import DEFAULT_PG, fresh_pg, write_call  # noqa: E402
from callrouter import logs  # noqa: E402
from callrouter.asterisk import cdr_lines, fastagi  # noqa: E402
from callrouter.asterisk.agi_access import AgiAccess  # noqa: E402
from callrouter.asterisk.cdr_import import import_fallback  # noqa: E402
from callrouter.asterisk.fastagi import AgiCallFlow  # noqa: E402
from callrouter.asterisk.fastagi_server import FastAgiServer  # noqa: E402
from callrouter.rota import load_rota  # noqa: E402
from callrouter.routing import CallInfo, Decision, decide  # noqa: E402
from callrouter.store import records as r  # noqa: E402
from callrouter.store.db import make_engine  # noqa: E402
from callrouter.store.writer import CallLog  # noqa: E402
from tests.e2e.callflow_support import write_rota  # noqa: E402
from tests.integration.test_fastagi_cdr_import import cdr  # noqa: E402
from tests.integration.test_fastagi_server import headers  # noqa: E402

#: the C function behind ``os.getloadavg()``, which nothing else in these runs calls:
#: callgrind dumps its counters before each call (``--dump-before``), so the dumps split the
#: run into its stretches (startup and warm-up, the path, the validators alone)
MARKER = "os_getloadavg*"
PATHS = ("agi", "store", "store-pg", "cdr")
UNITS = {
    "agi": "call (6 AGI requests)",
    "store": "call (7 records)",
    "store-pg": "call (7 records)",
    "cdr": "CDR line",
}
PG_ROLE = "callrouter_bench_validation"
SECRET = "bench-secret-0123456789abcdef"  # noqa: S105  # a bench, not a credential
NUMBERS = ["0901100001", "0902100002"]

Validators = list[tuple[Any, str, Callable[..., Any]]]
"""(owner, attribute, what stands in for it when validation is off)."""
Replay = list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]]


def mark() -> None:
    os.getloadavg()


def start_measuring() -> None:
    """Freeze what startup and the warm-up left on the heap, then mark. The cyclic garbage
    collector's full passes walk every object the process holds (imported modules included:
    ~5 M instructions per AGI call here), a cost that depends on what else the process
    imported, not on the path; frozen, it does not pad the denominator, so the ratios are
    upper bounds."""
    gc.collect()
    gc.freeze()
    mark()


# ------------------------------------------------------------------------ validators


def agi_validators() -> Validators:
    def args(request: Any) -> list[str]:  # the pre-issue-16 collection: no bounds
        given: dict[str, str] = request.headers
        out: list[str] = []
        n = 1
        while f"agi_arg_{n}" in given:
            out.append(given[f"agi_arg_{n}"].strip())
            n += 1
        return out

    def script(self: AgiAccess, network_script: str) -> str:
        return network_script.strip().strip("/").rpartition("/")[2]

    return [
        (AgiAccess, "check_peer", lambda self, host: None),
        (AgiAccess, "script", script),
        (fastagi.AgiCallFlow, "args", staticmethod(args)),
        (fastagi, "_seq", lambda raw, script: int(raw)),
        (fastagi, "_dialstatus", lambda raw: raw),
        (fastagi, "_cause", lambda raw: int(raw) if raw else None),
        (fastagi, "caller_number", lambda raw: (raw or "").strip() or None),
        (fastagi, "is_linkedid", lambda text: True),
        (fastagi, "is_caller_number", lambda text: True),
    ]


def store_validators() -> Validators:
    def same(kind: str, name: str, value: Any, *_: Any, **__: Any) -> Any:
        return value

    return [
        (r, "text", same),
        (r, "integer", same),
        (r, "choice", same),
        (r, "when", same),
        (r, "when_optional", same),
        (r, "not_before", lambda *_: None),
        (r, "cause", lambda kind, name, value: None if value == 0 else value),
        (r, "json_object", same),
    ]


def cdr_validators() -> Validators:
    def when(path: Path, line: int, name: str, raw: str) -> datetime:
        return datetime.strptime(raw, "%Y-%m-%dT%H:%M:%S%z").astimezone(UTC)

    def token(path: Path, line: int, name: str, raw: Any, *, required: bool) -> str | None:
        return str(raw).strip() if raw else None

    return [
        (cdr_lines, "_token", token),
        (cdr_lines, "_when", when),
        (cdr_lines, "_caller", lambda path, line, src: str(src) if src else None),
        (cdr_lines, "_check_attempts", lambda path, line, raw: raw),
        (cdr_lines, "_check_mark", lambda path, line, mark: mark),
    ]


VALIDATORS = {
    "agi": agi_validators,
    "store": store_validators,
    "store-pg": store_validators,
    "cdr": cdr_validators,
}


def _raw(owner: Any, name: str) -> Any:
    """The attribute as stored (a staticmethod stays one)."""
    return owner.__dict__[name] if name in getattr(owner, "__dict__", {}) else getattr(owner, name)


def switch_off(validators: Validators) -> None:
    for owner, name, stand_in in validators:
        setattr(owner, name, stand_in)


@contextmanager
def recording(validators: Validators) -> Iterator[Replay]:
    """Every call of the validators inside the block, with its arguments, to replay."""
    calls: Replay = []
    saved = [(owner, name, _raw(owner, name)) for owner, name, _ in validators]
    depth = [0]  # a validator another one calls (args -> is_linkedid) is not recorded twice

    def recorder(function: Callable[..., Any]) -> Callable[..., Any]:
        def record(*args: Any, **kwargs: Any) -> Any:
            if depth[0] == 0:
                calls.append((function, args, kwargs))
            depth[0] += 1
            try:
                return function(*args, **kwargs)
            finally:
                depth[0] -= 1

        return record

    for owner, name, raw in saved:
        wrapped = recorder(_unwrap(raw))
        setattr(owner, name, staticmethod(wrapped) if isinstance(raw, staticmethod) else wrapped)
    try:
        yield calls
    finally:
        for owner, name, raw in saved:
            setattr(owner, name, raw)


def replay(calls: Replay, times: int) -> None:
    for _ in range(times):
        for function, args, kwargs in calls:
            function(*args, **kwargs)


def _nothing(*_: Any, **__: Any) -> None:
    return None


def replay_alone(made: Replay, times: int, validators: Validators) -> list[str]:
    """The recorded validator calls replayed ``times`` over, a mark after each stretch: all of
    them, the same loop calling a function that does nothing (the replay's own cost, taken
    off), then each validator on its own, then each one's stand-in (what ``off`` runs) with
    the same arguments. Returns the validators' names in that order."""
    stand_ins = {_name(_unwrap(_raw(owner, attr))): _unwrap(s) for owner, attr, s in validators}
    replay(made, times)
    mark()
    replay([(_nothing, args, kwargs) for _, args, kwargs in made], times)
    mark()
    names = sorted({_name(f) for f, _, _ in made})
    for name in names:
        replay([c for c in made if _name(c[0]) == name], times)
        mark()
    for name in names:
        replay([(stand_ins[name], a, k) for f, a, k in made if _name(f) == name], times)
        mark()
    return names


def _unwrap(function: Any) -> Callable[..., Any]:
    return function.__func__ if isinstance(function, staticmethod) else function


def _name(function: Callable[..., Any]) -> str:
    return str(getattr(function, "__qualname__", "?"))


# ------------------------------------------------------------------------------ paths


class _Writer:
    """What FastAgiServer.handler needs of a StreamWriter: the commands land in a list."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else None

    def write(self, data: bytes) -> None:
        self.sent.append(data)

    async def drain(self) -> None:
        return None

    def close(self) -> None:
        return None

    async def wait_closed(self) -> None:
        return None


def agi_requests(linkedid: str) -> list[bytes]:
    steps = [
        ("route", (linkedid, "3")),
        ("attempt", (linkedid, "start", "1", "1")),
        ("attempt", (linkedid, "end", "1", "1", "BUSY", "17", "")),
        ("attempt", (linkedid, "start", "2", "2")),
        ("answered", (linkedid, "2", "2", NUMBERS[1])),
        ("end", (linkedid, "abandoned", "1", "2", "2", "ANSWER", "16")),
    ]
    return [headers(f"{SECRET}/{script}", *args, uniqueid=linkedid) for script, args in steps]


async def agi_path(tmp: Path, on: bool, calls: int, warm: int) -> Replay:
    rota = load_rota(write_rota(tmp / "rota.yaml", NUMBERS, confirm=(True, False)))

    def decider(now: datetime, call: CallInfo) -> Decision:
        return decide(rota, now, call)

    async with CallLog(f"sqlite+aiosqlite:///{tmp / 'agi.sqlite3'}", tmp / "spool") as log:
        flow = AgiCallFlow(log, decider)
        access = AgiAccess.from_text(SECRET, "127.0.0.1, 10.0.0.0/24")
        server = FastAgiServer(flow.routes(), access=access)

        prefix = "pbx-1700000000."
        # What Asterisk sends, made before measuring: each request's header block, then a
        # "200 result=0" for every command the script may send back.
        sent = {
            f"{prefix}{i}": [
                block + b"200 result=0\n" * 4 for block in agi_requests(f"{prefix}{i}")
            ]
            for i in range(warm + calls)
        }

        async def one_call(linkedid: str) -> None:
            for block in sent[linkedid]:
                reader = asyncio.StreamReader()
                reader.feed_data(block)
                reader.feed_eof()
                writer = _Writer()
                await server.handler(reader, writer)  # type: ignore[arg-type]
                if b"/route" in block:
                    assert b"CALLROUTER_AGI_OK=1" in b"".join(writer.sent), writer.sent
            await log.flush()

        calls_made = await _warm_and_measure(
            one_call, agi_validators(), on=on, n=calls, warm=warm, prefix=prefix
        )
        assert server.refused == 0
        assert log.stats().rejected == 0
        return calls_made


async def _warm_and_measure(
    one: Callable[[str], Any], validators: Validators, *, on: bool, n: int, warm: int, prefix: str
) -> Replay:
    """Warm up (the last warm call recorded), mark, ``n`` calls, mark."""
    if not on:
        switch_off(validators)
    for i in range(warm - 1):
        await one(f"{prefix}{i}")
    with recording(validators if on else []) as made:
        await one(f"{prefix}{warm - 1}")
    start_measuring()
    for i in range(warm, warm + n):
        await one(f"{prefix}{i}")
    mark()
    return made


async def store_path(tmp: Path, on: bool, calls: int, warm: int, url: str = "") -> Replay:
    start = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    url = url or f"sqlite+aiosqlite:///{tmp / 'store.sqlite3'}"
    async with CallLog(url, tmp / "spool") as log:
        validators = store_validators()
        if not on:
            switch_off(validators)
        for i in range(warm - 1):
            write_call(log, i, start)
        with recording(validators if on else []) as made:
            write_call(log, warm - 1, start)
        await log.flush()
        start_measuring()
        for i in range(warm, warm + calls):  # handed as bench_store.py does, then flushed
            write_call(log, i, start + timedelta(seconds=i))
        await log.flush()
        mark()
        assert log.stats().rejected == 0
        return made


def cdr_text(i: int) -> str:
    at = int(datetime(2026, 11, 2, 8, 0, tzinfo=UTC).timestamp()) + i * 60
    attempts = f"|1:{NUMBERS[0]}:BUSY:17:{at}:{at + 5}::|2:{NUMBERS[1]}:BRIDGED:16:{at + 5}:"
    attempts += f"{at + 60}:{at + 10}:"
    return cdr(f"pbx-1700000000.{i}", i % 60, callrouter_attempts=attempts)


async def cdr_path(tmp: Path, on: bool, lines: int, warm: int) -> Replay:
    url = f"sqlite+aiosqlite:///{tmp / 'cdr.sqlite3'}"
    cdr_file, state = tmp / "Master.csv", tmp / "import.state"
    engine = make_engine(url)
    validators = cdr_validators()
    if not on:
        switch_off(validators)

    def append(first: int, count: int) -> None:
        with cdr_file.open("a") as out:
            out.writelines(cdr_text(i) for i in range(first, first + count))

    async def run(count: int) -> None:
        report = await import_fallback(cdr_file, state, log, engine)
        assert (report.imported, report.bad_lines) == (count, 0), report

    try:
        async with CallLog(url, tmp / "spool") as log:
            append(0, warm - 1)
            await run(warm - 1)
            append(warm - 1, 1)
            with recording(validators if on else []) as made:
                await run(1)
            append(warm, lines)  # written before measuring: Asterisk's part
            start_measuring()
            await run(lines)
            mark()
    finally:
        await engine.dispose()
    return made


async def inner(path: str, on: bool, calls: int, warm: int) -> None:
    logs.configure(json=True, level="WARNING")
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-validation-{path}-"))
    if path == "store-pg":  # the PostgreSQL server's own work is another process: not counted
        url = await fresh_pg(os.environ.get("CALLROUTER_BENCH_PG_URL", DEFAULT_PG), PG_ROLE)
        made = await store_path(tmp, on, calls, warm, url)
    else:
        run = {"agi": agi_path, "store": store_path, "cdr": cdr_path}[path]
        made = await run(tmp, on, calls, warm)
    names = replay_alone(made, calls, VALIDATORS[path]()) if on else []
    counts = {name: sum(1 for f, _, _ in made if _name(f) == name) for name in names}
    print("validators: " + ",".join(f"{name}={count}" for name, count in counts.items()))


# ------------------------------------------------------------------------------ outer

_TOTALS = re.compile(r"^(?:totals|summary): (\d+)", re.M)


@dataclass
class Validator:
    name: str
    calls: int  # per unit
    whole: float  # Ir per unit of the function alone
    stand_in: float  # Ir per unit of what ``off`` runs instead, same arguments

    @property
    def check(self) -> float:
        return self.whole - self.stand_in

    def cells(self, path: str, off: float) -> list[str]:
        whole, stand_in, check = f"{self.whole:,.0f}", f"{self.stand_in:,.0f}", self.check
        share = f"{check / off * 100:+.2f} %"
        return [path, self.name, str(self.calls), whole, stand_in, f"{check:+,.0f}", share]


@dataclass
class Counted:
    """One path's figures, instructions per unit (call or CDR line)."""

    path: str
    on: float
    off: float
    alone: float  # every validator call of one unit, the replay's own loop taken off
    validators: list[Validator]

    @property
    def added(self) -> float:
        return self.on - self.off

    @property
    def checks(self) -> float:
        return sum(v.check for v in self.validators)

    def cells(self) -> list[str]:
        return [
            self.path,
            UNITS[self.path],
            f"{self.off:,.0f}",
            f"{self.on:,.0f}",
            f"{self.added:+,.0f}",
            f"{self.added / self.off * 100:+.2f} %",
            f"{self.checks:,.0f}",
            f"{self.checks / self.off * 100:.2f} %",
            f"{self.alone:,.0f}",
            f"{self.alone / self.off * 100:.2f} %",
        ]


def callgrind(path: str, mode: str, calls: int, warm: int, out: Path) -> tuple[list[int], str]:
    """The instructions of each stretch of one run (dump 2 on: the path), and its output."""
    prefix = out / f"{path}-{mode}"
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--dump-before={MARKER}",
        f"--callgrind-out-file={prefix}.%p",
        sys.executable,
        __file__,
        "--inner",
        path,
        mode,
        f"--calls={calls}",
        f"--warm={warm}",
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        sys.exit(f"{path} {mode}: the callgrind run failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    dumps = {int(p.name.rsplit(".", 1)[1]): p for p in out.glob(f"{prefix.name}.*.*")}
    figures = []
    for n in range(1, len(dumps) + 1):
        found = _TOTALS.search(dumps[n].read_text()) if n in dumps else None
        if found is None:
            sys.exit(f"{path} {mode}: callgrind dump {n} missing or without totals in {out}")
        figures.append(int(found.group(1)))
    return figures, done.stdout


def measure(path: str, calls: int, warm: int, out: Path) -> Counted:
    on, printed = callgrind(path, "on", calls, warm, out)
    off, _ = callgrind(path, "off", calls, warm, out)
    line = next(x for x in printed.splitlines() if x.startswith("validators: "))
    counts = [item.split("=") for item in line.removeprefix("validators: ").split(",")]
    k = len(counts)
    # on: 1 startup, 2 path, 3 all validators, 4 the replay loop alone, then one per
    # validator, then one per stand-in; off: 1 startup, 2 path
    if len(on) != 4 + 2 * k or len(off) != 2:
        sys.exit(f"{path}: {len(on)} + {len(off)} callgrind dumps, expected {4 + 2 * k} + 2")
    return Counted(
        path=path,
        on=on[1] / calls,
        off=off[1] / calls,
        alone=(on[2] - on[3]) / calls,
        validators=[
            Validator(name, int(n), on[4 + i] / calls, on[4 + k + i] / calls)
            for i, (name, n) in enumerate(counts)
        ],
    )


HEADER = (
    "path|per|off (Ir)|on (Ir)|on - off|(on-off)/off|checks (Ir)|checks/off|alone (Ir)|alone/off"
)


def table(rows: list[list[str]], left: int = 2) -> None:
    widths = [max(len(cells[i]) for cells in rows) for i in range(len(rows[0]))]
    for line in rows:
        cells = zip(line, widths, strict=True)
        print(
            "  "
            + "  ".join(c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(cells))
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100, help="calls (CDR lines) measured")
    parser.add_argument("--warm", type=int, default=5, help="calls (lines) before measuring")
    parser.add_argument("--paths", default=",".join(PATHS))
    parser.add_argument(
        "--pg-url",
        default=DEFAULT_PG,
        help="PostgreSQL database for store-pg (a schema of its own)",
    )
    parser.add_argument("--inner", nargs=2, metavar=("PATH", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        path, mode = args.inner
        asyncio.run(inner(path, mode == "on", args.calls, args.warm))
        return
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    unknown = set(paths) - set(PATHS)
    if unknown:
        parser.error(f"unknown path(s) {sorted(unknown)}; choose from {PATHS}")
    os.environ["CALLROUTER_BENCH_PG_URL"] = args.pg_url
    out = Path(tempfile.mkdtemp(prefix="bench-validation-cg-"))
    print(
        f"Instructions (callgrind Ir) per unit: {args.calls} units measured after {args.warm} "
        f"warm-up ones, each path and mode in its own process (callgrind files: {out})"
    )
    results = []
    for path in paths:
        results.append(measure(path, args.calls, args.warm, out))
        print(f"  ({path} done)", flush=True)
    print()
    table([HEADER.split("|"), *(c.cells() for c in results)])
    print(
        "\nEach validator replayed alone with the arguments one unit gave it, and what `off` "
        "runs instead;\ncheck = the difference (the replay loop's own cost cancels out)"
    )
    rows = [["path", "validator", "calls", "whole (Ir)", "stand-in (Ir)", "check (Ir)", "of off"]]
    rows += [v.cells(c.path, c.off) for c in results for v in c.validators]
    table(rows)


if __name__ == "__main__":
    main()
