"""Recording names: one validator at every door, one resolver inside the recordings directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from callrouter.store.recordings import (
    RecordingRefused,
    accepted_recording,
    delete_recording,
    is_valid_recording_name,
    resolve_recording,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "name",
    [
        "callrouter-message-1700000000.12-ab12cd34.wav",  # ARI
        "callrouter-message-170000000012-1700000001.wav",  # FastAGI dialplan
        "callrouter-message-a_b.c-d.wav",
    ],
)
def test_callrouter_message_names_are_valid(name: str) -> None:
    assert is_valid_recording_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "/var/spool/asterisk/recording/callrouter-message-1.wav",
        "../callrouter-message-1.wav",
        "sub/callrouter-message-1.wav",
        "callrouter-message-*.wav",
        "callrouter-message-?.wav",
        "callrouter-message-1",
        "callrouter-message-1.gsm",
        "callrouter-message-.wav.txt",
        "other-1.wav",
        "callrouter-message-1.wav\n",
        "callrouter-message-đ.wav",
        "callrouter-message-" + "x" * 300 + ".wav",
    ],
)
def test_anything_else_is_refused_and_never_resolved(name: str, tmp_path: Path) -> None:
    assert not is_valid_recording_name(name)
    with pytest.raises(RecordingRefused):
        resolve_recording(tmp_path, name)


def test_a_symbolic_link_pointing_out_of_the_directory_is_refused(tmp_path: Path) -> None:
    base = tmp_path / "recording"
    base.mkdir()
    target = tmp_path / "precious.wav"
    target.write_bytes(b"x")
    (base / "callrouter-message-link.wav").symlink_to(target)
    with pytest.raises(RecordingRefused, match="outside"):
        delete_recording(base, "callrouter-message-link.wav")
    assert target.exists()


def test_delete_says_whether_the_file_was_there(tmp_path: Path) -> None:
    (tmp_path / "callrouter-message-1.wav").write_bytes(b"x")
    assert delete_recording(tmp_path, "callrouter-message-1.wav") is True
    assert delete_recording(tmp_path, "callrouter-message-1.wav") is False


def test_a_door_keeps_a_valid_name_and_drops_another_with_a_warning() -> None:
    assert accepted_recording(None, door="fastagi") is None
    assert accepted_recording("callrouter-message-1.wav", door="ari") == "callrouter-message-1.wav"
    with capture_logs() as logs:
        assert accepted_recording("/etc/passwd", door="fastagi") is None
    assert logs[0]["event"] == "recording.name_refused"
    assert logs[0]["door"] == "fastagi"
