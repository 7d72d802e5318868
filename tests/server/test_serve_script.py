"""README's first command, `scripts/serve`, as a user runs it: it brings the schema up to date and
starts the service on the embedded defaults; images survive a stop and a second start."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
from pathlib import Path

import requests

from spyglass_testing import HOST, free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 180  # the script checks the virtualenv with pip first


def _serve(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SPYGLASS_DATA_DIR": str(data_dir)}
    with log.open("ab") as out:
        process = subprocess.Popen([str(ROOT / "scripts" / "serve"), "--bind", f"{HOST}:{port}"],
                                   cwd="/", env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_healthy(process, f"http://{HOST}:{port}", START_TIMEOUT, log.read_text)
    except RuntimeError:
        process.kill()
        raise
    return process


def _stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)  # the script execs the server: this is its PID
    return process.wait(timeout=60)


def test_serve_script_starts_the_service_and_keeps_images_across_restarts(tmp_path: Path) -> None:
    data_dir, log, port = tmp_path / "data", tmp_path / "serve.log", free_port()
    url = f"http://{HOST}:{port}"
    process = _serve(data_dir, port, log)
    try:
        versions = requests.get(f"{url}/versions", timeout=10).json()["versions"]
        assert any(v["id"] == "v2.17" and v["status"] == "CURRENT" for v in versions), versions
        created = requests.post(f"{url}/v2/images", timeout=10, json={
            "name": "from-the-readme", "disk_format": "raw", "container_format": "bare"})
        assert created.status_code == 201, created.text
        image_id = created.json()["id"]
        data = os.urandom(1024 * 1024 + 3)
        assert requests.put(f"{url}/v2/images/{image_id}/file", data=data, timeout=30,
                            headers={"Content-Type": "application/octet-stream"}).status_code == 204
    finally:
        assert _stop(process) == 0, log.read_text()

    # The embedded defaults: SQLite and the filesystem store, both under the data directory.
    assert (data_dir / "spyglass.sqlite").is_file()
    assert (data_dir / "images" / image_id).read_bytes() == data

    process = _serve(data_dir, port, log)
    try:
        shown = requests.get(f"{url}/v2/images/{image_id}", timeout=10).json()
        assert (shown["name"], shown["status"], shown["checksum"]) == \
            ("from-the-readme", "active", hashlib.md5(data).hexdigest())
        assert requests.get(f"{url}/v2/images/{image_id}/file", timeout=30).content == data
    finally:
        assert _stop(process) == 0, log.read_text()
