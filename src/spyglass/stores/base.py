"""The one interface every store implements."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol


@dataclass(frozen=True)
class StoredData:
    url: str
    size: int
    checksum: str  # md5 hex, Glance's `checksum`
    hash_algo: str
    hash_value: str


class StoreError(Exception):
    """The store failed; nothing was kept."""


class StoreConfigError(ValueError):
    """The stores' configuration cannot work: the service must not start on it."""


class SizeLimitExceeded(StoreError):
    pass


class DataNotFound(StoreError):
    pass


class Reader(Protocol):
    """Image data opened for reading. `file` is set when the bytes are a local file the server may
    hand to sendfile(2), positioned at the start of the requested range."""

    file: BinaryIO | None
    length: int

    def __iter__(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


class Store(Protocol):
    scheme: str

    def add(self, image_id: str, fill: Callable[[memoryview], int], *, max_size: int,
            hash_algo: str) -> StoredData:
        """Store what `fill` reads into the buffers it is given (0 at the end), with its md5 and
        its `hash_algo` digest (spyglass.stores.pipeline). On any exception nothing is left behind."""
        ...

    def open(self, url: str, offset: int = 0, length: int | None = None) -> Reader: ...

    def delete(self, url: str) -> None:
        """Remove the data; removing data that is already gone is not an error."""
        ...

    def stored_image_ids(self) -> Iterator[str]:
        """The names of the data it holds that are image IDs (partial uploads left out)."""
        ...

    def location_for(self, image_id: str) -> str:
        """Where add() puts an image's data, so an interrupted upload can be cleaned up."""
        ...

    def discard_partial(self, image_id: str) -> None:
        """Remove what an interrupted add() may have left."""
        ...
