"""Images and members as JSON documents, in Glance's wire format."""
from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from spyglass.model import Image, Member


def isotime(value: datetime | None) -> str | None:
    # isoformat is several times cheaper than strftime, and this runs twice per image shown.
    return value.replace(microsecond=0, tzinfo=None).isoformat() + "Z" if value is not None else None


def image_view(image: Image, *, show_locations: bool = False, show_direct_url: bool = False) -> dict[str, Any]:
    # Custom properties first: a core attribute of the same name must win.
    doc: dict[str, Any] = dict(image.properties)
    # Glance's key order, so that a document reads the same from either service.
    doc.update({
        "name": image.name,
        "disk_format": image.disk_format,
        "container_format": image.container_format,
        "visibility": image.visibility,
        "size": image.size,
        "virtual_size": image.virtual_size,
        "status": image.status,
        "checksum": image.checksum,
        "protected": image.protected,
        "min_ram": image.min_ram,
        "min_disk": image.min_disk,
        "owner": image.owner,
        "os_hidden": image.os_hidden,
        "os_hash_algo": image.os_hash_algo,
        "os_hash_value": image.os_hash_value,
        "id": image.id,
        "created_at": isotime(image.created_at),
        "updated_at": isotime(image.updated_at),
        "tags": list(image.tags),
        "self": f"/v2/images/{image.id}",
        "file": f"/v2/images/{image.id}/file",
        "schema": "/v2/schemas/image",
    })
    # No "stores" key: Glance shows it only with several stores configured, and openstacksdk
    # sends back every key it was shown when it updates an image (refused for a read-only key).
    if show_locations:
        doc["locations"] = [{"url": _public_url(loc.url), "metadata": loc.metadata} for loc in image.locations
                            if loc.status == "active"]
    if show_direct_url and image.locations:
        doc["direct_url"] = _public_url(image.locations[0].url)
    return doc


def _public_url(url: str) -> str:
    """A location URL without any credential it may carry (user:password@ in the netloc)."""
    parsed = urlparse(url)
    if "@" not in parsed.netloc:
        return url
    return parsed._replace(netloc=parsed.netloc.rsplit("@", 1)[1]).geturl()


def member_view(member: Member) -> dict[str, Any]:
    return {
        "image_id": member.image_id,
        "member_id": member.member,
        "status": member.status,
        "created_at": isotime(member.created_at),
        "updated_at": isotime(member.updated_at),
        "schema": "/v2/schemas/member",
    }
