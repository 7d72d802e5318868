"""SIGTERM: drain (503 on /healthcheck while serving), stop accepting, finish transfers in flight
up to graceful_shutdown_timeout, then exit 0."""
from __future__ import annotations

import hashlib
import os
import signal
import socket

from servertools import (HOST, connect, read_response, refuses_connections, request, wait_until)

MiB = 1024 * 1024


def _start_upload(server, name: str, total: int, first: bytes) -> socket.socket:
    sock = connect(server.port, timeout=30)
    sock.sendall((f"PUT /files/{name} HTTP/1.1\r\nHost: {HOST}\r\n"
                  f"Content-Length: {total}\r\n\r\n").encode() + first)
    # In flight once the application has started writing the body to its file.
    wait_until(lambda: (server.data_dir / f"{name}.part").exists(), 10, "the upload to start")
    return sock


def _assert_closed_without_success(sock) -> None:
    """The server ends the connection of an unfinished upload without answering it with a 2xx."""
    sock.settimeout(30)
    try:
        leftover = sock.recv(65536)
    except ConnectionResetError:
        leftover = b""
    sock.close()
    assert not leftover.startswith(b"HTTP/1.1 2"), leftover


def test_upload_in_flight_completes_after_sigterm(start_server):
    server = start_server(graceful_shutdown_timeout=60)
    body = os.urandom(4 * MiB)
    sock = _start_upload(server, "up", len(body), body[:MiB])

    server.terminate()
    wait_until(lambda: refuses_connections(server.port), 15, "new connections to be refused")
    assert server.process.poll() is None, "the server exited with an upload in flight"

    sock.sendall(body[MiB:])
    response = read_response(sock)
    sock.close()
    assert response.status == 201, response
    assert response.headers["connection"] == "close"
    assert b'"size": %d' % len(body) in response.body
    assert hashlib.sha256(body).hexdigest().encode() in response.body
    assert (server.data_dir / "up").read_bytes() == body

    assert server.wait(timeout=20) == 0
    assert "Traceback" not in server.log()


def test_download_in_flight_completes_after_sigterm(start_server):
    server = start_server(graceful_shutdown_timeout=60)
    data = os.urandom(48 * MiB)  # well beyond what loopback socket buffers hold
    (server.data_dir / "down").write_bytes(data)

    sock = connect(server.port, timeout=30)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.sendall(f"GET /files/down HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 200"), head
    received = bytearray(head.partition(b"\r\n\r\n")[2])

    server.terminate()
    wait_until(lambda: refuses_connections(server.port), 15, "new connections to be refused")
    assert server.process.poll() is None, "the server exited with a download in flight"

    while len(received) < len(data):
        chunk = sock.recv(MiB)
        assert chunk, f"download cut after {len(received)} of {len(data)} bytes"
        received += chunk
    sock.close()
    assert received == data

    assert server.wait(timeout=20) == 0


def test_request_past_graceful_timeout_is_cut_and_server_exits(start_server):
    server = start_server(graceful_shutdown_timeout=2)
    sock = _start_upload(server, "stalled", 4 * MiB, b"x" * 1000)

    server.terminate()
    # The client never sends the rest: the server must close the connection and still exit.
    _assert_closed_without_success(sock)
    assert server.wait(timeout=30) == 0

    # The connection was shut down under the application, which saw the short body and cleaned
    # up as for any dropped client; a killed worker could not have.
    assert not (server.data_dir / "stalled.part").exists()
    assert "4194304" in (server.data_dir / "stalled.aborted").read_text()
    assert "graceful_shutdown_timeout reached" in server.log()


def test_drain_delay_fails_healthcheck_while_still_serving(start_server):
    server = start_server(drain_delay=6, graceful_shutdown_timeout=10)
    assert server.get("/healthcheck").status == 200

    server.terminate()
    health = wait_until(lambda: (r := server.get("/healthcheck")).status == 503 and r, 5,
                        "/healthcheck to answer 503")
    assert b"DRAINING" in health.body
    # Everything else is still served, on connections that the server asks to close.
    for _ in range(4):
        response = server.get("/ping")
        assert response.status == 200
        assert response.headers["connection"] == "close"
    assert server.process.poll() is None

    wait_until(lambda: refuses_connections(server.port), 20, "new connections to be refused")
    assert server.wait(timeout=15) == 0


def test_sigterm_to_every_process_keeps_workers_serving_through_the_drain(start_server):
    # systemd's default KillMode=control-group signals the master and the workers at once.
    server = start_server(drain_delay=6, graceful_shutdown_timeout=10)
    workers = server.worker_pids()
    assert len(workers) == 2

    os.killpg(server.pid, signal.SIGTERM)
    wait_until(lambda: server.get("/healthcheck").status == 503, 5, "/healthcheck to answer 503")
    answered_by = {int(server.get("/ping").body.split(b":")[1].strip(b" }")) for _ in range(8)}
    assert answered_by <= set(workers)
    assert server.worker_pids() == workers, "a worker stopped before the drain delay was over"

    wait_until(lambda: refuses_connections(server.port), 20, "new connections to be refused")
    assert server.wait(timeout=15) == 0


def test_sigterm_without_drain_delay_stops_at_once(start_server):
    server = start_server(drain_delay=0, graceful_shutdown_timeout=30)
    # An idle kept-alive connection does not hold the stop for its keepalive timeout.
    idle = connect(server.port)
    idle.sendall(f"GET /ping HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
    assert read_response(idle).headers["connection"] == "keep-alive"

    server.terminate()
    assert server.wait(timeout=10) == 0
    assert refuses_connections(server.port)
    idle.settimeout(5)
    assert idle.recv(1) == b""
    idle.close()


def test_healthcheck_disable_file(start_server, tmp_path):
    flag = tmp_path / "disabled"
    server = start_server(**{"healthcheck.disable_by_file_path": flag})
    assert server.get("/healthcheck").status == 200

    flag.touch()
    response = server.get("/healthcheck")
    assert response.status == 503
    assert b"DISABLED BY FILE" in response.body
    assert request(server.port, "HEAD", "/healthcheck").status == 503
    assert server.get("/ping").status == 200

    flag.unlink()
    assert server.get("/healthcheck").status == 200


def test_client_silent_mid_body_frees_its_thread(start_server):
    server = start_server(client_socket_timeout=1)
    sock = _start_upload(server, "silent", 4 * MiB, b"x" * 1000)
    _assert_closed_without_success(sock)
    wait_until(lambda: (server.data_dir / "silent.aborted").exists(), 10, "the upload to fail")
    assert not (server.data_dir / "silent.part").exists()
    assert server.get("/ping").status == 200


def test_second_sigterm_ends_the_drain_delay(start_server):
    server = start_server(drain_delay=600)
    server.terminate()
    wait_until(lambda: server.get("/healthcheck").status == 503, 5, "/healthcheck to answer 503")
    server.terminate()
    assert server.wait(timeout=15) == 0
