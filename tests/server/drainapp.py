"""A small WSGI application for the server tests: an upload and a download that behave like the
image data path (stream to a file, hash, clean up when the client goes away; answer downloads and
ranges with wsgi.file_wrapper), behind the same middleware the API gets."""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from oslo_config import cfg
from oslo_middleware import http_proxy_to_wsgi

from spyglass import health
from spyglass.request_id import request_id_middleware

CHUNK = 64 * 1024


def _json(start_response, status: str, body: dict) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(data)))])
    return [data]


def _upload(environ, start_response, directory: Path, name: str) -> list[bytes]:
    declared = environ.get("CONTENT_LENGTH")
    expected = int(declared) if declared else None
    partial = directory / f"{name}.part"
    digest = hashlib.sha256()
    size = 0
    stream = environ["wsgi.input"]
    try:
        with open(partial, "wb") as out:
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
        if expected is not None and size != expected:
            # gunicorn reports a client gone mid-body as a short read, not as an error.
            raise OSError(f"client sent {size} of {expected} bytes")
    except Exception as exc:
        partial.unlink(missing_ok=True)
        (directory / f"{name}.aborted").write_text(str(exc))
        raise
    partial.rename(directory / name)
    return _json(start_response, "201 Created", {"size": size, "sha256": digest.hexdigest()})


def _download(environ, start_response, directory: Path, name: str) -> object:
    path = directory / name
    if not path.is_file():
        return _json(start_response, "404 Not Found", {"error": "no such file"})
    f = open(path, "rb")  # noqa: SIM115 - closed by the server through the file wrapper
    total = os.fstat(f.fileno()).st_size
    status, start, length = "200 OK", 0, total
    headers = [("Content-Type", "application/octet-stream")]
    match = re.fullmatch(r"bytes=(\d+)-(\d*)", environ.get("HTTP_RANGE", ""))
    if match:
        start = int(match.group(1))
        end = int(match.group(2)) if match.group(2) else total - 1
        end = min(end, total - 1)
        length = end - start + 1
        status = "206 Partial Content"
        headers.append(("Content-Range", f"bytes {start}-{end}/{total}"))
    # The server sends from the file's kernel offset: nothing may have been read through the
    # buffered file, whose seek() within its buffer would not move that offset.
    f.seek(start)
    headers.append(("Content-Length", str(length)))
    start_response(status, headers)
    return environ["wsgi.file_wrapper"](f, 1024 * 1024)


def build(conf: cfg.ConfigOpts):
    directory = Path(conf.data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"worker-{os.getpid()}").touch()

    def api(environ, start_response):
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        if path == "/ping":
            return _json(start_response, "200 OK", {"pid": os.getpid()})
        if path == "/empty":
            start_response("204 No Content", [])
            return []
        if path == "/chunked":
            # No Content-Length: gunicorn frames the body in chunks.
            start_response("200 OK", [("Content-Type", "text/plain")])
            return (f"part {i}\n".encode() for i in range(3))
        m = re.fullmatch(r"/files/([A-Za-z0-9_-]+)", path)
        if m and method == "PUT":
            return _upload(environ, start_response, directory, m.group(1))
        if m and method in ("GET", "HEAD"):
            return _download(environ, start_response, directory, m.group(1))
        return _json(start_response, "404 Not Found", {"error": path})

    app = health.healthcheck_middleware(api, conf)
    app = request_id_middleware(app)
    return http_proxy_to_wsgi.HTTPProxyToWSGI(app, conf)
