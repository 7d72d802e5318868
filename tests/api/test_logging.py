"""Logging with Glance's oslo.log options: `log_file`, `log_dir`, `debug`."""
from __future__ import annotations

import re
import time
from pathlib import Path


def wait_for_text(path: Path, needle: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = path.read_text(errors="replace") if path.exists() else ""
        if needle in text or time.monotonic() > deadline:
            return text
        time.sleep(0.1)


def test_log_file_takes_spyglass_and_gunicorn_messages(new_server, tmp_path):
    log_file = tmp_path / "api.log"
    server = new_server({"log_file": log_file})
    text = wait_for_text(log_file, "Booting worker")
    assert re.search(rf"INFO spyglass\.server \[-\] Spyglass \S+ serving on 127\.0\.0\.1:{server.port} "
                     r"with \d+ workers of \d+ threads", text), text
    assert "Booting worker" in text, text  # gunicorn's own messages join the same file
    assert " DEBUG " not in text, text
    # Nothing left on standard output but what the processes print before logging is set up.
    assert "serving on" not in server.log(), server.log()


def test_debug_logs_every_option_with_secrets_masked(new_server, tmp_path):
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    database = tmp_path / "db" / "spyglass.sqlite"
    database.parent.mkdir()
    server = new_server({"debug": "true", "log_dir": log_dir, "log_file": "spyglass-api.log",
                         "database.connection": f"sqlite:///{database}"})
    path = log_dir / "spyglass-api.log"
    text = wait_for_text(path, "serving on")
    assert f"serving on 127.0.0.1:{server.port}" in text, text
    assert re.search(r"DEBUG spyglass\.server \[-\] bind_port\s+= \d+", text), text
    assert re.search(r"DEBUG spyglass\.server \[-\] database\.connection\s+= \*\*\*\*", text), text
    assert str(database) not in text
    # The server works on that database: the log is not all it does.
    assert server.session().get("/v2/images").status_code == 200


def test_each_request_is_logged_with_its_request_id(new_server, tmp_path):
    log_file = tmp_path / "api.log"
    server = new_server({"log_file": log_file, "log_requests": "true"})
    session = server.session()
    ok = session.get("/v2/images?limit=3")
    missing = session.get("/v2/images/00000000-0000-4000-8000-000000000000")
    assert (ok.status_code, missing.status_code) == (200, 404)
    for resp, path, status in ((ok, "/v2/images?limit=3", 200),
                               (missing, "/v2/images/00000000-0000-4000-8000-000000000000", 404)):
        request_id = resp.headers["x-openstack-request-id"]
        text = wait_for_text(log_file, request_id)
        line = next((ln for ln in text.splitlines() if request_id in ln), "")
        assert re.search(rf'INFO spyglass\.requests \[-\] 127\.0\.0\.1 "GET {re.escape(path)} HTTP/1\.1" '
                         rf"status: {status} len: {len(resp.content)} time: \d+\.\d{{4}} "
                         rf"request_id: {request_id}$", line), text


def test_no_request_lines_by_default(new_server, tmp_path):
    log_file = tmp_path / "api.log"
    server = new_server({"log_file": log_file})
    request_id = server.session().get("/v2/images").headers["x-openstack-request-id"]
    server.stop()
    text = log_file.read_text()
    assert "serving on" in text and request_id not in text and "spyglass.requests" not in text, text
