"""/v2/images/{id}/tags/{tag}."""
from __future__ import annotations

import webob

from spyglass.api.base import Services, context


def add(services: Services, req: webob.Request, image_id: str, tag: str) -> webob.Response:
    services.images.add_tag(context(req), image_id, tag)
    return webob.Response(status=204)


def delete(services: Services, req: webob.Request, image_id: str, tag: str) -> webob.Response:
    services.images.delete_tag(context(req), image_id, tag)
    return webob.Response(status=204)
