"""A wrong database password is one clear error at start-up, against a server that checks it.

The machine's shared PostgreSQL trusts every local connection, so this test starts its own
small PostgreSQL instance with password (SCRAM) authentication in a temporary directory.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from callrouter.cli import cli
from callrouter.errors import DatabaseUnavailable
from callrouter.store.writer import CallLog
from tests.integration.conftest import table_counts, write_call
from tests.integration.private_pg import PrivatePostgres

pytestmark = pytest.mark.integration

PASSWORD = "s3cret-pw"  # noqa: S105 (a throw-away server's password)


@pytest.fixture(scope="module")
def password_server() -> Iterator[str]:
    """URL (with the right password) of a private PostgreSQL that demands passwords."""
    server = PrivatePostgres(password=PASSWORD)
    try:
        server.start()
        yield server.url
    finally:
        server.close()


async def test_wrong_password_is_one_clear_error_at_start_up(
    password_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = password_server.replace(PASSWORD, "not-the-password")
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable) as info:
        async with CallLog(wrong, tmp_path / "spool"):
            pytest.fail("must not start with a wrong password")
    message = str(info.value)
    assert "refuses the configured credentials" in message
    assert "password authentication failed" in message
    assert "not-the-password" not in message
    assert time.monotonic() - started < 15
    out, err = capsys.readouterr()
    assert "not-the-password" not in out + err
    assert "Traceback" not in out + err

    # Corrected, the same spool directory starts and works at once.
    async with CallLog(password_server, tmp_path / "spool") as log:
        write_call(log, "L1")
        await log.flush()
    assert (await table_counts(password_server))["calls"] == 1


def test_db_upgrade_with_a_wrong_password_says_so_without_a_traceback(
    password_server: str,
) -> None:
    wrong = password_server.replace(PASSWORD, "nope")
    result = CliRunner().invoke(cli, ["db", "upgrade", "--database-url", wrong])
    assert result.exit_code == 1
    assert "refuses the configured credentials" in result.output
    assert "password authentication failed" in result.output
    assert "nope@" not in result.output
    assert "Traceback" not in result.output
