"""The filesystem store: one file per image, named by its ID, as Glance's filesystem store lays it out."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlparse

from spyglass.stores import pipeline
from spyglass.stores.base import DataNotFound, StoredData, StoreError
from spyglass.stores.direct_file import UploadFile


class FileReader:
    def __init__(self, path: Path, offset: int, length: int | None, chunk_size: int) -> None:
        try:
            self.file: BinaryIO | None = open(path, "rb")  # noqa: SIM115 - closed by close()
        except FileNotFoundError as exc:
            raise DataNotFound(str(path)) from exc
        total = os.fstat(self.file.fileno()).st_size
        self.length = max(0, min(total - offset, length if length is not None else total))
        self.file.seek(offset)
        self._chunk_size = chunk_size

    def __iter__(self) -> Iterator[bytes]:
        assert self.file is not None
        remaining = self.length
        while remaining > 0:
            chunk = self.file.read(min(self._chunk_size, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


class FilesystemStore:
    scheme = "file"

    def __init__(self, directory: Path, chunk_size: int = 1024 * 1024, *, direct_io: bool = True) -> None:
        self.directory = directory
        self.chunk_size = chunk_size
        self.direct_io = direct_io
        directory.mkdir(parents=True, exist_ok=True)

    def path_for(self, image_id: str) -> Path:
        return self.directory / image_id

    def partial_path_for(self, image_id: str) -> Path:
        return self.directory / f"{image_id}.partial"

    def add(self, image_id: str, fill: pipeline.Fill, *, max_size: int) -> StoredData:
        final = self.path_for(image_id)
        partial = self.partial_path_for(image_id)
        try:
            out = UploadFile(partial, direct=self.direct_io)
            try:
                digests = pipeline.pump(fill, out.write, max_size=max_size)
                # The bytes must be on disk before the image can become active.
                out.sync_and_close()
            finally:
                out.close()
            os.replace(partial, final)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise StoreError(f"filesystem store failed: {exc.strerror}") from exc
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return StoredData(url=final.as_uri(), size=digests.size, checksum=digests.checksum,
                          hash_algo=pipeline.HASH_ALGO, hash_value=digests.hash_value)

    def _path(self, url: str) -> Path:
        parsed = urlparse(url)
        if parsed.scheme != "file":
            raise StoreError(f"not a file location: {parsed.scheme}")
        return Path(unquote(parsed.path))

    def open(self, url: str, offset: int = 0, length: int | None = None) -> FileReader:
        return FileReader(self._path(url), offset, length, self.chunk_size)

    def delete(self, url: str) -> None:
        self._path(url).unlink(missing_ok=True)

    def location_for(self, image_id: str) -> str:
        return self.path_for(image_id).as_uri()

    def discard_partial(self, image_id: str) -> None:
        self.partial_path_for(image_id).unlink(missing_ok=True)
