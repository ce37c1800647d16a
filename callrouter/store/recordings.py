"""Recorded call-back messages: the one rule for their names and where their files are.

A message is Asterisk's ``<recordings dir>/<name>``; the database keeps only ``<name>``
(``callbacks.recording``, or ``recording`` in a ``message_without_number`` event). Every door
that hands a name to the store (ARI call flow, FastAGI ``message``) checks it with
:func:`is_valid_recording_name`; every reader that turns a name into a file (web playback,
``db purge``, ``privacy export/erase``, backup) uses :func:`resolve_recording`, which refuses
anything that is not such a name (absolute paths, ``..``, globs, another directory) and then
checks that the resolved file is inside the recordings directory (a symbolic link pointing
out is refused too). No name is ever matched as a pattern, so a planted row cannot reach a
file outside that directory.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from callrouter.errors import StoreError
from callrouter.logs import get_logger

log = get_logger(__name__)

#: What callrouter's own recordings are called (ARI: ``callrouter-message-<linkedid>-<id>.wav``,
#: FastAGI dialplan: ``callrouter-message-<linkedid>-<epoch>.wav``).
RECORDING_NAME: Final = re.compile(r"callrouter-message-[A-Za-z0-9._-]+\.wav")
RECORDING_NAME_MAX: Final = 200


class RecordingRefused(StoreError, ValueError):
    """A recording name that is not one of callrouter's (or would leave the directory)."""


def is_valid_recording_name(name: str | None) -> bool:
    """``name`` is a bare ``callrouter-message-….wav`` file name (no directory, no pattern)."""
    return (
        isinstance(name, str)
        and len(name) <= RECORDING_NAME_MAX
        and RECORDING_NAME.fullmatch(name) is not None
        and name not in (".", "..")
    )


def resolve_recording(base: Path, name: str) -> Path:
    """The file of recording ``name`` inside the recordings directory ``base``.

    Raises :class:`RecordingRefused` for a name that is not valid or whose resolved path
    (symbolic links followed) is not inside ``base``. The file need not exist.
    """
    if not is_valid_recording_name(name):
        raise RecordingRefused(f"recording name {name!r} is not callrouter-message-….wav")
    root = base.resolve()
    path = (root / name).resolve()
    if path.parent != root:
        raise RecordingRefused(f"recording {name!r} resolves outside {root}")
    return path


def accepted_recording(name: str | None, *, door: str) -> str | None:
    """``name`` if it may be stored as a recording, else None (logged with the door it came
    through): what the ARI call flow calls before a call-back is
    written. The call-back itself is kept either way, so the caller is still called back."""
    if name is None or is_valid_recording_name(name):
        return name
    log.warning("recording.name_refused", door=door, name=name[:RECORDING_NAME_MAX])
    return None


def delete_recording(base: Path, name: str) -> bool:
    """Delete recording ``name`` from ``base``: True if it was deleted, False if it was
    already absent. Raises :class:`RecordingRefused` for a name :func:`resolve_recording`
    refuses and ``OSError`` when the file is there but cannot be deleted."""
    path = resolve_recording(base, name)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
