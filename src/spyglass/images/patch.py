"""JSON patch of an image, in the two media types the Images API accepts.

openstack-images-v2.1-json-patch is RFC 6902 shaped ({"op": "add", "path": "/k", "value": v});
the older openstack-images-v2.0-json-patch names the operation as the key ({"add": "/k", "value": v})
and refuses to `add` a property that is already there (a core attribute always is).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from spyglass.images import properties as props
from spyglass.images.errors import BadRequest, Conflict, Forbidden
from spyglass.model import Image

OPERATIONS = ("add", "replace", "remove")
MEDIA_TYPES = {
    "application/openstack-images-v2.1-json-patch": "2.1",
    "application/openstack-images-v2.0-json-patch": "2.0",
}
_MISSING = object()
_EMPTY_STEP = re.compile(r"/\s*/")
_BAD_ESCAPE = re.compile(r"~([^01]|$)")


@dataclass(frozen=True)
class PatchOp:
    op: str
    key: str
    value: Any
    strict_add: bool  # v2.0: `add` of an existing property (or any core attribute) is a conflict


def _invalid_pointer(path: Any) -> BadRequest:
    return BadRequest(f"Invalid JSON pointer for this resource: '{path}'")


def _key(op: str, path: Any) -> str:
    if not isinstance(path, str):
        raise _invalid_pointer(path)
    if not path.startswith("/"):
        raise BadRequest(f'Pointer `{path}` does not start with "/".')
    if _EMPTY_STEP.search(path[1:]) or (len(path) > 1 and path.endswith("/")):
        raise BadRequest(f"Pointer `{path}` has an empty step (adjacent or final \"/\").")
    if _BAD_ESCAPE.search(path):
        raise BadRequest(f'Pointer `{path}` has a "~" that is not ~0 or ~1.')
    # Each step is unescaped, then stripped of surrounding spaces, as Glance reads pointers:
    # "/ name " is the name.
    parts = [part.replace("~1", "/").replace("~0", "~").strip() for part in path[1:].split("/")]
    key = parts[0]
    if key == "locations":
        # Locations are a list: `add` and `remove` name a place in it (an index or "-"),
        # `replace` the whole list.
        place = parts[1] if len(parts) == 2 else ""
        if (len(parts) != 1) if op == "replace" else not (place == "-" or place.isdigit()):
            raise _invalid_pointer(path)
    elif len(parts) > 1 or not key:
        raise _invalid_pointer(path)
    return key


def parse_patch(body: Any, version: str, formats: props.Formats) -> list[PatchOp]:
    """Each operation checked in order, its form, then whether its path may be written, then its
    value, so the first faulty operation decides the answer (as in Glance, and before the image
    is looked up)."""
    if not isinstance(body, list):
        raise BadRequest("Request body must be a JSON array of operation objects.")
    ops: list[PatchOp] = []
    for raw in body:
        if not isinstance(raw, dict):
            raise BadRequest("Operations must be JSON objects.")
        if version == "2.1":
            op, path = raw.get("op"), raw.get("path")
            allowed = {"op", "path", "value"}
        else:
            named = [name for name in OPERATIONS if name in raw]
            if len(named) != 1:
                raise BadRequest("Operation objects must contain exactly one of \"add\", \"remove\", or \"replace\".")
            op, path = named[0], raw[named[0]]
            allowed = {op, "value"}
        if op not in OPERATIONS:
            raise BadRequest(f"Invalid operation: `{op}`. It must be one of the following: add, remove, replace.")
        extra = set(raw) - allowed
        if extra:
            raise BadRequest(f"Operation objects must not contain {sorted(extra)}.")
        value = raw.get("value", _MISSING)
        if op in ("add", "replace") and value is _MISSING:
            raise BadRequest(f"Operation \"{op}\" requires a member named \"value\".")
        key = _key(op, path)
        if key == "id":
            raise Forbidden("Attribute 'id' is read-only.")
        if key != "locations":
            props.check_settable(key)
        if op == "add" and key == "locations":
            props.validate_location(value)  # one, at a place in the list
        elif op != "remove":
            props.validate_value(key, value, formats)
        ops.append(PatchOp(op, key, None if value is _MISSING else value, strict_add=version == "2.0"))
    return ops


def apply_patch(image: Image, ops: list[PatchOp], assign: Callable[[Image, dict[str, Any]], None],
                check: Callable[[Image, str, Any], None]) -> set[str]:
    """Apply the operations to `image` in order; returns the core attributes touched. `check`
    sees each add or replace first (the image as the operations before it left it, the key and
    the value), as Glance checks a change's policy before whether its path exists."""
    changed: set[str] = set()
    for op in ops:
        if op.key == "locations":
            # Refused where the image is known (a caller who cannot see it gets 404 first): this
            # deployment shows no locations, so none can be changed through the API.
            raise Forbidden("Image locations are not shown by this deployment and cannot be changed.")
        is_core = op.key in props.WRITABLE_CORE
        if op.op == "remove":
            if is_core:
                raise Forbidden(f"Attribute '{op.key}' can't be removed.")
            if op.key not in image.properties:
                raise Conflict(f"Property {op.key} does not exist.")
            del image.properties[op.key]
            continue
        check(image, op.key, op.value)
        exists = is_core or op.key in image.properties  # a core attribute always exists
        if op.op == "replace" and not exists:
            raise Conflict(f"Property {op.key} does not exist.")
        if op.op == "add" and op.strict_add and exists:
            raise Conflict(f"Property {op.key} already present.")
        assign(image, {op.key: op.value})
        if is_core:
            changed.add(op.key)
    return changed
