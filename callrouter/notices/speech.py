"""A notice's sound: spoken by espeak-ng's Vietnamese voice where callrouter runs (nothing is
downloaded), converted with sox to what Asterisk plays without transcoding surprises — WAV,
8000 Hz, mono, 16-bit PCM — and checked (format, length within bounds, not silent). A recorded
WAV that an admin drops in place replaces the speech; it must pass the same checks.

Sounds are named by a hash of what is said and how (voice, speed, engine), so an unchanged
text is never spoken twice and a caller still hearing the old file is not cut when a notice
is edited: a new text is a new file.
"""

from __future__ import annotations

import array
import hashlib
import math
import os
import shutil
import subprocess
import sys
import tempfile
import unicodedata
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from callrouter.errors import NoticeSoundError

RATE: Final = 8000
CHANNELS: Final = 1
SAMPLE_BYTES: Final = 2
NEEDS: Final = "WAV PCM 16-bit, 8000 Hz, mono (sox IN.wav -r 8000 -c 1 -b 16 OUT.wav)"
MIN_SECONDS: Final = 0.5
#: RMS (of full scale 32767) below which a sound counts as silence
SILENCE_RMS: Final = 100.0
VOICE: Final = "vi"
SPEED: Final = 150  # words per minute: slower than espeak-ng's 175, for a telephone line
_TIMEOUT: Final = 60.0


@dataclass(frozen=True, slots=True)
class WavInfo:
    rate: int
    channels: int
    sample_bytes: int
    seconds: float
    rms: float


def read_wav(path: Path) -> WavInfo:
    """Format, length and loudness of a WAV file; raises NoticeSoundError when it is none."""
    try:
        with wave.open(str(path), "rb") as w:
            rate, channels, width, frames = (
                w.getframerate(),
                w.getnchannels(),
                w.getsampwidth(),
                w.getnframes(),
            )
            raw = w.readframes(frames) if width == SAMPLE_BYTES else b""
    except (OSError, EOFError, wave.Error) as exc:
        raise NoticeSoundError(f"{path}: không phải tệp WAV đọc được ({exc}); cần {NEEDS}") from exc
    rms = 0.0
    if raw:
        samples = array.array("h")
        samples.frombytes(raw[: len(raw) // 2 * 2])
        if sys.byteorder == "big":
            samples.byteswap()
        rms = math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0
    return WavInfo(rate, channels, width, frames / rate if rate else 0.0, rms)


def check_wav(path: Path, max_seconds: float) -> WavInfo:
    """The checks every notice sound passes before Asterisk is told to play it."""
    info = read_wav(path)
    if (info.rate, info.channels, info.sample_bytes) != (RATE, CHANNELS, SAMPLE_BYTES):
        raise NoticeSoundError(
            f"{path}: {info.rate} Hz, {info.channels} kênh, {info.sample_bytes * 8}-bit; "
            f"Asterisk cần {NEEDS}"
        )
    if info.seconds < MIN_SECONDS:
        raise NoticeSoundError(
            f"{path}: dài {info.seconds:.1f} giây, quá ngắn (ít nhất {MIN_SECONDS} giây)"
        )
    if info.seconds > max_seconds:
        raise NoticeSoundError(
            f"{path}: dài {info.seconds:.1f} giây, quá giới hạn {max_seconds:g} giây; "
            "hãy rút ngắn thông báo"
        )
    if info.rms < SILENCE_RMS:
        raise NoticeSoundError(f"{path}: gần như im lặng (RMS {info.rms:.0f}); không phát")
    return info


#: punctuation espeak-ng reads as a pause (or skips) in running Vietnamese text
SAYABLE_PUNCTUATION: Final = frozenset(" .,;:!?'\"()[]-–—/…“”‘’«»")


def unsayable(spoken: str) -> list[str]:
    """The characters of ``spoken`` (normalised text) the Vietnamese voice cannot read as
    words, in order of first appearance: letters of other scripts (Chinese, Thai, Cyrillic …),
    emoji and symbols (``@ # & * = + < > ~ ^ | \\ _``). Latin letters with any Vietnamese
    marks, digits and ordinary punctuation are fine. espeak-ng skips the others, says their
    Unicode names in English, or says nothing, so such a notice is not played."""
    found: list[str] = []
    for char in spoken:
        if char in found or char.isspace() or char in SAYABLE_PUNCTUATION or char.isdigit():
            continue
        if char.isalpha() and "LATIN" in unicodedata.name(char, ""):
            continue
        found.append(char)
    return found


def describe_unsayable(chars: list[str]) -> str:
    """``chars`` for a person: each with its Unicode name (a symbol may look like nothing)."""
    return ", ".join(f"«{c}» ({unicodedata.name(c, f'U+{ord(c):04X}').lower()})" for c in chars)


def sound_key(spoken: str, *, voice: str = VOICE, speed: int = SPEED) -> str:
    """The file stem of the speech of ``spoken``: one per text, voice and speed."""
    digest = hashlib.sha256(f"espeak-ng\0{voice}\0{speed}\0{spoken}".encode()).hexdigest()
    return "notice-" + digest[:16]


def recording_key(path: Path) -> str:
    """The file stem of a recorded WAV: one per content."""
    return "notice-rec-" + hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def engine_missing() -> str | None:
    """What is missing to speak notices here (None: espeak-ng and sox are installed)."""
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        return (
            f"thiếu {', '.join(missing)}: cài gói Debian `apt-get install espeak-ng sox` "
            "(hoặc dùng bản ghi âm WAV)"
        )
    return None


def speak(spoken: str, out: Path, *, voice: str = VOICE, speed: int = SPEED) -> None:
    """Blocking: ``spoken`` as an 8 kHz mono 16-bit WAV at ``out`` (written atomically)."""
    missing = engine_missing()
    if missing:
        raise NoticeSoundError(missing)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="callrouter-notice-") as tmp:
        text_file, raw = Path(tmp) / "text.txt", Path(tmp) / "raw.wav"
        text_file.write_text(spoken, encoding="utf-8")
        _run(["espeak-ng", "-v", voice, "-s", str(speed), "-f", str(text_file), "-w", str(raw)])
        fd, part = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=".wav", dir=out.parent)
        os.close(fd)
        try:
            _run(["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", "-e", "signed", part])
            os.chmod(part, 0o644)
            os.replace(part, out)
        finally:
            Path(part).unlink(missing_ok=True)


def install_recording(source: Path, out: Path, max_seconds: float) -> WavInfo:
    """Check a recorded WAV and copy it to ``out`` (atomically); it is never converted: a
    wrong format is refused with what Asterisk needs."""
    info = check_wav(source, max_seconds)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, part = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=".wav", dir=out.parent)
    os.close(fd)
    try:
        shutil.copyfile(source, part)
        os.chmod(part, 0o644)
        os.replace(part, out)
    finally:
        Path(part).unlink(missing_ok=True)
    return info


def _run(cmd: list[str]) -> None:
    try:
        subprocess.run(  # noqa: S603 - fixed tools by name, arguments are paths and numbers
            cmd, check=True, capture_output=True, timeout=_TIMEOUT
        )
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        raise NoticeSoundError(
            f"{cmd[0]} lỗi: {exc} {detail.decode('utf-8', 'replace').strip()}"
        ) from exc
