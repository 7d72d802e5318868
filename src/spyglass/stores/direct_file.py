"""Writes an upload to a file past the page cache (O_DIRECT) where the filesystem allows it.

Through the page cache, every byte is copied into the kernel, tracked as dirty and written back,
and the final fsync() waits for all of it: on a 2-core machine that costs the CPU the hashes need,
and an upload of a few GiB evicts what readers had cached. With O_DIRECT the disk reads the
upload's own buffers. Measured on the same machine (bench/data_path.py): the store's pipeline
writes 1 GiB while hashing it about 1.4 times as fast.

O_DIRECT wants buffers and lengths aligned to the device's block size: the upload pipeline's
buffers are page-aligned and its chunks whole pages, except the last. Whatever does not fit
(that last chunk, a filesystem that refuses O_DIRECT at open like tmpfs, or at write) is written
through the page cache instead, so the file's content never depends on the path it took.
"""
from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

# A multiple of every logical block size in use (512 and 4096 bytes).
ALIGNMENT = 4096
_O_DIRECT: int = getattr(os, "O_DIRECT", 0)


class UploadFile:
    def __init__(self, path: Path, *, direct: bool, mode: int = 0o640) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        self.direct = direct and _O_DIRECT != 0
        self.fd = -1
        if self.direct:
            try:
                self.fd = os.open(path, flags | _O_DIRECT, mode)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                self.direct = False
        if self.fd < 0:
            self.fd = os.open(path, flags, mode)

    def write(self, data: memoryview) -> None:
        if self.direct and len(data) % ALIGNMENT:
            self._through_page_cache()
        while data:
            try:
                written = os.write(self.fd, data)
            except OSError as exc:
                if not (self.direct and exc.errno == errno.EINVAL):
                    raise
                self._through_page_cache()  # the filesystem took O_DIRECT at open, not here
                continue
            data = data[written:]

    def _through_page_cache(self) -> None:
        flags = fcntl.fcntl(self.fd, fcntl.F_GETFL)
        fcntl.fcntl(self.fd, fcntl.F_SETFL, flags & ~_O_DIRECT)
        self.direct = False

    def sync_and_close(self) -> None:
        try:
            os.fsync(self.fd)
        finally:
            self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
