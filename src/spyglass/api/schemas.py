"""/v2/schemas/*: JSON schemas of the documents the API returns. python-glanceclient validates
images against the image schema, and reads from it which keys are core attributes (`is_base`)."""
from __future__ import annotations

from typing import Any

import webob

from spyglass.api.base import Services, json_response
from spyglass.images import states
from spyglass.images.properties import KNOWN_PROPERTY_MAX, MAX_NAME, MEMBER_STATUSES, VISIBILITIES

_NULLABLE_STRING = {"type": ["null", "string"]}
_TIMESTAMP = {"type": "string", "readOnly": True}

# Well-known optional properties: not core attributes (is_base false), but described so that
# clients show them and check their type.
_COMMON_PROPERTIES = {
    "kernel_id": "ID of the kernel image an AMI-style image boots with.",
    "ramdisk_id": "ID of the ramdisk image an AMI-style image boots with.",
    "instance_uuid": "ID of the server this image was made from (snapshots).",
    "architecture": "CPU architecture the image needs, e.g. x86_64 or aarch64.",
    "os_distro": "Operating system distribution, lower case, e.g. ubuntu or fedora.",
    "os_version": "Version of the distribution, e.g. 24.04.",
    "description": "Free text describing the image.",
    "cim_pasd_hostName": "CIM host name, kept for compatibility.",
}


# What a client may send with a location it adds, for the service to check the data against.
_VALIDATION_DATA = {
    "description": "Hashes of the data at a location being added.",
    "type": "object", "writeOnly": True, "additionalProperties": False,
    "properties": {"checksum": {"type": "string", "minLength": 32, "maxLength": 32},
                   "os_hash_algo": {"type": "string", "maxLength": 64},
                   "os_hash_value": {"type": "string", "maxLength": 128}},
    "required": ["os_hash_algo", "os_hash_value"],
}
UUID_PATTERN = "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"


def image_schema(disk_formats: tuple[str, ...], container_formats: tuple[str, ...]) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "id": {"type": "string", "description": "Unique identifier (UUID) of the image.",
               "pattern": UUID_PATTERN},
        "name": {"type": ["null", "string"], "maxLength": MAX_NAME, "description": "Name of the image."},
        "status": {"type": "string", "readOnly": True, "description": "State of the image.",
                   "enum": list(states.ALL)},
        "visibility": {"type": "string", "enum": list(VISIBILITIES), "description": "Who can see the image."},
        "protected": {"type": "boolean", "description": "A protected image cannot be deleted."},
        "os_hidden": {"type": "boolean", "description": "Hidden images are left out of default listings."},
        "checksum": {**_NULLABLE_STRING, "readOnly": True, "maxLength": 32,
                     "description": "MD5 of the image data (legacy)."},
        "os_hash_algo": {**_NULLABLE_STRING, "readOnly": True, "maxLength": 64,
                         "description": "Algorithm of os_hash_value."},
        "os_hash_value": {**_NULLABLE_STRING, "readOnly": True, "maxLength": 128,
                          "description": "Secure hash of the image data."},
        "owner": {"type": ["null", "string"], "maxLength": MAX_NAME, "description": "Project owning the image."},
        "size": {"type": ["null", "integer"], "readOnly": True, "description": "Size of the data in bytes."},
        "virtual_size": {"type": ["null", "integer"], "readOnly": True,
                         "description": "Size of the virtual disk in bytes."},
        # Bounds (0 to 2**31 - 1) are checked by the service, not published: Glance's schema has
        # none, and clients validate against what the server publishes.
        "min_ram": {"type": "integer", "description": "RAM (MiB) a server booted from the image needs."},
        "min_disk": {"type": "integer", "description": "Disk (GiB) a server booted from the image needs."},
        "disk_format": {"type": ["null", "string"], "enum": [None, *disk_formats],
                        "description": "Format of the disk image."},
        "container_format": {"type": ["null", "string"], "enum": [None, *container_formats],
                             "description": "Format of the container around the disk."},
        "created_at": {**_TIMESTAMP, "description": "When the image was created."},
        "updated_at": {**_TIMESTAMP, "description": "When the image was last changed."},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": MAX_NAME},
                 "description": "Tags of the image."},
        "direct_url": {"type": "string", "readOnly": True, "description": "Location of the data in its store."},
        "locations": {"type": "array", "description": "Locations of the data.",
                      "items": {"type": "object", "required": ["url", "metadata"],
                                "properties": {"url": {"type": "string", "maxLength": MAX_NAME},
                                               "metadata": {"type": "object"},
                                               "validation_data": _VALIDATION_DATA}}},
        "self": {"type": "string", "readOnly": True, "description": "URL of this image."},
        "file": {"type": "string", "readOnly": True, "description": "URL of the image data."},
        "schema": {"type": "string", "readOnly": True, "description": "URL of this schema."},
        "stores": {"type": "string", "readOnly": True, "description": "Stores holding the data."},
    }
    for name, description in _COMMON_PROPERTIES.items():
        properties[name] = {"type": "string", "maxLength": KNOWN_PROPERTY_MAX[name], "is_base": False,
                            "description": description}
    return {
        "name": "image",
        "properties": properties,
        "additionalProperties": {"type": "string"},
        "links": [{"rel": "self", "href": "{self}"}, {"rel": "enclosure", "href": "{file}"},
                  {"rel": "describedby", "href": "{schema}"}],
    }


def member_schema() -> dict[str, Any]:
    return {
        "name": "member",
        "properties": {
            "created_at": {"type": "string", "description": "When the membership was created."},
            "image_id": {"type": "string", "pattern": UUID_PATTERN, "description": "ID of the shared image."},
            "member_id": {"type": "string", "description": "Project the image is shared with."},
            "schema": {"type": "string", "readOnly": True},
            "status": {"type": "string", "enum": list(MEMBER_STATUSES),
                       "description": "Whether the member accepted the image."},
            "updated_at": {"type": "string", "description": "When the membership last changed."},
        },
    }


def _settings_image_schema(services: Services) -> dict[str, Any]:
    formats = services.images.formats
    return image_schema(formats.disk, formats.container)


def image(services: Services, req: webob.Request) -> webob.Response:
    return json_response(_settings_image_schema(services))


def images(services: Services, req: webob.Request) -> webob.Response:
    return json_response({
        "name": "images",
        "properties": {"images": {"type": "array", "items": _settings_image_schema(services)},
                       "schema": {"type": "string"}, "first": {"type": "string"}, "next": {"type": "string"}},
        "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                  {"rel": "describedby", "href": "{schema}"}],
    })


def member(services: Services, req: webob.Request) -> webob.Response:
    return json_response(member_schema())


def members(services: Services, req: webob.Request) -> webob.Response:
    return json_response({
        "name": "members",
        "properties": {"members": {"type": "array", "items": member_schema()}, "schema": {"type": "string"}},
        "links": [{"rel": "describedby", "href": "{schema}"}],
    })
