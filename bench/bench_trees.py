"""Two git revisions side by side: the same bench run in each, in turn, in one run.

    .venv/bin/python bench/bench_trees.py BEFORE AFTER [--rounds 3]

What a change costs, measured as the issue asks ("validation adds ≤ 5 % to bench_agi.py's round
trip and bench_store.py's throughput"): each revision is checked out in a throw-away worktree,
and each round runs, for BEFORE then AFTER (alternating which goes first),

* ``bench/bench_agi.py --no-sandbox`` (the real FastAGI server on loopback): round-trip p50 and
  decisions/s;
* ``bench/bench_store.py --no-outage`` (the call-log writer): calls/s into SQLite and PostgreSQL,

each revision's own bench script against its own code, with this checkout's venv. It prints
the medians over the rounds and AFTER / BEFORE. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"

#: Each bench script with the arguments every run gets.
SCRIPTS: dict[str, list[str]] = {
    "bench_agi.py": ["--no-sandbox"],
    "bench_store.py": ["--no-outage"],
}
_STORE = r"\s+[\d,]+ calls .*?: ([\d,]+) calls/s"
#: (figure, the script printing it, its pattern, higher is better)
MEASURES: tuple[tuple[str, str, str, bool], ...] = (
    ("AGI round trip p50 (ms)", "bench_agi.py", r"closed: n=\d+ p50 ([\d.]+) ms", False),
    ("AGI decisions/s", "bench_agi.py", r"decisions/s: (\d+)", True),
    ("store SQLite calls/s", "bench_store.py", "sqlite" + _STORE, True),
    ("store PostgreSQL calls/s", "bench_store.py", "postgresql" + _STORE, True),
)


def _worktree(rev: str, where: Path) -> Path:
    path = where / rev.replace("/", "_")
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), rev],
        check=True,
        capture_output=True,
    )
    return path


def _run(tree: Path, script: str, extra: list[str]) -> str:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [str(PYTHON), str(tree / "bench" / script), *SCRIPTS[script], *extra],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    if done.returncode != 0:
        sys.exit(f"{tree.name}: {script} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=50_000, help="bench_store.py --calls")
    parser.add_argument("--seconds", type=int, default=10, help="bench_agi.py --seconds")
    args = parser.parse_args()
    extra = {
        "bench_agi.py": ["--seconds", str(args.seconds)],
        "bench_store.py": ["--calls", str(args.calls), "--databases", "sqlite,postgresql"],
    }
    figures: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-trees-") as tmp:
        trees = {rev: _worktree(rev, Path(tmp)) for rev in (args.before, args.after)}
        try:
            for n in range(args.rounds):
                order = [args.before, args.after] if n % 2 == 0 else [args.after, args.before]
                for script in SCRIPTS:
                    for rev in order:
                        out = _run(trees[rev], script, extra[script])
                        for name, printed_by, pattern, _ in MEASURES:
                            found = re.search(pattern, out)
                            if printed_by == script and found:
                                value = float(found.group(1).replace(",", ""))
                                figures.setdefault((name, rev), []).append(value)
                print(f"round {n + 1}/{args.rounds} done", flush=True)
        finally:
            for tree in trees.values():
                remove = ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)]
                subprocess.run(remove, check=False)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\n{args.rounds} rounds, load average {load}; medians; cost = how much worse AFTER is")
    for name, _, _, higher_better in MEASURES:
        before = figures.get((name, args.before), [])
        after = figures.get((name, args.after), [])
        if not before or not after:
            print(f"  {name}: not measured in one of the revisions")
            continue
        b, a = statistics.median(before), statistics.median(after)
        cost = (b / a - 1) if higher_better else (a / b - 1)
        print(
            f"  {name:<26} before {b:>10,.2f}  after {a:>10,.2f}  "
            f"after/before {a / b:.3f}  cost {cost * 100:+.1f} %"
        )
        rounds = "  ".join(f"{x:,.2f}/{y:,.2f}" for x, y in zip(before, after, strict=False))
        print(f"  {'':<26} each round, before/after: {rounds}")


if __name__ == "__main__":
    main()
