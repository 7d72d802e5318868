"""What every handler shares: the services, the caller's identity, JSON in and out."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import webob
import webob.exc

from spyglass.context import RequestContext
from spyglass.images.data import ImageData
from spyglass.images.members import ImageMembers
from spyglass.images.service import ImageService

CONTEXT_KEY = "spyglass.context"


@dataclass(frozen=True)
class Settings:
    show_multiple_locations: bool
    show_image_direct_url: bool
    public_endpoint: str | None
    enabled_import_methods: tuple[str, ...]


@dataclass(frozen=True)
class Services:
    images: ImageService
    data: ImageData
    members: ImageMembers
    settings: Settings


def context(req: webob.Request) -> RequestContext:
    ctx: RequestContext = req.environ[CONTEXT_KEY]
    return ctx


def json_response(doc: Any, status: int = 200, **headers: str) -> webob.Response:
    body = json.dumps(doc).encode()
    resp = webob.Response(body=body, status=status, content_type="application/json", charset="UTF-8")
    for name, value in headers.items():
        resp.headers[name.replace("_", "-")] = value
    return resp


# Bodies that are JSON documents: python-glanceclient labels every request application/octet-stream,
# and Glance takes a missing type as JSON too, so those are accepted; a type that names another
# format (a form, text, XML) is refused.
JSON_TYPES = ("application/json", "", "application/octet-stream")


def read_json(req: webob.Request, *, allowed_types: tuple[str, ...] = JSON_TYPES) -> Any:
    content_type = req.content_type or ""
    if content_type not in allowed_types and not content_type.endswith("+json"):
        raise webob.exc.HTTPUnsupportedMediaType(
            explanation=f"Unsupported Content-Type '{content_type}': use "
                        f"{' or '.join(t for t in allowed_types if t)}.")
    raw = req.body or b"null"
    try:
        doc = json.loads(raw)
        if b"\\u" in raw:
            # An escaped lone UTF-16 surrogate parses into a string no database can store.
            json.dumps(doc, ensure_ascii=False).encode()
    except (ValueError, UnicodeError):  # UnicodeError covers decoding and the encode above
        raise webob.exc.HTTPBadRequest(explanation="Malformed JSON in request body.") from None
    return doc


def read_json_object(req: webob.Request) -> dict[str, Any]:
    if not req.body:
        return {}  # as Glance: an empty body is an empty document (all defaults)
    body = read_json(req)
    if not isinstance(body, dict):
        raise webob.exc.HTTPBadRequest(explanation="Request body must be a JSON object.")
    return body
