"""Moves an upload into a store while computing its md5 and its secure hash (sha512 unless
`hashing_algorithm` says otherwise), in one pass.

Hashing, not HTTP, is an upload's ceiling: md5 and sha512 each take longer per byte than receiving
or writing it. All of these release the GIL, so they overlap: the caller's thread reads the next
chunk into one of a few reused buffers while md5, sha512 and the store's write each work through
the chunks already read, on a thread of their own and in order. A chunk costs the slowest of the
stages rather than their sum, and reused buffers spare the allocation and page faults of a new
1 MiB object per chunk.
"""
from __future__ import annotations

import hashlib
import mmap
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from spyglass.stores.base import SizeLimitExceeded

CHUNK_SIZE = 1024 * 1024
# Chunks in flight per upload: enough that no stage waits for another's hand-off.
DEPTH = 4

# Reads into the buffer it is given and returns the number of bytes read; 0 at the end of the data.
Fill = Callable[[memoryview], int]
Sink = Callable[[memoryview], None]


@dataclass(frozen=True)
class Digests:
    size: int
    checksum: str  # md5 hex, Glance's `checksum`
    hash_value: str  # hex, of the algorithm pump() was given


def _fill_fully(fill: Fill, view: memoryview) -> int:
    """Fill the whole buffer unless the data ends first (a socket returns what it has)."""
    got = 0
    while got < len(view):
        n = fill(view[got:])
        if n == 0:
            break
        got += n
    return got


def pump(fill: Fill, sink: Sink, *, max_size: int, hash_algo: str) -> Digests:
    """Read everything `fill` gives, pass it to `sink` in order, and hash it.

    Raises SizeLimitExceeded past max_size bytes, and whatever `fill` or `sink` raise. When this
    returns or raises, no stage is still running: the caller may close or delete what `sink`
    writes to.
    """
    md5 = hashlib.md5(usedforsecurity=False)
    sha = hashlib.new(hash_algo)
    stages: tuple[Sink, ...] = (md5.update, sha.update, sink)
    lanes: list[ThreadPoolExecutor] = []
    in_flight: deque[tuple[mmap.mmap, list[Future[None]]]] = deque()
    size = 0
    try:
        while True:
            if len(in_flight) < DEPTH:
                # Anonymous memory maps are page-aligned, as O_DIRECT writes need
                # (spyglass.stores.direct_file); a bytearray's data is not.
                buf = mmap.mmap(-1, CHUNK_SIZE)
            else:
                buf, futures = in_flight.popleft()
                for future in futures:
                    future.result()
            n = _fill_fully(fill, memoryview(buf))
            size += n
            if size > max_size:
                raise SizeLimitExceeded(f"image data exceeds the limit of {max_size} bytes")
            if n == 0:
                break
            chunk = memoryview(buf)[:n]
            if n < CHUNK_SIZE and not in_flight:
                # The whole upload fits in one chunk: threads would cost more than they save.
                for stage in stages:
                    stage(chunk)
                break
            if not lanes:
                lanes = [ThreadPoolExecutor(1, thread_name_prefix="upload") for _ in stages]
            in_flight.append((buf, [lane.submit(stage, chunk) for lane, stage in zip(lanes, stages)]))
        for _, futures in in_flight:
            for future in futures:
                future.result()
    finally:
        # On an error, drop the chunks not started and wait for those being worked on: a write
        # must not land after the caller has closed (and the system reused) its file descriptor.
        for lane in lanes:
            lane.shutdown(wait=True, cancel_futures=True)
    return Digests(size=size, checksum=md5.hexdigest(), hash_value=sha.hexdigest())
