"""Version discovery at / and /versions."""
from __future__ import annotations

import webob
import webob.exc

from spyglass.api.base import Services, json_response

CURRENT = "v2.17"
# The versions Glance 33 lists on the embedded defaults (one store, no image cache), in its order:
# those of the multi-store and cache APIs are left out until those APIs are served.
SUPPORTED = ["v2.15", "v2.9", "v2.7", "v2.6", "v2.5", "v2.4", "v2.3", "v2.2", "v2.1", "v2.0"]


def document(services: Services, req: webob.Request) -> dict[str, object]:
    base = (services.settings.public_endpoint or req.host_url).rstrip("/")
    link = [{"rel": "self", "href": f"{base}/v2/"}]
    versions = [{"id": v, "status": "SUPPORTED", "links": link} for v in SUPPORTED]
    versions.insert(2, {"id": CURRENT, "status": "CURRENT", "links": link})
    return {"versions": versions}


def multiple_choices(services: Services, req: webob.Request) -> webob.Response:
    # A bare / answers 300 Multiple Choices, as Glance does; clients follow the CURRENT link.
    return json_response(document(services, req), status=300)


def redirect_to_v2(services: Services, req: webob.Request) -> webob.Response:
    return webob.exc.HTTPFound(location=req.host_url + "/v2/")


def index(services: Services, req: webob.Request) -> webob.Response:
    return json_response(document(services, req))


def no_identity_api(services: Services, req: webob.Request, **_: str) -> webob.Response:
    return webob.exc.HTTPForbidden(explanation="This endpoint serves the Images API only, not Identity.")
