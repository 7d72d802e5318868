"""md5 and sha512 of every uploaded byte in one pass.

Hashing, not HTTP, is the upload's ceiling. hashlib releases the GIL on large buffers, so the two
digests run side by side on two threads: the md5 on a helper thread while the caller's thread runs
sha512 (the slower one), which roughly halves the time per chunk on a machine with a spare core.
"""
from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor

HASH_ALGO = "sha512"

# One small pool shared by all uploads of the process: a thread per upload would be wasteful.
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="md5")

# Below this size the hand-off to another thread costs more than it saves.
_PARALLEL_MIN = 256 * 1024


class MultiHasher:
    def __init__(self) -> None:
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha = hashlib.new(HASH_ALGO)
        self.size = 0

    def update(self, chunk: bytes | memoryview) -> None:
        self.size += len(chunk)
        if len(chunk) >= _PARALLEL_MIN:
            pending = _pool.submit(self._md5.update, chunk)
            self._sha.update(chunk)
            pending.result()
        else:
            self._md5.update(chunk)
            self._sha.update(chunk)

    @property
    def checksum(self) -> str:
        return self._md5.hexdigest()

    @property
    def hash_value(self) -> str:
        return self._sha.hexdigest()
