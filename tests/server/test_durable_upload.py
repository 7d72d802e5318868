"""What an upload writes survives a power cut: its marker (which the next start uses to put an
interrupted upload's image back in queued) is on disk before the upload begins, and the image's
bytes are synced under the partial name, renamed to the image's name, and the rename itself synced
(the directory) before the image becomes active, so that no active image is left without its file."""
from __future__ import annotations

import json
import os
import re

from servertools import request, syscall_trace, whole_calls

MiB = 1024 * 1024


def test_an_upload_syncs_its_marker_then_its_file_then_its_rename(start_server, tmp_path):
    server = start_server(api=True)
    created = request(server.port, "POST", "/v2/images", headers={"Content-Type": "application/json"},
                      body=b'{"disk_format": "raw", "container_format": "bare"}')
    assert created.status == 201, created.body
    image_id = json.loads(created.body)["id"]
    with syscall_trace(server.worker_pids(), tmp_path, "openat,rename,renameat,renameat2,fsync,fdatasync",
                       lambda text: text.count("fsync(") >= 4) as trace:
        uploaded = request(server.port, "PUT", f"/v2/images/{image_id}/file",
                           headers={"Content-Type": "application/octet-stream"}, body=os.urandom(2 * MiB))
    assert uploaded.status == 204, uploaded.body

    calls = whole_calls(trace.text)
    images_dir = re.escape(str(server.data_dir / "images"))

    def after(start: int, pattern: str) -> tuple[int, re.Match[str]]:
        """The first call from line `start` on matching `pattern` (file descriptors are reused,
        so each is looked for after the call that opened it)."""
        for i in range(start, len(calls)):
            found = re.search(pattern, calls[i])
            if found:
                return i, found
        raise AssertionError(f"no call matching {pattern!r} after line {start} in:\n{trace.text}")

    uploads_dir = re.escape(str(server.data_dir / "uploads"))
    marker = rf"{uploads_dir}/{image_id}\.[0-9a-f]+"
    opened, tmp = after(0, rf'openat\(AT_FDCWD, "{marker}\.tmp", .*\)\s+=\s+(\d+)')
    synced, _ = after(opened, rf"fsync\({tmp.group(1)}\)")
    renamed, _ = after(synced, rf'rename(?:at2?)?\(.*"{marker}\.tmp", .*"{marker}"')
    opened_dir, directory = after(renamed, rf'openat\(AT_FDCWD, "{uploads_dir}", O_RDONLY.*O_DIRECTORY.*\)\s+=\s+(\d+)')
    marker_on_disk, _ = after(opened_dir, rf"fsync\({directory.group(1)}\)")

    opened, partial = after(marker_on_disk,
                            rf'openat\(AT_FDCWD, "{images_dir}/{image_id}\.partial", .*\)\s+=\s+(\d+)')
    file_synced, _ = after(opened, rf"f(?:data)?sync\({partial.group(1)}\)")
    renamed, _ = after(file_synced,
                       rf'rename(?:at2?)?\(.*"{images_dir}/{image_id}\.partial", .*"{images_dir}/{image_id}"')
    opened_dir, directory = after(renamed, rf'openat\(AT_FDCWD, "{images_dir}", O_RDONLY.*O_DIRECTORY.*\)\s+=\s+(\d+)')
    after(opened_dir, rf"fsync\({directory.group(1)}\)")
