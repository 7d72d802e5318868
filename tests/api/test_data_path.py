"""Uploads and downloads through the real server: hashes, ranges, inspection, and failed uploads
that must leave the image queued with no bytes stored."""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import socket
import time
import uuid

import pytest
import requests

from imagecheck import assert_error
from sample_images import qcow2

from spyglass_testing import HOST


def _create(session: requests.Session, **attrs: object) -> dict:
    body = {"name": f"data-{uuid.uuid4().hex[:8]}", "disk_format": "raw", "container_format": "bare", **attrs}
    resp = session.post("/v2/images", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def _upload(session: requests.Session, image_id: str, data: object, **headers: str) -> requests.Response:
    return session.put(f"/v2/images/{image_id}/file", data=data,
                       headers={"Content-Type": "application/octet-stream", **headers})


def _stored_files(server, image_id: str) -> list[str]:
    images_dir = server.data_dir / "images"
    return sorted(p.name for p in images_dir.iterdir() if p.name.startswith(image_id)) if images_dir.exists() else []


@pytest.fixture
def project(spyglass_server) -> requests.Session:
    return spyglass_server.session(project_id=uuid.uuid4().hex)


def test_upload_computes_hashes_and_download_returns_the_bytes(spyglass_server, project):
    data = os.urandom(3 * 1024 * 1024 + 17)
    image = _create(project)
    assert _upload(project, image["id"], data).status_code == 204

    shown = project.get(f"/v2/images/{image['id']}").json()
    assert shown["status"] == "active"
    assert shown["size"] == len(data)
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert shown["os_hash_algo"] == "sha512"
    assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert shown["virtual_size"] == len(data)
    assert "stores" not in shown  # as Glance 33 with a single store
    assert (spyglass_server.data_dir / "images" / image["id"]).read_bytes() == data

    resp = project.get(f"/v2/images/{image['id']}/file")
    assert resp.status_code == 200
    assert resp.content == data
    assert resp.headers["Content-Type"] == "application/octet-stream"
    assert resp.headers["Content-Length"] == str(len(data))
    assert resp.headers["Content-MD5"] == hashlib.md5(data).hexdigest()


@pytest.mark.parametrize("direct_io", [True, False])
def test_stored_bytes_whatever_the_write_path(new_server, direct_io):
    # Whole chunks go to the disk with O_DIRECT where it is on; a short last chunk, a small
    # image and everything with it off go through the page cache. The bytes must not care.
    server = new_server({"glance_store.filesystem_store_direct_io": direct_io})
    session = server.session(project_id=uuid.uuid4().hex)
    for size in (2 * 1024 * 1024, 3 * 1024 * 1024 + 4097, 1000, 0):
        data = os.urandom(size)
        image = _create(session)
        assert _upload(session, image["id"], data).status_code == 204
        shown = session.get(f"/v2/images/{image['id']}").json()
        assert (shown["status"], shown["size"]) == ("active", size)
        assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()
        assert (server.data_dir / "images" / image["id"]).read_bytes() == data


def test_hashing_algorithm_applies_to_new_uploads_and_old_images_keep_theirs(new_server, tmp_path):
    data_dir = tmp_path / "rehashed"
    first = new_server(data_dir=data_dir)
    session = first.session(project_id=uuid.uuid4().hex)
    before, old_data = _create(session), os.urandom(5000)
    assert _upload(session, before["id"], old_data).status_code == 204
    first.stop()

    server = new_server({"hashing_algorithm": "sha256"}, data_dir=data_dir)
    session = server.session(project_id=session.headers["X-Project-Id"])
    for size in (1000, 3 * 1024 * 1024 + 1):  # one chunk, and the threaded pipeline
        data = os.urandom(size)
        image = _create(session)
        assert _upload(session, image["id"], data).status_code == 204
        shown = session.get(f"/v2/images/{image['id']}").json()
        assert (shown["os_hash_algo"], shown["os_hash_value"]) == ("sha256", hashlib.sha256(data).hexdigest())
        assert shown["checksum"] == hashlib.md5(data).hexdigest()
    shown = session.get(f"/v2/images/{before['id']}").json()
    assert (shown["os_hash_algo"], shown["os_hash_value"]) == ("sha512", hashlib.sha512(old_data).hexdigest())


@pytest.mark.parametrize("algorithm", ["sha257", "shake_128"])
def test_a_hashing_algorithm_that_cannot_be_used_stops_the_start(new_server, algorithm):
    with pytest.raises(RuntimeError) as failed:
        new_server({"hashing_algorithm": algorithm})
    output = str(failed.value)
    assert re.search(rf"^spyglass: .*hashing_algorithm.*{algorithm}", output, re.MULTILINE), output
    assert "Traceback" not in output


def test_chunked_upload_without_content_length(project):
    data = os.urandom(2 * 1024 * 1024 + 5)
    image = _create(project)
    chunks = (data[i:i + 65536] for i in range(0, len(data), 65536))
    assert _upload(project, image["id"], chunks).status_code == 204
    assert project.get(f"/v2/images/{image['id']}/file").content == data


def test_byte_ranges(project):
    data = bytes(range(256)) * 40
    image = _create(project)
    _upload(project, image["id"], data)
    url = f"/v2/images/{image['id']}/file"
    for header, expected, content_range in (
        ("bytes=0-9", data[:10], f"bytes 0-9/{len(data)}"),
        ("bytes=100-", data[100:], f"bytes 100-{len(data) - 1}/{len(data)}"),
        ("bytes=-10", data[-10:], f"bytes {len(data) - 10}-{len(data) - 1}/{len(data)}"),
        ("bytes=5000-999999", data[5000:], f"bytes 5000-{len(data) - 1}/{len(data)}"),
    ):
        resp = project.get(url, headers={"Range": header})
        assert resp.status_code == 206, (header, resp.text)
        assert resp.content == expected, header
        assert resp.headers["Content-Range"] == content_range
        assert resp.headers["Content-Length"] == str(len(expected))
        assert resp.headers["Content-MD5"] == hashlib.md5(data).hexdigest()
    resp = project.get(url, headers={"Range": f"bytes={len(data)}-"})
    assert resp.status_code == 416
    assert resp.headers["Content-Range"] == f"bytes */{len(data)}"


def test_image_without_data_answers_204(project):
    image = _create(project)
    resp = project.get(f"/v2/images/{image['id']}/file")
    assert resp.status_code == 204
    assert resp.content == b""


def test_second_upload_is_a_conflict_and_keeps_the_first(spyglass_server, project):
    first = os.urandom(4096)
    image = _create(project)
    _upload(project, image["id"], first)
    resp = _upload(project, image["id"], os.urandom(4096))
    assert resp.status_code == 409
    assert project.get(f"/v2/images/{image['id']}/file").content == first
    assert project.get(f"/v2/images/{image['id']}").json()["checksum"] == hashlib.md5(first).hexdigest()


def test_connection_stays_usable_after_a_refused_upload(project):
    # A refused upload leaves most of its body unread; the server must say it closes the
    # connection, so that the client's next request goes out on a new one.
    image = _create(project)
    _upload(project, image["id"], b"x" * 1000)
    for _ in range(5):
        body = iter([os.urandom(65536)] * 32)  # chunked, 2 MiB
        assert _upload(project, image["id"], body).status_code == 409
        assert project.get(f"/v2/images/{image['id']}").status_code == 200


def _read_response(stream) -> tuple[int, dict[str, str], bytes]:
    status = int(stream.readline().split()[1])
    headers = {}
    while (line := stream.readline().strip()):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, stream.read(int(headers.get("content-length", 0)))


@pytest.mark.parametrize("size", [100, 3 * 1024 * 1024 + 5])
def test_upload_and_the_next_request_in_one_write(spyglass_server, project, size):
    # Headers, body and the next request arrive together, so the server has read past the body
    # before the upload starts: those bytes are the image's end and the next request's start.
    image = _create(project)
    data = os.urandom(size)
    identity = "".join(f"{k}: {v}\r\n" for k, v in project.headers.items() if k.startswith("X-"))
    upload = (f"PUT /v2/images/{image['id']}/file HTTP/1.1\r\nHost: {HOST}\r\n{identity}"
              f"Content-Type: application/octet-stream\r\nContent-Length: {size}\r\n\r\n").encode() + data
    show = f"GET /v2/images/{image['id']} HTTP/1.1\r\nHost: {HOST}\r\n{identity}\r\n".encode()
    with socket.create_connection((HOST, spyglass_server.port), timeout=30) as sock:
        sock.sendall(upload + show)
        stream = sock.makefile("rb")
        status, headers, _ = _read_response(stream)
        assert status == 204
        assert headers.get("connection") != "close"
        status, _, body = _read_response(stream)
    assert status == 200, body
    shown = json.loads(body)
    assert (shown["status"], shown["size"], shown["checksum"]) == ("active", size, hashlib.md5(data).hexdigest())
    assert project.get(f"/v2/images/{image['id']}/file").content == data


def test_uploads_one_after_another_on_one_connection(spyglass_server, project):
    images = [_create(project) for _ in range(3)]
    payloads = [os.urandom(n) for n in (1, 1024 * 1024, 2 * 1024 * 1024 + 3)]
    identity = {k: v for k, v in project.headers.items() if k.startswith("X-")}
    conn = http.client.HTTPConnection(HOST, spyglass_server.port, timeout=30)
    sockets = []
    try:
        for image, data in zip(images, payloads):
            conn.request("PUT", f"/v2/images/{image['id']}/file", body=data,
                         headers={"Content-Type": "application/octet-stream", **identity})
            sockets.append(conn.sock)
            resp = conn.getresponse()
            assert resp.status == 204, resp.read()
            resp.read()
            assert resp.getheader("Connection") != "close"
    finally:
        conn.close()
    assert all(sock is sockets[0] for sock in sockets)  # the same connection all along
    for image, data in zip(images, payloads):
        assert project.get(f"/v2/images/{image['id']}/file").content == data


def test_declared_size_that_does_not_match_leaves_image_queued(spyglass_server, project):
    image = _create(project)
    data = os.urandom(10000)
    resp = _upload(project, image["id"], iter([data]), **{"X-OpenStack-Image-Size": "20000"})
    assert resp.status_code == 400
    shown = project.get(f"/v2/images/{image['id']}").json()
    assert shown["status"] == "queued" and shown["size"] is None and shown["checksum"] is None
    assert _stored_files(spyglass_server, image["id"]) == []
    # The client can simply try again.
    assert _upload(project, image["id"], data).status_code == 204


def test_valid_qcow2_is_accepted_with_its_virtual_size(project):
    image = _create(project, disk_format="qcow2")
    data = qcow2(virtual_size=1024 * 1024 * 1024)
    assert _upload(project, image["id"], data).status_code == 204
    shown = project.get(f"/v2/images/{image['id']}").json()
    assert shown["status"] == "active"
    assert shown["virtual_size"] == 1024 * 1024 * 1024
    assert shown["size"] == len(data)


@pytest.mark.parametrize("disk_format, make", [
    ("qcow2", lambda: os.urandom(256 * 1024)),                     # not a qcow2 at all
    ("qcow2", lambda: qcow2(backing_file="/etc/passwd")),         # backing file: reads the host's files
    ("qcow2", lambda: qcow2(data_file="/dev/sda")),               # external data file
    ("raw", lambda: qcow2(backing_file="/etc/shadow")),           # an unsafe qcow2 posing as raw
])
def test_unsafe_or_mislabelled_content_is_refused_and_nothing_kept(spyglass_server, project, disk_format, make):
    image = _create(project, disk_format=disk_format)
    resp = _upload(project, image["id"], make())
    assert resp.status_code == 400, resp.text
    assert "not acceptable" in resp.text
    shown = project.get(f"/v2/images/{image['id']}").json()
    assert shown["status"] == "queued"
    assert shown["checksum"] is None and shown["size"] is None
    assert _stored_files(spyglass_server, image["id"]) == []


def test_clean_qcow2_declared_raw_is_accepted_as_glance_does(project):
    # Glance 33 lets a raw image hold any content that passes the safety checks of what it is.
    image = _create(project, disk_format="raw")
    assert _upload(project, image["id"], qcow2()).status_code == 204
    assert project.get(f"/v2/images/{image['id']}").json()["status"] == "active"


def _start_slow_upload(url_port: int, image_id: str, total: int, sent: int,
                       headers: dict[str, str] | None = None) -> socket.socket:
    """Open an upload of `total` bytes and send only `sent` of them; the socket stays open."""
    sock = socket.create_connection((HOST, url_port), timeout=30)
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    sock.sendall((f"PUT /v2/images/{image_id}/file HTTP/1.1\r\nHost: {HOST}\r\n"
                  f"Content-Type: application/octet-stream\r\nContent-Length: {total}\r\n{extra}\r\n").encode())
    sock.sendall(b"\x00" * sent)
    return sock


def _wait_for_status(session: requests.Session, image_id: str, status: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        doc = session.get(f"/v2/images/{image_id}").json()
        if doc["status"] == status:
            return doc
        assert time.monotonic() < deadline, f"image stayed {doc['status']}, expected {status}"
        time.sleep(0.05)


def test_dropped_connection_leaves_image_queued_without_bytes(spyglass_server, project):
    image = _create(project)
    sock = _start_slow_upload(spyglass_server.port, image["id"], total=8 * 1024 * 1024, sent=1024 * 1024,
                              headers={k: v for k, v in project.headers.items() if k.startswith("X-")})
    _wait_for_status(project, image["id"], "saving")
    sock.close()
    _wait_for_status(project, image["id"], "queued")
    deadline = time.monotonic() + 10
    while _stored_files(spyglass_server, image["id"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _stored_files(spyglass_server, image["id"]) == []


def test_client_silent_mid_upload_times_out_and_leaves_image_queued(new_server):
    server = new_server({"client_socket_timeout": 1})
    session = server.session(project_id=uuid.uuid4().hex)
    image = _create(session)
    sock = _start_slow_upload(server.port, image["id"], total=8 * 1024 * 1024, sent=3 * 1024 * 1024 + 7,
                              headers={k: v for k, v in session.headers.items() if k.startswith("X-")})
    try:
        _wait_for_status(session, image["id"], "saving")
        # Nothing more is sent: after client_socket_timeout the server gives up on the body.
        _wait_for_status(session, image["id"], "queued", timeout=20)
        assert _stored_files(server, image["id"]) == []
    finally:
        sock.close()


def test_store_write_failure_answers_503_and_leaves_image_queued(new_server):
    # The store's disk refuses to grow the file past 4 MiB (EFBIG, as ENOSPC on a full disk)
    # while the write runs on its own thread beside the hashing.
    server = new_server(file_size_limit=4 * 1024 * 1024)
    session = server.session(project_id=uuid.uuid4().hex)
    image = _create(session)
    resp = _upload(session, image["id"], os.urandom(8 * 1024 * 1024), Accept="application/json")
    assert_error(resp, 503, "store could not save", "File too large")
    assert session.get(f"/v2/images/{image['id']}").json()["status"] == "queued"
    assert _stored_files(server, image["id"]) == []
    # The image takes an upload that fits once the store can write it.
    data = os.urandom(1024 * 1024)
    assert _upload(session, image["id"], data).status_code == 204
    assert session.get(f"/v2/images/{image['id']}/file").content == data


def test_server_killed_mid_upload_restarts_with_image_queued_and_no_bytes(new_server):
    server = new_server()
    admin = server.session()
    image = _create(admin)
    sock = _start_slow_upload(server.port, image["id"], total=64 * 1024 * 1024, sent=4 * 1024 * 1024)
    _wait_for_status(admin, image["id"], "saving")
    deadline = time.monotonic() + 10
    while not _stored_files(server, image["id"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _stored_files(server, image["id"]), "the upload should have started writing bytes"

    server.kill()  # SIGKILL to the server and its workers: nothing gets to clean up
    sock.close()
    server.start()

    shown = admin.get(f"/v2/images/{image['id']}").json()
    assert shown["status"] == "queued"
    assert shown["size"] is None and shown["checksum"] is None
    assert _stored_files(server, image["id"]) == []
    data = os.urandom(100_000)
    assert _upload(admin, image["id"], data).status_code == 204
    assert admin.get(f"/v2/images/{image['id']}/file").content == data


def test_file_perm_sets_the_mode_of_stored_images(new_server):
    # Glance's filesystem_store_file_perm: octal digits; group and other bits open the directory.
    server = new_server({"glance_store.filesystem_store_file_perm": "0644"})
    images_dir = server.data_dir / "images"
    assert images_dir.stat().st_mode & 0o011 == 0o011
    session = server.session()
    image = _create(session)
    assert _upload(session, image["id"], os.urandom(3 * 1024 * 1024 + 1)).status_code == 204
    assert (images_dir / image["id"]).stat().st_mode & 0o7777 == 0o644


@pytest.mark.parametrize(("options", "message"), [
    ({"glance_store.filesystem_store_file_perm": "200"}, "owner read"),
    ({"glance_store.filesystem_store_file_perm": "0689"}, "not an octal mode"),
    ({"glance_store.stores": "swift", "glance_store.default_store": "swift"}, "'swift' is not supported yet"),
    ({"glance_store.default_store": "rbd"}, "default_store 'rbd' is not one of the enabled stores"),
])
def test_a_store_configuration_that_cannot_work_stops_the_start(new_server, options, message):
    with pytest.raises(RuntimeError) as failed:
        new_server(options)
    output = str(failed.value)
    assert re.search(rf"^spyglass: .*{re.escape(message)}", output, re.MULTILINE), output
    assert "Traceback" not in output
