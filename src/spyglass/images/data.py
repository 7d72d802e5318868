"""Image data: upload (hash, inspect, store, activate) and download."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from spyglass.context import RequestContext
from spyglass.db import repo as db
from spyglass.images import states
from spyglass.images.errors import BadRequest, Conflict, Forbidden, NotFound, QuotaExceeded, ServiceUnavailable
from spyglass.images.inspection import ContentInspector, ImageFormatRejected
from spyglass.images.service import ImageService
from spyglass.images.uploads import UploadJournal
from spyglass.model import Image, Location
from spyglass.stores.base import Reader, SizeLimitExceeded, Store, StoreError

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class InspectionSettings:
    require_format_match: bool
    vmdk_allowed_types: tuple[str, ...]
    gpt_safety_checks_nonfatal: tuple[str, ...]


class IncompleteUpload(Exception):
    """The client sent fewer bytes than it declared (a dropped connection)."""


class _CheckedBody:
    """The upload body as the store reads it: counted against the declared length, and shown to
    the content inspector on its way."""

    def __init__(self, fill: Callable[[memoryview], int], inspector: ContentInspector,
                 declared_length: int | None) -> None:
        self._fill = fill
        self._inspector = inspector
        self._declared = declared_length
        self.received = 0

    def __call__(self, buffer: memoryview) -> int:
        n = self._fill(buffer)
        declared = self._declared
        if n == 0:
            if declared is not None and self.received != declared:
                raise IncompleteUpload(f"received {self.received} of {declared} bytes")
            return 0
        self.received += n
        if declared is not None and self.received > declared:
            raise BadRequest(f"Request body is longer than the {declared} bytes declared")
        chunk = buffer[:n]
        # The store reuses its buffers: what the inspector keeps must be a copy.
        self._inspector.feed(bytes(chunk) if self._inspector.wants_data else chunk)
        return n


class ImageData:
    def __init__(self, images: ImageService, journal: UploadJournal, inspection: InspectionSettings,
                 hash_algo: str) -> None:
        self.images = images
        self.journal = journal
        self.inspection = inspection
        self.hash_algo = hash_algo  # os_hash_algo of what is uploaded from now on

    def upload(self, ctx: RequestContext, image_id: str, fill: Callable[[memoryview], int],
               declared_length: int | None) -> Image:
        """Store the body that `fill` reads into the buffers it is given (0 at the end)."""
        svc = self.images
        image = svc.authorized(ctx, image_id, "upload_image")
        if image.status != states.QUEUED:
            raise Conflict(f"Image status transition from {image.status} to saving is not allowed")
        if not image.disk_format or not image.container_format:
            raise BadRequest("Properties disk_format, container_format must be set prior to saving data.")
        cap = svc.quotas.image_size_cap
        if declared_length is not None and declared_length > cap:
            raise QuotaExceeded(f"Image data of {declared_length} bytes exceeds the limit of {cap} bytes.")
        # As Glance: the project's room is counted before (an upload of unknown size is refused only
        # when there is none), limits the stream, and is counted again as the image becomes active.
        room = self._storage_room(ctx, image_id)
        if room is not None and (room <= 0 if declared_length is None else declared_length > room):
            raise self._storage_full(declared_length, room)
        max_size = cap if room is None else min(cap, room)

        store_id = svc.stores.default_id
        store = svc.stores.default
        marker = self.journal.begin(image_id, store_id)
        try:
            # The formats the content is inspected against must be the image's until it is active:
            # they can change only while it is queued (ImageService.update), so not after this.
            if not svc.repo.update(image_id, core={"status": states.SAVING}, expect_status=[states.QUEUED],
                                   expect={"disk_format": image.disk_format,
                                           "container_format": image.container_format}):
                raise Conflict(f"Image {image_id} is no longer queued as it was read (another upload may "
                               "have started, or its formats changed); try again.")
            inspector = ContentInspector(
                image.disk_format, container_format=image.container_format,
                require_format_match=self.inspection.require_format_match,
                vmdk_allowed_types=self.inspection.vmdk_allowed_types,
                gpt_safety_checks_nonfatal=self.inspection.gpt_safety_checks_nonfatal)
            try:
                stored = store.add(image_id, _CheckedBody(fill, inspector, declared_length), max_size=max_size,
                                   hash_algo=self.hash_algo)
            except BaseException:
                self._requeue(image_id)
                raise
            try:
                inspector.finish()
            except ImageFormatRejected as exc:
                self._discard(store, stored.url, image_id)
                raise BadRequest(f"Image content is not acceptable: {exc}") from None
            quota = svc.quotas.storage
            try:
                activated = svc.repo.update(
                    image_id,
                    core={"status": states.ACTIVE, "size": stored.size, "checksum": stored.checksum,
                          "os_hash_algo": stored.hash_algo, "os_hash_value": stored.hash_value,
                          "virtual_size": inspector.virtual_size},
                    expect_status=[states.SAVING],
                    add_location=Location(url=stored.url, metadata={"store": store_id}),
                    # Counted again: uploads of the project's other images may have ended meanwhile.
                    storage_quota=(ctx.project_id, quota) if quota else None,
                )
            except db.LimitReached as reached:
                self._discard(store, stored.url, image_id)
                raise self._storage_full(stored.size, quota - (reached.count - stored.size)) from None
            if not activated:
                # Deleted (or otherwise moved on) while the bytes were streaming in.
                store.delete(stored.url)
                raise Conflict(f"Image {image_id} was deleted or changed during the upload.")
        except SizeLimitExceeded as exc:
            if max_size < cap:
                raise self._storage_full(None, max_size) from None
            raise QuotaExceeded(str(exc)) from None
        except IncompleteUpload as exc:
            raise BadRequest(f"Upload incomplete: {exc}. The image is queued again.") from None
        except StoreError as exc:
            LOG.error("store error during upload of %s: %s", image_id, exc)
            raise ServiceUnavailable(f"The store could not save the image data: {exc}") from None
        finally:
            self.journal.end(marker)
        return svc.find_visible(ctx, image_id)

    def _storage_room(self, ctx: RequestContext, image_id: str) -> int | None:
        """Bytes the caller's project may still store besides this image's (None: no quota). The
        caller's project, as Glance counts it, even when an admin uploads to another's image."""
        quota = self.images.quotas.storage
        if not quota:
            return None
        return quota - self.images.repo.storage_used(ctx.project_id, besides=image_id)

    def _storage_full(self, size: int | None, room: int) -> QuotaExceeded:
        data = "Image data" if size is None else f"Image data of {size} bytes"
        return QuotaExceeded(f"{data} would exceed the project's storage quota of "
                             f"{self.images.quotas.storage} bytes: {max(room, 0)} bytes remain.")

    def _discard(self, store: Store, url: str, image_id: str) -> None:
        """Bytes stored for an image that will not become active with them: removed, and the
        image queued again."""
        store.delete(url)
        self._requeue(image_id)

    def _requeue(self, image_id: str) -> None:
        self.images.repo.update(image_id, core={"status": states.QUEUED}, expect_status=[states.SAVING])

    def prepare_download(self, ctx: RequestContext, image_id: str) -> Image:
        svc = self.images
        image = svc.authorized(ctx, image_id, "download_image")
        if image.status == states.DEACTIVATED and not ctx.is_admin:
            raise Forbidden("The requested image has been deactivated. Image data download is forbidden.")
        return image

    def open(self, image: Image, offset: int = 0, length: int | None = None) -> Reader:
        last_error: Exception | None = None
        for location in image.locations:
            try:
                return self.images.stores.for_url(location.url).open(location.url, offset, length)
            except StoreError as exc:
                last_error = exc
        raise NotFound(f"Image data of {image.id} is not available: {last_error or 'no location'}")
