"""/v2/info/import and /v2/info/stores."""
from __future__ import annotations

import webob

from spyglass.api.base import Services, json_response


def import_methods(services: Services, req: webob.Request) -> webob.Response:
    methods = list(services.settings.enabled_import_methods)
    return json_response({"import-methods": {"description": "Import methods available.", "type": "array",
                                             "value": methods}})


def stores(services: Services, req: webob.Request) -> webob.Response:
    registry = services.images.stores
    return json_response({"stores": [
        {"id": store_id, **({"default": True} if store_id == registry.default_id else {})}
        for store_id in registry.stores]})
