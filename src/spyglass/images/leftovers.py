"""Data that a delete left in a store. A delete marks the image's row deleted first, so that
nothing serves the bytes once it has answered, and then removes them: a crash or a store failure
between the two leaves them behind, under the deleted image's name. The next start removes them."""
from __future__ import annotations

import logging

from spyglass.db.repo import ImageRepository
from spyglass.stores.registry import StoreRegistry

LOG = logging.getLogger(__name__)
BATCH = 500  # image IDs per query


def remove_leftover_data(repo: ImageRepository, stores: StoreRegistry) -> list[str]:
    """Remove the data of deleted images from every store; returns those images' IDs. Data that a
    location still names (another image's, or one whose removal Glance's scrubber will do) stays."""
    removed = []
    for store in stores.stores.values():
        held = sorted(store.stored_image_ids())
        for start in range(0, len(held), BATCH):
            for image_id in sorted(repo.deleted_among(held[start:start + BATCH])):
                url = store.location_for(image_id)
                if repo.location_in_use(url):
                    continue
                try:
                    store.delete(url)
                except OSError:
                    LOG.warning("could not remove the data deleted image %s left at %s", image_id, url,
                                exc_info=True)
                    continue
                LOG.warning("removed the data deleted image %s left at %s", image_id, url)
                removed.append(image_id)
    return removed
