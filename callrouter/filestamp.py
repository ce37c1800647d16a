"""What tells a watched file changed (the rota, the notices, the case lists): its modification
time and size, read by one function so every watcher compares the same thing."""

from __future__ import annotations

from pathlib import Path

FileStamp = tuple[int, int]


def file_stamp(path: Path | None) -> FileStamp | None:
    """Blocking (``os.stat``): ``(mtime_ns, size)`` of ``path``, None when it cannot be read."""
    if path is None:
        return None
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size
