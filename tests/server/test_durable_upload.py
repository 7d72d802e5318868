"""An upload is on disk before its image is active: the bytes are synced under the partial name,
renamed to the image's name, and the rename itself is synced (the directory), so that a power cut
after the image became active cannot leave it without its file."""
from __future__ import annotations

import json
import os
import re

from servertools import request, syscall_trace

MiB = 1024 * 1024


def test_an_upload_syncs_its_file_then_its_rename(start_server, tmp_path):
    server = start_server(api=True)
    created = request(server.port, "POST", "/v2/images", headers={"Content-Type": "application/json"},
                      body=b'{"disk_format": "raw", "container_format": "bare"}')
    assert created.status == 201, created.body
    image_id = json.loads(created.body)["id"]
    with syscall_trace(server.worker_pids(), tmp_path, "openat,rename,renameat,renameat2,fsync,fdatasync",
                       lambda text: text.count("fsync(") >= 2) as trace:
        uploaded = request(server.port, "PUT", f"/v2/images/{image_id}/file",
                           headers={"Content-Type": "application/octet-stream"}, body=os.urandom(2 * MiB))
    assert uploaded.status == 204, uploaded.body

    calls = trace.text.splitlines()
    images_dir = re.escape(str(server.data_dir / "images"))

    def after(start: int, pattern: str) -> tuple[int, re.Match[str]]:
        """The first call from line `start` on matching `pattern` (file descriptors are reused,
        so each is looked for after the call that opened it)."""
        for i in range(start, len(calls)):
            found = re.search(pattern, calls[i])
            if found:
                return i, found
        raise AssertionError(f"no call matching {pattern!r} after line {start} in:\n{trace.text}")

    opened, partial = after(0, rf'openat\(AT_FDCWD, "{images_dir}/{image_id}\.partial", .*\) = (\d+)')
    file_synced, _ = after(opened, rf"f(?:data)?sync\({partial.group(1)}\)")
    renamed, _ = after(file_synced,
                       rf'rename(?:at2?)?\(.*"{images_dir}/{image_id}\.partial", .*"{images_dir}/{image_id}"')
    opened_dir, directory = after(renamed, rf'openat\(AT_FDCWD, "{images_dir}", O_RDONLY.*O_DIRECTORY.*\) = (\d+)')
    after(opened_dir, rf"fsync\({directory.group(1)}\)")
