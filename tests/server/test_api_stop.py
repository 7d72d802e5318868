"""The same guarantees through `spyglass serve` and the Images API: an image upload in flight when
SIGTERM arrives completes and is there after a restart; image downloads, ranges included, go out
through sendfile()."""
from __future__ import annotations

import hashlib
import json
import os


from servertools import HOST, connect, read_response, refuses_connections, request, sendfile_trace, wait_until

MiB = 1024 * 1024


def _create_image(server) -> str:
    body = json.dumps({"name": "drain", "disk_format": "raw", "container_format": "bare"}).encode()
    response = request(server.port, "POST", "/v2/images", body=body,
                       headers={"Content-Type": "application/json"})
    assert response.status == 201, response
    return json.loads(response.body)["id"]


def _image(server, image_id: str) -> dict:
    response = server.get(f"/v2/images/{image_id}")
    assert response.status == 200, response
    return json.loads(response.body)


def _upload(server, image_id: str, data: bytes) -> None:
    response = request(server.port, "PUT", f"/v2/images/{image_id}/file", body=data,
                       headers={"Content-Type": "application/octet-stream"})
    assert response.status == 204, response


def test_image_upload_in_flight_completes_after_sigterm(start_server):
    server = start_server(api=True, graceful_shutdown_timeout=60)
    image_id = _create_image(server)
    data = os.urandom(4 * MiB)

    sock = connect(server.port, timeout=30)
    sock.sendall((f"PUT /v2/images/{image_id}/file HTTP/1.1\r\nHost: {HOST}\r\n"
                  "Content-Type: application/octet-stream\r\n"
                  f"Content-Length: {len(data)}\r\n\r\n").encode() + data[:MiB])
    wait_until(lambda: _image(server, image_id)["status"] == "saving", 10, "the upload to start")

    server.terminate()
    wait_until(lambda: refuses_connections(server.port), 15, "new connections to be refused")
    sock.sendall(data[MiB:])
    response = read_response(sock)
    sock.close()
    assert response.status == 204, response
    assert server.wait(timeout=20) == 0

    again = start_server(api=True, data_dir=server.data_dir)
    image = _image(again, image_id)
    assert image["status"] == "active"
    assert image["size"] == len(data)
    assert image["checksum"] == hashlib.md5(data).hexdigest()
    assert again.get(f"/v2/images/{image_id}/file").body == data


def test_image_downloads_use_sendfile(start_server, tmp_path):
    server = start_server(api=True)
    image_id = _create_image(server)
    data = os.urandom(3 * MiB)
    _upload(server, image_id, data)

    with sendfile_trace(server.worker_pids(), tmp_path, expected_calls=2) as calls:
        full = server.get(f"/v2/images/{image_id}/file")
        assert full.status == 200 and full.body == data
        part = server.get(f"/v2/images/{image_id}/file", headers={"Range": "bytes=1000000-1999999"})
        assert part.status == 206
        assert part.headers.get("content-length") == "1000000", part.headers
        assert part.body == data[1000000:2000000]
    assert ("0", str(len(data))) in calls, calls
    assert ("1000000", "1000000") in calls, calls


def test_image_upload_cut_at_graceful_timeout_is_left_queued(start_server):
    server = start_server(api=True, graceful_shutdown_timeout=2)
    image_id = _create_image(server)

    sock = connect(server.port, timeout=30)
    sock.sendall((f"PUT /v2/images/{image_id}/file HTTP/1.1\r\nHost: {HOST}\r\n"
                  "Content-Type: application/octet-stream\r\n"
                  f"Content-Length: {4 * MiB}\r\n\r\n").encode() + os.urandom(MiB))
    wait_until(lambda: _image(server, image_id)["status"] == "saving", 10, "the upload to start")

    server.terminate()  # and the client never sends the rest
    assert server.wait(timeout=30) == 0
    sock.close()
    assert "graceful_shutdown_timeout reached" in server.log()

    again = start_server(api=True, data_dir=server.data_dir)
    image = _image(again, image_id)
    assert image["status"] == "queued"
    assert image["size"] is None
    stored = [p for p in (server.data_dir / "images").rglob("*") if p.is_file()]
    assert stored == []
