"""The wheel the Docker image installs carries the admin web's templates and static files."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_contains_every_template_and_static_file(tmp_path: Path) -> None:
    # Built from a copy of what the Dockerfile copies, so no build/ is left in the checkout.
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "callrouter", source / "callrouter", ignore=shutil.ignore_patterns("__pycache__")
    )
    wheels = tmp_path / "wheels"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(wheels), "."],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = wheels.glob("callrouter-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    web = ROOT / "callrouter" / "web"
    wanted = [p for d in ("templates", "static") for p in (web / d).iterdir() if p.is_file()]
    assert wanted
    for path in wanted:
        assert path.relative_to(ROOT).as_posix() in names, path
