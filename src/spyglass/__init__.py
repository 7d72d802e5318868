"""Spyglass: the OpenStack Images API v2 on Glance's schema."""
from __future__ import annotations

from importlib import metadata


def version() -> str:
    try:
        return metadata.version("spyglass")
    except metadata.PackageNotFoundError:
        return "(not installed)"
