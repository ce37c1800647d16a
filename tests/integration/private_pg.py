"""A small PostgreSQL server of a test's own, in a temporary directory.

The machine's shared server is used by every test worker at once (tests/conftest.py), so a
test that needs to stop a server, or one that demands passwords, starts its own here instead
of touching the shared one.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import require_service


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_bin() -> Path | None:
    root = Path("/usr/lib/postgresql")
    if not root.is_dir() or shutil.which("runuser") is None or os.geteuid() != 0:
        return None
    versions = sorted(os.listdir(root), key=lambda v: [int(x) for x in v.split(".")])
    return root / versions[-1] / "bin" if versions else None


def as_postgres(*args: str) -> None:
    done = subprocess.run(
        ["runuser", "-u", "postgres", "--", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        pytest.fail(f"{args[0]} failed ({done.returncode}): {done.stderr[-2000:]}")


class PrivatePostgres:
    """``initdb`` in a fresh directory, then ``start``/``stop`` at will; ``close`` removes it.
    ``password`` None: local connections are trusted; else SCRAM with that password."""

    def __init__(self, password: str | None = None) -> None:
        binary = postgres_bin()
        if binary is None:
            require_service("PostgreSQL binaries", "initdb/pg_ctl and runuser (as root) are needed")
        assert binary is not None
        self.binary = binary
        # Not under pytest's tmp dirs: the postgres user must be able to reach it.
        self.base = Path(tempfile.mkdtemp(prefix="callrouter-pg-"))
        self.base.chmod(0o755)
        self.data = self.base / "data"
        self.data.mkdir()
        shutil.chown(self.data, "postgres", "postgres")
        self.port = free_port()
        self.password = password
        auth = ["--auth=trust"]
        if password is not None:
            pwfile = self.base / "pw"
            pwfile.write_text(password, encoding="utf-8")
            shutil.chown(pwfile, "postgres", "postgres")
            auth = ["--auth=scram-sha-256", f"--pwfile={pwfile}"]
        as_postgres(str(binary / "initdb"), "-D", str(self.data), "-U", "postgres", *auth)

    @property
    def url(self) -> str:
        secret = f":{self.password}" if self.password is not None else ""
        return f"postgresql+asyncpg://postgres{secret}@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1"
        log = str(self.data / "log")
        as_postgres(str(self.binary / "pg_ctl"), "-D", str(self.data), "-o", opts, "-l", log,
                    "-w", "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        as_postgres(str(self.binary / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def ready(self) -> bool:
        done = subprocess.run(
            ["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(self.port)], check=False, timeout=10
        )
        return done.returncode == 0

    def close(self) -> None:
        if self.ready():
            self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)
