"""What an image attribute or custom property may be, shared by create and update (PATCH)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from spyglass.images import states
from spyglass.images.errors import BadRequest, Forbidden

VISIBILITIES = ("public", "private", "shared", "community")
MEMBER_STATUSES = ("pending", "accepted", "rejected")

# Set by the service, never by the client.
READ_ONLY = frozenset({
    "checksum", "created_at", "updated_at", "status", "size", "virtual_size", "os_hash_algo",
    "os_hash_value", "direct_url", "self", "file", "schema", "stores",
})
# Read-only attributes no stored image holds (links, and where the data lives): a create naming
# one is refused before its document is checked at all, as Glance does.
DERIVED = frozenset({"self", "file", "schema", "direct_url", "stores"})
# The types the image schema gives attributes a client may not set: a create document is checked
# against them (400) before it is refused for setting them (403), as Glance does.
_READ_ONLY_TYPES: dict[str, tuple[type | None, ...]] = {
    **dict.fromkeys(("size", "virtual_size"), (int, None)),
    **dict.fromkeys(("checksum", "os_hash_algo", "os_hash_value"), (str, None)),
    **dict.fromkeys(("created_at", "updated_at", "direct_url", "self", "file", "schema", "stores", "status"), (str,)),
}
_READ_ONLY_MAX_LENGTH = {"checksum": 32, "os_hash_algo": 64, "os_hash_value": 128}
# Characters outside the Basic Multilingual Plane take 4 bytes in UTF-8, which the utf8 (3-byte)
# columns of Glance's schema on MySQL and MariaDB cannot hold; Glance refuses them everywhere.
_FOUR_BYTE = re.compile("[\U00010000-\U0010ffff]")
# Column names of Glance's table (or its old v1 API) that are no properties at all.
RESERVED = frozenset({"location", "deleted", "deleted_at", "locations"})
# Image attributes the client may set; anything else is a free-form string property.
WRITABLE_CORE = ("name", "visibility", "protected", "os_hidden", "min_ram", "min_disk", "disk_format",
                 "container_format", "owner", "tags")
# Prefix Glance keeps for itself (import progress and the like).
RESERVED_PREFIX = "os_glance"

MAX_NAME = 255
MAX_PROPERTY_VALUE = 65535
# Well-known optional properties the image schema describes, with their limits where shorter than
# any property's: clients check values against the published schema, and so does the service.
KNOWN_PROPERTY_MAX = {
    **dict.fromkeys(("kernel_id", "ramdisk_id", "instance_uuid", "architecture", "os_distro", "os_version",
                     "cim_pasd_hostName"), MAX_NAME),
    "description": MAX_PROPERTY_VALUE,
}
MAX_INT32 = 2**31 - 1
UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass(frozen=True)
class Formats:
    """The disk and container formats the operator allows ([image_format])."""
    disk: tuple[str, ...]
    container: tuple[str, ...]


def schema_error(detail: str) -> BadRequest:
    return BadRequest(f"Provided object does not match schema 'image': {detail}")


def check_settable(key: str) -> None:
    """Refuse keys a client may never write, with the 403 Glance gives for them."""
    if key in READ_ONLY:
        raise Forbidden(f"Attribute '{key}' is read-only.")
    if key in RESERVED or key.startswith(RESERVED_PREFIX):
        raise Forbidden(f"Attribute '{key}' is reserved.")


def validate_uuid(value: Any) -> str:
    """A UUID in its dashed form, kept as given: Glance stores an ID in capitals as sent, and a
    client that looks an image up by the ID it chose must find it."""
    if not isinstance(value, str) or not UUID_RE.fullmatch(value):
        raise schema_error(f"{value!r} is not a valid UUID")
    return value


def _string(key: str, value: Any, *, nullable: bool, max_length: int) -> None:
    if value is None and nullable:
        return
    if not isinstance(value, str):
        raise schema_error(f"{value!r} is not of type 'string' (attribute '{key}')")
    if len(value) > max_length:
        raise schema_error(f"'{key}' is too long (maximum {max_length} characters)")


def _enum(key: str, value: Any, allowed: tuple[str, ...], *, nullable: bool) -> None:
    if value is None and nullable:
        return
    if value not in allowed:
        raise schema_error(f"{value!r} is not one of {list(allowed)} (attribute '{key}')")


def _integer(key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise schema_error(f"{value!r} is not of type 'integer' (attribute '{key}')")


def check_range(key: str, value: Any) -> None:
    """The range the service enforces on min_ram and min_disk beyond the schema's type: Glance
    checks it as the value is applied, after the whole document has passed the schema."""
    if key not in ("min_ram", "min_disk"):
        return
    if value < 0:
        raise BadRequest(f"Invalid value '{value}' for parameter '{key}': Cannot be a negative value")
    if value > MAX_INT32:
        raise schema_error(f"{value} is greater than the maximum of {MAX_INT32} (attribute '{key}')")


def _boolean(key: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise schema_error(f"{value!r} is not of type 'boolean' (attribute '{key}')")


def validate_value(key: str, value: Any, formats: Formats) -> None:
    """What the image schema says `key` may be, whether or not a client may set it."""
    if key in WRITABLE_CORE:
        validate_core(key, value, formats)
    elif key == "id":
        validate_uuid(value)
    elif key == "locations":
        validate_locations(value)
    elif key in _READ_ONLY_TYPES:
        allowed = _READ_ONLY_TYPES[key]
        if not any(value is None if kind is None else isinstance(value, kind) and not isinstance(value, bool)
                   for kind in allowed):
            raise schema_error(f"{value!r} is not of the type of attribute '{key}'")
        if key == "status" and value not in states.ALL:
            raise schema_error(f"{value!r} is not an image status")
        if isinstance(value, str) and len(value) > _READ_ONLY_MAX_LENGTH.get(key, len(value)):
            raise schema_error(f"'{key}' is too long (maximum {_READ_ONLY_MAX_LENGTH[key]} characters)")
    else:
        validate_property(key, value)


def validate_locations(value: Any) -> None:
    if not isinstance(value, list):
        raise schema_error(f"{value!r} is not a list of locations")
    for location in value:
        validate_location(location)


def validate_location(value: Any) -> None:
    if not (isinstance(value, dict) and isinstance(value.get("url"), str) and isinstance(value.get("metadata"), dict)):
        raise schema_error(f"{value!r} is not a location (an object with 'url' and 'metadata')")


def check_storable(values: dict[str, Any]) -> None:
    """Refuse, as Glance, what MySQL's utf8 columns cannot store: checked just before a write."""
    for key, value in values.items():
        if not key.isascii() and _FOUR_BYTE.search(key):
            raise BadRequest("Property names can't contain 4 byte unicode.")
        # isascii() first: it answers for nearly every value, at a fraction of a regex search.
        texts = value if isinstance(value, list) else [value] if isinstance(value, str) else []
        for text in texts:
            if not text.isascii() and _FOUR_BYTE.search(text):
                raise BadRequest(f"{key.title()} can't contain 4 byte unicode characters.")


