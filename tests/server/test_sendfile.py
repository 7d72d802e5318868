"""Responses made of environ['wsgi.file_wrapper'] go out through sendfile(), whole files and byte
ranges alike, with the middleware of the real pipeline in front of the application."""
from __future__ import annotations

import os


from servertools import request, sendfile_trace

MiB = 1024 * 1024


def test_file_wrapper_responses_full_range_and_head(start_server):
    server = start_server()
    data = os.urandom(3 * MiB + 123)
    (server.data_dir / "blob").write_bytes(data)

    full = server.get("/files/blob")
    assert full.status == 200
    assert full.body == data

    part = server.get("/files/blob", headers={"Range": "bytes=1000000-1999999"})
    assert part.status == 206
    assert part.headers["content-range"] == f"bytes 1000000-1999999/{len(data)}"
    assert part.body == data[1000000:2000000]

    tail = server.get("/files/blob", headers={"Range": f"bytes={len(data) - 5}-"})
    assert tail.status == 206
    assert tail.body == data[-5:]

    head = request(server.port, "HEAD", "/files/blob")
    assert head.status == 200
    assert head.headers["content-length"] == str(len(data))


def test_downloads_use_sendfile(start_server, tmp_path):
    server = start_server()
    data = os.urandom(2 * MiB)
    (server.data_dir / "blob").write_bytes(data)
    # Each request goes to whichever worker accepts it; both are traced.
    with sendfile_trace(server.worker_pids(), tmp_path, expected_calls=2) as calls:
        assert server.get("/files/blob").body == data
        ranged = server.get("/files/blob", headers={"Range": "bytes=1000000-1099999"})
        assert ranged.body == data[1000000:1100000]
    assert ("0", str(len(data))) in calls, calls
    assert ("1000000", "100000") in calls, calls
