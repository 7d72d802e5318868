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
