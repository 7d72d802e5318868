"""The upload file of the filesystem store: O_DIRECT for whole blocks, the page cache for the rest,
the same bytes on disk either way. Real files on the test's own filesystem, no stand-ins."""
from __future__ import annotations

import fcntl
import mmap
import os
from pathlib import Path

import pytest

from spyglass.stores.direct_file import ALIGNMENT, UploadFile

MiB = 1024 * 1024
pytestmark = pytest.mark.skipif(not hasattr(os, "O_DIRECT"), reason="no O_DIRECT on this platform")


def aligned(data: bytes) -> memoryview:
    buf = mmap.mmap(-1, max(len(data), 1))
    buf[:len(data)] = data
    return memoryview(buf)[:len(data)]


def is_direct(out: UploadFile) -> bool:
    return bool(fcntl.fcntl(out.fd, fcntl.F_GETFL) & os.O_DIRECT)


def test_whole_chunks_go_direct_and_the_tail_through_the_cache(tmp_path: Path):
    chunks = [os.urandom(MiB) for _ in range(3)] + [os.urandom(12345)]
    out = UploadFile(tmp_path / "image", direct=True)
    try:
        if not out.direct:
            pytest.skip("this filesystem refuses O_DIRECT")
        for chunk in chunks[:3]:
            out.write(aligned(chunk))
            assert out.direct and is_direct(out)
        out.write(aligned(chunks[3]))
        assert not out.direct and not is_direct(out)
        out.sync_and_close()
    finally:
        out.close()
    assert (tmp_path / "image").read_bytes() == b"".join(chunks)


def test_a_buffer_the_device_refuses_is_written_through_the_cache(tmp_path: Path):
    # A whole number of blocks, but one byte past a page boundary in memory: the kernel refuses it
    # with EINVAL under O_DIRECT; the writer must fall back, not fail nor write twice.
    data = os.urandom(2 * ALIGNMENT)
    buf = mmap.mmap(-1, 3 * ALIGNMENT)
    buf[1:1 + len(data)] = data
    first = os.urandom(MiB)
    out = UploadFile(tmp_path / "image", direct=True)
    try:
        if not out.direct:
            pytest.skip("this filesystem refuses O_DIRECT")
        out.write(aligned(first))
        out.write(memoryview(buf)[1:1 + len(data)])
        assert not is_direct(out)
        out.sync_and_close()
    finally:
        out.close()
    assert (tmp_path / "image").read_bytes() == first + data


def test_direct_io_off_writes_through_the_cache(tmp_path: Path):
    data = os.urandom(MiB)
    out = UploadFile(tmp_path / "image", direct=False)
    try:
        assert not out.direct and not is_direct(out)
        out.write(aligned(data))
        out.sync_and_close()
    finally:
        out.close()
    assert (tmp_path / "image").read_bytes() == data


def test_close_twice_is_harmless(tmp_path: Path):
    out = UploadFile(tmp_path / "image", direct=True)
    out.close()
    out.close()
    assert out.fd == -1
