"""Version discovery at / and /versions."""
from __future__ import annotations

import webob

from spyglass.api.base import Services, json_response

CURRENT = "v2.17"
# Every minor version of the Images API v2 that this server implements the behaviour of.
SUPPORTED = [f"v2.{minor}" for minor in range(16, -1, -1) if minor not in (10, 11, 13, 14)]


def document(services: Services, req: webob.Request) -> dict[str, object]:
    base = (services.settings.public_endpoint or req.host_url).rstrip("/")
    link = [{"rel": "self", "href": f"{base}/v2/"}]
    versions = [{"id": CURRENT, "status": "CURRENT", "links": link}]
    versions += [{"id": v, "status": "SUPPORTED", "links": link} for v in SUPPORTED]
    return {"versions": versions}


def multiple_choices(services: Services, req: webob.Request) -> webob.Response:
    # A bare / answers 300 Multiple Choices, as Glance does; clients follow the CURRENT link.
    return json_response(document(services, req), status=300)


def index(services: Services, req: webob.Request) -> webob.Response:
    return json_response(document(services, req))
