"""Errors on the wire, in the body format Glance's clients parse (webob's HTTP error documents,
rendered as HTML, plain text or JSON according to the request's Accept header)."""
from __future__ import annotations

import webob
import webob.exc

from spyglass.images import errors

_STATUS: dict[type[errors.ImageServiceError], type[webob.exc.HTTPError]] = {
    errors.BadRequest: webob.exc.HTTPBadRequest,
    errors.Forbidden: webob.exc.HTTPForbidden,
    errors.NotFound: webob.exc.HTTPNotFound,
    errors.Conflict: webob.exc.HTTPConflict,
    errors.QuotaExceeded: webob.exc.HTTPRequestEntityTooLarge,
    errors.ServiceUnavailable: webob.exc.HTTPServiceUnavailable,
}


def http_error(exc: errors.ImageServiceError) -> webob.exc.HTTPError:
    for kind, http in _STATUS.items():
        if isinstance(exc, kind):
            return http(explanation=exc.message)
    return webob.exc.HTTPInternalServerError(explanation=exc.message)

