"""The image as the service sees it, independent of HTTP and of the database rows.

Plain data, shared by every layer: the repository (spyglass.db) returns these, the image service
(spyglass.images) works on them and the API (spyglass.api) renders them, so none of those
packages imports another against the api -> images -> db direction to reach them."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Attributes stored as columns of the images table; everything else is a custom property.
CORE_ATTRIBUTES = (
    "id", "name", "status", "visibility", "protected", "os_hidden", "checksum", "os_hash_algo",
    "os_hash_value", "owner", "size", "virtual_size", "min_ram", "min_disk", "disk_format",
    "container_format", "created_at", "updated_at",
)


@dataclass
class Location:
    url: str
    metadata: dict[str, Any] = field(default_factory=dict)
    status: str = "active"
    id: int | None = None


@dataclass
class Member:
    image_id: str
    member: str
    status: str
    created_at: datetime
    updated_at: datetime
    can_share: bool = False


@dataclass
class Image:
    id: str
    name: str | None = None
    status: str = "queued"
    visibility: str = "shared"
    protected: bool = False
    os_hidden: bool = False
    checksum: str | None = None
    os_hash_algo: str | None = None
    os_hash_value: str | None = None
    owner: str | None = None
    size: int | None = None
    virtual_size: int | None = None
    min_ram: int = 0
    min_disk: int = 0
    disk_format: str | None = None
    container_format: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    properties: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    locations: list[Location] = field(default_factory=list)
