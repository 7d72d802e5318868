"""How responses leave the server: a small answer's headers and body in one write, and every kind
of response (JSON, empty, chunked, sendfile) framed right on one kept-alive connection."""
from __future__ import annotations

import http.client
import os
import re

from servertools import HOST, syscall_trace

MiB = 1024 * 1024
# strace writes a call's data as a C string: `sendto(7, "HTTP/1.1 200 OK\r\n...", 180, ...`.
SENT = re.compile(r'(?:sendto|write|sendmsg)\(\d+, (?:\[\{iov_base=)?"(.*?)"(?:\.\.\.)?,')


def test_small_answer_is_one_write(start_server, tmp_path):
    server = start_server()
    conn = http.client.HTTPConnection(HOST, server.port, timeout=10)
    with syscall_trace(server.worker_pids(), tmp_path, "sendto,write,sendmsg",
                       lambda text: text.count("HTTP/1.1 200 OK") >= 2) as trace:
        for _ in range(2):
            conn.request("GET", "/ping")
            answer = conn.getresponse()
            assert answer.status == 200
            assert answer.read().startswith(b'{"pid": ')
    conn.close()
    writes = [m.group(1) for m in SENT.finditer(trace.text)]
    answers = [w for w in writes if w.startswith("HTTP/1.1 200 OK")]
    assert len(answers) == 2, trace.text
    # The body rides in the same write as the headers, and never goes out on its own.
    assert all(w.endswith('\\r\\n\\r\\n{\\"pid\\": ' + w.rsplit(" ", 1)[-1]) for w in answers), trace.text
    assert not [w for w in writes if w.startswith('{\\"pid')], trace.text


def test_every_kind_of_answer_on_one_connection(start_server):
    server = start_server()
    data = os.urandom(2 * MiB + 7)
    (server.data_dir / "blob").write_bytes(data)
    conn = http.client.HTTPConnection(HOST, server.port, timeout=10)

    def get(path: str, **headers: str) -> http.client.HTTPResponse:
        conn.request("GET", path, headers=headers)
        return conn.getresponse()

    first = get("/ping")
    assert first.status == 200 and first.read().startswith(b'{"pid": ')
    sock = conn.sock

    empty = get("/empty")
    assert empty.status == 204 and empty.read() == b""

    chunked = get("/chunked")
    assert chunked.getheader("Transfer-Encoding") == "chunked"
    assert chunked.read() == b"part 0\npart 1\npart 2\n"

    whole = get("/files/blob")  # sendfile
    assert whole.read() == data
    part = get("/files/blob", Range="bytes=100-199")
    assert part.status == 206 and part.read() == data[100:200]

    missing = get("/nothing")
    assert missing.status == 404 and b"/nothing" in missing.read()

    last = get("/ping")
    assert last.status == 200 and last.read().startswith(b'{"pid": ')
    assert conn.sock is sock, "the connection was not kept alive through every answer"
    conn.close()
