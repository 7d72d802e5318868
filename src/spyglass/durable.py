"""Files that must survive a power cut, not only a crash of the process: their bytes synced, and
the directory entry that names them synced too (on Linux a rename or a new name is only on disk
once its directory has been synced)."""
from __future__ import annotations

import os
from pathlib import Path


def sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text(path: Path, text: str) -> None:
    """Write `path` whole or not at all (a temporary file renamed into place), and on disk."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    sync_directory(path.parent)