def validate_core(key: str, value: Any, formats: Formats) -> None:
    """What the image schema publishes for a core attribute (its type); check_range adds the
    range the service enforces."""
    if key == "name":
        _string(key, value, nullable=True, max_length=MAX_NAME)
    elif key == "owner":
        _string(key, value, nullable=True, max_length=MAX_NAME)
    elif key == "visibility":
        _enum(key, value, VISIBILITIES, nullable=False)
    elif key in ("protected", "os_hidden"):
        _boolean(key, value)
    elif key in ("min_ram", "min_disk"):
        _integer(key, value)
    elif key == "disk_format":
        _enum(key, value, formats.disk, nullable=True)
    elif key == "container_format":
        _enum(key, value, formats.container, nullable=True)
    elif key == "tags":
        validate_tags(value)
    else:  # pragma: no cover - callers only pass WRITABLE_CORE keys
        raise AssertionError(key)


def validate_tags(value: Any) -> None:
    if not isinstance(value, list):
        raise schema_error(f"{value!r} is not of type 'array' (attribute 'tags')")
    for tag in value:
        validate_tag(tag)


def validate_tag(tag: Any) -> None:
    if not isinstance(tag, str):
        raise schema_error(f"{tag!r} is not of type 'string' (attribute 'tags')")
    if not tag or len(tag) > MAX_NAME:
        raise schema_error(f"tag {tag[:40]!r} must be 1 to {MAX_NAME} characters long")


def validate_property(key: str, value: Any) -> None:
    if not key or len(key) > MAX_NAME:
        raise schema_error(f"property name {key[:40]!r} must be 1 to {MAX_NAME} characters long")
    if not isinstance(value, str):
        raise schema_error(f"{value!r} is not of type 'string' (property '{key}')")
    limit = KNOWN_PROPERTY_MAX.get(key, MAX_PROPERTY_VALUE)
    if len(value) > limit:
        raise schema_error(f"property '{key}' is too long (maximum {limit} characters)")
