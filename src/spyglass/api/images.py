"""/v2/images: create, list, show, update, delete, and the deactivate/reactivate actions."""
from __future__ import annotations

from urllib.parse import urlencode

import webob
import webob.exc

from spyglass.api.base import Services, context, json_response, read_json, read_json_object
from spyglass.api.views import image_view
from spyglass.images.patch import MEDIA_TYPES, parse_patch
from spyglass.model import Image


def _view(services: Services, image: Image) -> dict[str, object]:
    s = services.settings
    return image_view(image, show_locations=s.show_multiple_locations, show_direct_url=s.show_image_direct_url)


def create(services: Services, req: webob.Request) -> webob.Response:
    image = services.images.create(context(req), read_json_object(req))
    return json_response(_view(services, image), status=201, Location=f"/v2/images/{image.id}")


def index(services: Services, req: webob.Request) -> webob.Response:
    params = list(req.GET.items())
    images, limit = services.images.list(context(req), params)
    without_marker = [(k, v) for k, v in params if k != "marker"]
    doc: dict[str, object] = {
        "images": [_view(services, image) for image in images],
        "first": "/v2/images" + (f"?{urlencode(without_marker)}" if without_marker else ""),
        "schema": "/v2/schemas/images",
    }
    if images and len(images) == limit:
        doc["next"] = "/v2/images?" + urlencode([*without_marker, ("marker", images[-1].id)])
    return json_response(doc)


def show(services: Services, req: webob.Request, image_id: str) -> webob.Response:
    return json_response(_view(services, services.images.get(context(req), image_id)))


def update(services: Services, req: webob.Request, image_id: str) -> webob.Response:
    if req.content_type not in MEDIA_TYPES:
        # Checked here, not by read_json: that one also lets any "+json" type through.
        accepted = ", ".join(sorted(MEDIA_TYPES))
        raise webob.exc.HTTPUnsupportedMediaType(
            explanation=f"Unsupported Content-Type '{req.content_type}': image PATCH expects one of {accepted}.",
            headers=[("Accept-Patch", accepted)])
    body = read_json(req, allowed_types=tuple(MEDIA_TYPES))
    ops = parse_patch(body, MEDIA_TYPES[req.content_type], services.images.formats)
    image = services.images.update(context(req), image_id, ops)
    return json_response(_view(services, image))


def delete(services: Services, req: webob.Request, image_id: str) -> webob.Response:
    services.images.delete(context(req), image_id)
    return webob.Response(status=204)


def deactivate(services: Services, req: webob.Request, image_id: str) -> webob.Response:
    services.images.deactivate(context(req), image_id)
    return webob.Response(status=204)


def reactivate(services: Services, req: webob.Request, image_id: str) -> webob.Response:
    services.images.reactivate(context(req), image_id)
    return webob.Response(status=204)
