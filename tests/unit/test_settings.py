"""Settings come from the environment or secret files, never printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from callrouter.errors import ConfigError
from callrouter.settings import Settings

pytestmark = pytest.mark.unit


def test_secret_file_is_read_and_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "ari"
    secret.write_text("s3cret\n", encoding="utf-8")
    monkeypatch.setenv("CALLROUTER_ARI_PASSWORD_FILE", str(secret))
    settings = Settings(_env_file=None)
    assert settings.ari_password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)


def test_missing_secret_file_is_a_clear_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLROUTER_ARI_PASSWORD_FILE", str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="CALLROUTER_ARI_PASSWORD_FILE"):
        Settings(_env_file=None)


def test_default_database_is_embedded_sqlite_under_state_dir(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, state_dir=tmp_path)
    assert settings.effective_database_url() == f"sqlite+aiosqlite:///{tmp_path}/callrouter.sqlite3"


def test_caller_experience_settings_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CALLROUTER_HOLD_REMINDER_SECONDS", "12")
    monkeypatch.setenv("CALLROUTER_MESSAGE_MAX_SECONDS", "60")
    settings = Settings(_env_file=None)
    assert settings.hold_reminder_seconds == 12
    assert settings.message_max_seconds == 60
    assert settings.message_max_silence == 5


def test_message_length_outside_its_bounds_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    monkeypatch.setenv("CALLROUTER_MESSAGE_MAX_SECONDS", "3600")
    with pytest.raises(ValidationError, match="message_max_seconds"):
        Settings(_env_file=None)
