"""/v2/images/{id}/file: stream image data in and out."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import webob
import webob.exc

from spyglass.api.base import Services, context
from spyglass.images import states

CHUNK_SIZE = 1024 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


# A server may offer the request body as a function that reads it straight into the caller's
# buffer (spyglass.gunicorn_body does for bodies of known length): `fill(buffer) -> bytes read`,
# 0 at the end. It spares a copy and an allocation per chunk, CPU that an upload hashes with.
READINTO_KEY = "spyglass.input.readinto"


def _reader_of(stream: BinaryIO) -> Callable[[memoryview], int]:
    """The same function over a plain wsgi.input."""

    def fill(buffer: memoryview) -> int:
        data = stream.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    return fill


def upload(services: Services, req: webob.Request, image_id: str) -> webob.Response:
    if req.content_type != "application/octet-stream":
        raise webob.exc.HTTPUnsupportedMediaType(
            explanation=f"Unsupported Content-Type '{req.content_type}': use application/octet-stream.")
    # The body must be exactly as long as declared: by Content-Length, or by the image size hint
    # the clients send with chunked uploads. Anything else is a truncated or padded upload.
    declared: int | None = None
    for header in ("Content-Length", "X-OpenStack-Image-Size"):
        value = req.headers.get(header)
        if value in (None, ""):
            continue
        if not value.isdigit():
            raise webob.exc.HTTPBadRequest(explanation=f"Invalid {header} header: {value!r}.")
        if declared is not None and int(value) != declared:
            raise webob.exc.HTTPBadRequest(
                explanation=f"Content-Length {declared} and X-OpenStack-Image-Size {value} disagree.")
        declared = int(value)
    fill = req.environ.get(READINTO_KEY) or _reader_of(req.environ["wsgi.input"])
    services.data.upload(context(req), image_id, fill, declared)
    return webob.Response(status=204)


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """Returns (offset, length) of the single byte range asked for; None for the whole image.

    As Glance: several ranges are 400, every other range that cannot be served (malformed ones
    included) 416."""
    if "," in header:
        raise webob.exc.HTTPBadRequest(
            explanation=f"Invalid Range header '{header}': one range, as bytes=first-last, is supported.")
    found = _RANGE.match(header.strip())
    if found is None or found.group(1) == found.group(2) == "":
        raise _unsatisfiable(size, f"Invalid Range header '{header}': expected bytes=first-last, "
                                   "bytes=first- or bytes=-count.")
    first, last = found.group(1), found.group(2)
    if first == "":  # the final N bytes
        length = min(int(last), size)
        if length == 0:
            raise _unsatisfiable(size, f"Range '{header}' selects no byte of the {size}.")
        return size - length, length
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if last and int(last) < start:
        raise _unsatisfiable(size, f"Invalid Range header '{header}': last byte before first.")
    if start >= size:
        raise _unsatisfiable(size, f"Invalid start position in Range header. Start position MUST be in the "
                                   f"inclusive range [0, {size - 1}].")
    return start, end - start + 1


def _content_range_as_range(header: str, size: int) -> str:
    found = re.match(r"^bytes (\d+)-(\d+)/(\d+|\*)$", header.strip())
    if found is None:
        raise _unsatisfiable(size, f"Invalid Content-Range header '{header}'.")
    return f"bytes={found.group(1)}-{found.group(2)}"


def _unsatisfiable(size: int, explanation: str) -> webob.exc.HTTPRequestRangeNotSatisfiable:
    return webob.exc.HTTPRequestRangeNotSatisfiable(explanation=explanation,
                                                     headers=[("Content-Range", f"bytes */{size}")])


def download(services: Services, req: webob.Request, image_id: str) -> webob.Response:
    image = services.data.prepare_download(context(req), image_id)
    if image.status not in (states.ACTIVE, states.DEACTIVATED) or not image.locations or image.size is None:
        return webob.Response(status=204, content_type=None)
    size = image.size
    wanted = None
    if req.headers.get("Range"):
        wanted = parse_range(req.headers["Range"], size)
    elif req.headers.get("Content-Range"):
        # Older clients ask for a range with a request Content-Range ("bytes 0-99/*").
        wanted = parse_range(_content_range_as_range(req.headers["Content-Range"], size), size)
    offset, length = wanted if wanted else (0, size)
    reader = services.data.open(image, offset, length)

    resp = webob.Response(status=206 if wanted else 200, content_type="application/octet-stream")
    if wanted:
        resp.headers["Content-Range"] = f"bytes {offset}-{offset + reader.length - 1}/{size}"
    if image.checksum:
        # The MD5 of the whole image, on partial responses too (as Glance sends it).
        resp.headers["Content-MD5"] = image.checksum
    file_wrapper: Any = req.environ.get("wsgi.file_wrapper")
    if reader.file is not None and file_wrapper is not None:
        # The server hands the open file to sendfile(2): no copy through Python. It sends
        # Content-Length bytes from the file's current position (the range's start).
        resp.app_iter = file_wrapper(reader.file, CHUNK_SIZE)
    else:
        resp.app_iter = _closing(reader)
    # After app_iter: assigning app_iter clears the length webob knew.
    resp.content_length = reader.length
    return resp


def _closing(reader: Any) -> Iterator[bytes]:
    try:
        yield from reader
    finally:
        reader.close()


