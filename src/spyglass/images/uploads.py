"""A journal of uploads in progress on this node, so that a crash mid-upload is undone at restart.

Before an image moves from queued to saving, a marker file named by the image ID is written with
this process's PID; it is removed once the image is active or back in queued. A marker whose process
is gone means the upload died with its server: at the next start the image goes back to queued and
its partial bytes are removed, so no image is ever left half-written or stuck in saving.
"""
from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path

from spyglass import durable
from spyglass.db.repo import ImageRepository
from spyglass.images import states
from spyglass.stores.registry import StoreRegistry

LOG = logging.getLogger(__name__)


def _process_identity(pid: int) -> str | None:
    """PID and start time (in clock ticks since boot) of a live process; None if it is gone or a
    zombie. The start time tells a reused PID from the process that wrote a marker."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    state, start_time = fields[0], fields[19]
    return None if state in ("Z", "X") else f"{pid}:{start_time}"


class UploadJournal:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def begin(self, image_id: str, store_id: str) -> Path:
        """Record an upload about to start; returns the marker that end() removes. Each upload has
        its own marker, so a second, refused upload of the same image cannot remove the first's."""
        marker = self.directory / f"{image_id}.{uuid.uuid4().hex}"
        # On disk before the image is saving: after a power cut, the image this marker names is
        # put back in queued at the next start, not left saving for good.
        durable.write_text(marker, f"{_process_identity(os.getpid())} {store_id}\n")
        return marker

    def end(self, marker: Path) -> None:
        marker.unlink(missing_ok=True)

    def recover(self, repo: ImageRepository, stores: StoreRegistry) -> list[str]:
        """Undo uploads whose process died; returns the IDs of the images put back to queued."""
        dead: dict[str, list[tuple[Path, str]]] = {}
        live: set[str] = set()
        for marker in self.directory.iterdir():
            if marker.suffix == ".tmp":
                marker.unlink(missing_ok=True)
                continue
            image_id = marker.name.split(".", 1)[0]
            try:
                owner, store_id = marker.read_text().split()
                pid = int(owner.split(":")[0])
            except (OSError, ValueError):
                owner, pid, store_id = "", 0, stores.default_id
            if pid and pid != os.getpid() and _process_identity(pid) == owner:
                live.add(image_id)  # another server on this data directory is uploading it
            else:
                dead.setdefault(image_id, []).append((marker, store_id))

        recovered = []
        for image_id, markers in dead.items():
            if image_id in live:
                continue  # its bytes belong to the live upload; these markers wait for a later start
            for _, store_id in markers:
                store = stores.stores.get(store_id, stores.default)
                store.discard_partial(image_id)
                image = repo.get(image_id)
                if image is None or image.status != states.ACTIVE:
                    store.delete(store.location_for(image_id))
            if repo.update(image_id, core={"status": states.QUEUED}, expect_status=[states.SAVING]):
                recovered.append(image_id)
                LOG.warning("upload of image %s was interrupted; the image is queued again", image_id)
            for marker, _ in markers:
                marker.unlink(missing_ok=True)
        return recovered
