"""The prompts callrouter plays over ARI: which sound, in which language.

Asterisk looks a prompt up as ``<sounds>/<language>/<folder>/<name>.<format>`` — for the hotline
``/usr/share/asterisk/sounds/vi/callrouter/greeting.wav`` (texts: ``dialplan/prompts/vi.txt``;
how an admin replaces them: ``dialplan/prompts/README.md``). When the Vietnamese file is
missing, Asterisk itself falls back to the same name without a language and then in English
(``sounds/en/callrouter/…``, texts ``en.txt``).

When callrouter can see Asterisk's sounds directory (they run on one machine,
``PromptCatalog(sounds_dir=…)``), it checks first: a prompt missing in Vietnamese is played
with ``lang=en`` explicitly and logged once as ``prompt.english_fallback`` (so an admin learns
which recording is missing), a prompt missing in both is logged as ``prompt.missing`` and the
call goes on without it. The checks are cached for ``ttl`` seconds, so a recording dropped in
place is picked up without a restart, and run off the event loop.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import structlog

from callrouter.asterisk import contract

log = structlog.get_logger(__name__)

#: File extensions Asterisk can play a prompt from (the formats of its format modules).
SOUND_FORMATS: Final = (
    "wav",
    "WAV",
    "wav16",
    "gsm",
    "ulaw",
    "alaw",
    "sln",
    "sln16",
    "g722",
    "g729",
    "siren7",
    "siren14",
)
DEFAULT_FOLDER: Final = "callrouter"
DEFAULT_SOUNDS_DIR: Final = Path("/usr/share/asterisk/sounds")
_FOLDER: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]{0,200}")


@dataclass(frozen=True, slots=True)
class PromptChoice:
    """What to ask ARI to play: ``media`` in ``lang`` (None: the channel's language)."""

    key: str
    media: str
    lang: str | None


def sound_name(key: str, folder: str = DEFAULT_FOLDER) -> str:
    """The sound name of prompt ``key`` (a :data:`contract.PROMPTS` key) in ``folder``."""
    name = contract.PROMPTS[key]
    return folder + "/" + name.split("/", 1)[1]


class PromptCatalog:
    """Chooses the sound and language of each prompt (see the module docstring)."""

    def __init__(
        self,
        sounds_dir: Path | None = None,
        *,
        folder: str = DEFAULT_FOLDER,
        language: str = contract.LANGUAGE,
        fallback: str = contract.FALLBACK_LANGUAGE,
        ttl: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not _FOLDER.fullmatch(folder) or ".." in folder:
            raise ValueError(f"not a prompt folder (letters, digits, _ . - /): {folder!r}")
        self.sounds_dir = sounds_dir
        self.folder = folder.strip("/")
        self.language = language
        self.fallback = fallback
        self.ttl = ttl
        self.clock = clock
        self._cache: dict[str, tuple[float, str | None]] = {}
        self._warned: set[tuple[str, str | None]] = set()

    def media(self, key: str) -> str:
        return "sound:" + sound_name(key, self.folder)

    def available(self, key: str) -> str | None:
        """Blocking: the language whose file of ``key`` exists (Vietnamese first), or None."""
        if self.sounds_dir is None:
            return self.language
        name = sound_name(key, self.folder)
        for lang in (self.language, self.fallback):
            base = self.sounds_dir / lang / name
            if any(base.with_name(f"{base.name}.{ext}").exists() for ext in SOUND_FORMATS):
                return lang
        return None

    async def choose(self, key: str) -> PromptChoice:
        """The sound and language to play prompt ``key`` in."""
        media = self.media(key)
        if self.sounds_dir is None:
            return PromptChoice(key, media, None)  # Asterisk's own vi -> en fallback applies
        now = self.clock()
        cached = self._cache.get(key)
        if cached is not None and now - cached[0] < self.ttl:
            found = cached[1]
        else:
            found = await asyncio.to_thread(self.available, key)
            self._cache[key] = (now, found)
        if found == self.language:
            return PromptChoice(key, media, None)
        if (key, found) not in self._warned:
            self._warned.add((key, found))
            if found is None:
                log.warning("prompt.missing", prompt=media, sounds_dir=str(self.sounds_dir))
            else:
                log.warning(
                    "prompt.english_fallback",
                    prompt=media,
                    missing=str(self.sounds_dir / self.language / sound_name(key, self.folder)),
                )
        return PromptChoice(key, media, found)
