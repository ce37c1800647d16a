"""The serve and guard subprocesses of the e2e tests and benches import callrouter from the
tree the harness runs from, not from whatever the venv installed (a bench run from a worktree
of another commit measured the installed router on both sides of an A/B: issue 23)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.faults_support import tree_environ

TREE = Path(__file__).resolve().parents[2]


def test_a_subprocess_imports_the_harnesss_own_callrouter_before_any_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoy = tmp_path / "decoy"
    (decoy / "callrouter").mkdir(parents=True)
    (decoy / "callrouter" / "__init__.py").write_text("")
    monkeypatch.setenv("PYTHONPATH", str(decoy))  # another tree, as an installed one would be
    found = subprocess.run(
        [sys.executable, "-c", "import callrouter; print(callrouter.__file__)"],
        cwd=tmp_path,
        env=tree_environ(),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    assert Path(found).resolve() == TREE / "callrouter" / "__init__.py"


def test_later_layers_win_and_the_tree_stays_first_on_the_import_path() -> None:
    env = tree_environ({"A": "1", "B": "1"}, {"B": "2"})
    assert (env["A"], env["B"]) == ("1", "2")
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(TREE)
