"""/v2/images/{id}/members."""
from __future__ import annotations

import webob

from spyglass.api.base import Services, context, json_response, read_json_object
from spyglass.api.views import member_view


def index(services: Services, req: webob.Request, image_id: str) -> webob.Response:
    members = services.members.list(context(req), image_id)
    return json_response({"members": [member_view(m) for m in members], "schema": "/v2/schemas/members"})


def create(services: Services, req: webob.Request, image_id: str) -> webob.Response:
    body = read_json_object(req)
    member = services.members.add(context(req), image_id, body.get("member"))
    return json_response(member_view(member))


def show(services: Services, req: webob.Request, image_id: str, member_id: str) -> webob.Response:
    return json_response(member_view(services.members.get(context(req), image_id, member_id)))


def update(services: Services, req: webob.Request, image_id: str, member_id: str) -> webob.Response:
    body = read_json_object(req)
    member = services.members.update(context(req), image_id, member_id, body.get("status"))
    return json_response(member_view(member))


def delete(services: Services, req: webob.Request, image_id: str, member_id: str) -> webob.Response:
    services.members.delete(context(req), image_id, member_id)
    return webob.Response(status=204)
