"""The filesystem store: one file per image, named by its ID, as Glance's filesystem store lays it out."""
from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlparse

from spyglass import durable
from spyglass.stores import pipeline
from spyglass.stores.base import DataNotFound, StoreConfigError, StoredData, StoreError
from spyglass.stores.direct_file import UploadFile


def _file_mode(file_perm: int) -> int | None:
    if file_perm <= 0:
        return None
    try:
        mode = int(str(file_perm), 8)
    except ValueError:
        raise StoreConfigError(f"filesystem_store_file_perm {file_perm} is not an octal mode") from None
    if not mode & stat.S_IRUSR or mode > 0o7777:
        raise StoreConfigError(f"filesystem_store_file_perm {file_perm} must be a file mode that "
                               "lets the service read its own image files (owner read)")
    return mode


def _open_directory_for(directory: Path, file_mode: int) -> None:
    """Whoever the file mode lets read image files (group or others) must be able to reach them."""
    current = stat.S_IMODE(directory.stat().st_mode)
    wanted = current
    if file_mode & stat.S_IRWXG:
        wanted |= stat.S_IXGRP
    if file_mode & stat.S_IRWXO:
        wanted |= stat.S_IXOTH
    if wanted != current:
        directory.chmod(wanted)


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

    def __init__(self, directory: Path, chunk_size: int = 1024 * 1024, *, direct_io: bool = True,
                 file_perm: int = 0) -> None:
        """file_perm: Glance's filesystem_store_file_perm, octal digits written as a decimal
        number (644 means 0o644); 0 or less leaves files as created."""
        self.directory = directory
        self.chunk_size = chunk_size
        self.direct_io = direct_io
        self.file_mode = _file_mode(file_perm)
        directory.mkdir(parents=True, exist_ok=True)
        if self.file_mode is not None:
            _open_directory_for(directory, self.file_mode)

    def path_for(self, image_id: str) -> Path:
        return self.directory / image_id

    def partial_path_for(self, image_id: str) -> Path:
        return self.directory / f"{image_id}.partial"

    def add(self, image_id: str, fill: pipeline.Fill, *, max_size: int, hash_algo: str) -> StoredData:
        final = self.path_for(image_id)
        partial = self.partial_path_for(image_id)
        try:
            out = UploadFile(partial, direct=self.direct_io)
            try:
                digests = pipeline.pump(fill, out.write, max_size=max_size, hash_algo=hash_algo)
                if self.file_mode is not None:
                    # Set before the rename: the file never shows under its image's name with
                    # other permissions than configured.
                    os.fchmod(out.fd, self.file_mode)
                # The bytes must be on disk before the image can become active.
                out.sync_and_close()
            finally:
                out.close()
            os.replace(partial, final)
            # And so must the rename: after a power cut, the file must still be under the name
            # the active image's location gives, not back under its partial name.
            durable.sync_directory(self.directory)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise StoreError(f"filesystem store failed: {exc.strerror}") from exc
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return StoredData(url=final.as_uri(), size=digests.size, checksum=digests.checksum,
                          hash_algo=hash_algo, hash_value=digests.hash_value)

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

    def stored_image_ids(self) -> Iterator[str]:
        with os.scandir(self.directory) as entries:
            for entry in entries:
                if entry.is_file(follow_symlinks=False) and _is_uuid(entry.name):
                    yield entry.name

    def discard_partial(self, image_id: str) -> None:
        self.partial_path_for(image_id).unlink(missing_ok=True)


def _is_uuid(name: str) -> bool:
    try:
        uuid.UUID(name)
    except ValueError:
        return False
    return True
