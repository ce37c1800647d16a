"""Prompt choice (Vietnamese, English fallback, missing) and the caller number the rows keep."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import structlog
from pydantic import SecretStr

from callrouter.app import ServeOptions, serve
from callrouter.asterisk import contract
from callrouter.asterisk.prompts import PromptCatalog, PromptChoice, sound_name
from callrouter.errors import ConfigError
from callrouter.rota.phones import caller_number
from callrouter.settings import Settings

pytestmark = pytest.mark.unit

PROMPT_DIR = Path(__file__).resolve().parents[2] / "dialplan" / "prompts"


def names_in(path: Path) -> set[str]:
    return {
        line.split("|", 1)[0]
        for line in path.read_text(encoding="utf-8").splitlines()
        if "|" in line and not line.startswith("#")
    }


def test_every_vietnamese_prompt_has_an_english_fallback_text() -> None:
    assert names_in(PROMPT_DIR / "vi.txt") == names_in(PROMPT_DIR / "en.txt")


def test_sound_name_moves_a_prompt_to_another_folder() -> None:
    assert sound_name("greeting") == "callrouter/greeting"
    assert sound_name("hold_reminder", "hotline-rec") == "hotline-rec/hold-reminder"


@pytest.mark.parametrize("folder", ["", "../etc", "/abs", "a b", "x,y"])
def test_a_folder_that_could_escape_the_sounds_directory_is_refused(folder: str) -> None:
    with pytest.raises(ValueError, match="prompt folder"):
        PromptCatalog(folder=folder)


def sounds(tmp_path: Path, files: dict[str, list[str]]) -> Path:
    for lang, names in files.items():
        d = tmp_path / lang / "callrouter"
        d.mkdir(parents=True, exist_ok=True)
        for name in names:
            (d / name).write_bytes(b"RIFF")
    return tmp_path


async def test_without_a_sounds_directory_the_channel_language_is_used() -> None:
    choice = await PromptCatalog().choose("greeting")
    assert choice == PromptChoice("greeting", "sound:callrouter/greeting", None)


async def test_a_vietnamese_file_is_played_in_the_channel_language(tmp_path: Path) -> None:
    root = sounds(tmp_path, {"vi": ["greeting.wav"], "en": ["greeting.wav"]})
    assert (await PromptCatalog(root).choose("greeting")).lang is None


async def test_a_missing_vietnamese_file_is_played_in_english_and_logged_once(
    tmp_path: Path,
) -> None:
    root = sounds(tmp_path, {"vi": [], "en": ["greeting.gsm"]})
    catalog = PromptCatalog(root)
    with structlog.testing.capture_logs() as logs:
        first = await catalog.choose("greeting")
        second = await catalog.choose("greeting")
    assert first.lang == second.lang == contract.FALLBACK_LANGUAGE
    warnings = [e for e in logs if e["event"] == "prompt.english_fallback"]
    assert len(warnings) == 1
    assert warnings[0]["missing"].endswith("vi/callrouter/greeting")


async def test_a_prompt_missing_in_both_languages_is_logged_and_left_to_asterisk(
    tmp_path: Path,
) -> None:
    catalog = PromptCatalog(sounds(tmp_path, {"vi": []}))
    with structlog.testing.capture_logs() as logs:
        choice = await catalog.choose("closed")
    assert choice.lang is None
    assert [e["event"] for e in logs] == ["prompt.missing"]


async def test_a_recording_dropped_in_place_is_picked_up_after_the_cache_time(
    tmp_path: Path,
) -> None:
    now = [0.0]
    root = sounds(tmp_path, {"vi": [], "en": ["greeting.wav"]})
    catalog = PromptCatalog(root, ttl=30, clock=lambda: now[0])
    assert (await catalog.choose("greeting")).lang == "en"
    (root / "vi" / "callrouter" / "greeting.wav").write_bytes(b"RIFF")
    now[0] = 10
    assert (await catalog.choose("greeting")).lang == "en"  # cached
    now[0] = 31
    assert (await catalog.choose("greeting")).lang is None


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("0987654321", "0987654321"),
        ("+84 (90) 555-1234", "+84905551234"),
        ("+84-90.555.1234", "+84905551234"),
        ("  0912*#345 ", "0912345"),
        ("anonymous", None),
        ("Anonymous", None),
        ("unknown", None),
        ("", None),
        (None, None),
        ("０９１２", None),  # full-width digits are not what a trunk sends: no digits
        ("1" * 20, "1" * 20),
        ("1" * 21, None),  # cut short it would be somebody else's number
        ("+" + "1" * 64, None),
    ],
)
def test_caller_number_keeps_the_dialable_form_or_none(raw: str | None, kept: str | None) -> None:
    assert caller_number(raw) == kept


async def test_serve_refuses_a_bad_prompt_folder_with_a_config_error(tmp_path: Path) -> None:
    settings = Settings(ari_password=SecretStr("x"), state_dir=tmp_path, prompt_folder="../etc")
    with pytest.raises(ConfigError, match="prompt folder"):
        await serve(settings, asyncio.Event(), options=ServeOptions())
