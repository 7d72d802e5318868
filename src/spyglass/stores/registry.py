"""Builds the configured stores and finds the one that serves a location."""
from __future__ import annotations

from urllib.parse import urlparse

from oslo_config import cfg

from spyglass import config
from spyglass.stores.base import Store, StoreConfigError, StoreError
from spyglass.stores.file import FilesystemStore


class StoreRegistry:
    def __init__(self, stores: dict[str, Store], default: str) -> None:
        if default not in stores:
            raise StoreConfigError(f"default_store {default!r} is not one of the enabled stores")
        self.stores = stores
        self.default_id = default

    @property
    def default(self) -> Store:
        return self.stores[self.default_id]

    def for_url(self, url: str) -> Store:
        scheme = urlparse(url).scheme
        for store in self.stores.values():
            if store.scheme == scheme:
                return store
        raise StoreError(f"no enabled store serves {scheme!r} locations")


def from_config(conf: cfg.ConfigOpts) -> StoreRegistry:
    stores: dict[str, Store] = {}
    for name in conf.glance_store.stores:
        if name == "file":
            stores["file"] = FilesystemStore(config.filesystem_store_dir(conf),
                                             conf.glance_store.filesystem_store_chunk_size,
                                             direct_io=conf.glance_store.filesystem_store_direct_io,
                                             file_perm=conf.glance_store.filesystem_store_file_perm)
        else:
            raise StoreConfigError(f"store type {name!r} is not supported yet")
    return StoreRegistry(stores, conf.glance_store.default_store)
