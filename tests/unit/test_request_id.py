"""The request-ID middleware: the same environ keys and header as oslo.middleware's RequestId."""
from __future__ import annotations

import re
from typing import Any

from oslo_middleware.request_id import ENV_REQUEST_ID, GLOBAL_REQ_ID

from spyglass.request_id import request_id_middleware

REQ_ID = re.compile(r"^req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$")
GLOBAL = "req-0a1b2c3d-0000-4000-8000-123456789abc"


def call(app: Any, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], Any]:
    seen: list[Any] = []
    body = app(environ, lambda status, headers, exc_info=None: seen.extend([status, headers]))
    return seen[0], seen[1], body


def test_each_request_gets_its_own_id_in_environ_and_response():
    environs: list[dict[str, Any]] = []
    payload = [b"ok"]

    def inner(environ, start_response):
        environs.append(environ)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return payload

    app = request_id_middleware(inner)
    ids = []
    for _ in range(3):
        status, headers, body = call(app, {"PATH_INFO": "/"})
        assert status == "200 OK"
        assert body is payload  # the application's own iterable (a file wrapper stays one)
        (value,) = [v for name, v in headers if name.lower() == "x-openstack-request-id"]
        assert REQ_ID.match(value), value
        assert environs[-1][ENV_REQUEST_ID] == value
        assert GLOBAL_REQ_ID not in environs[-1]
        ids.append(value)
    assert len(set(ids)) == 3


def test_caller_global_id_is_kept_only_when_well_formed():
    environs: list[dict[str, Any]] = []

    def inner(environ, start_response):
        environs.append(environ)
        start_response("204 No Content", [])
        return []

    app = request_id_middleware(inner)
    call(app, {"HTTP_X_OPENSTACK_REQUEST_ID": GLOBAL})
    assert environs[-1][GLOBAL_REQ_ID] == GLOBAL
    assert environs[-1][ENV_REQUEST_ID] != GLOBAL
    for bad in ("req-not-a-uuid", GLOBAL.upper(), GLOBAL + "0", ""):
        call(app, {"HTTP_X_OPENSTACK_REQUEST_ID": bad})
        assert GLOBAL_REQ_ID not in environs[-1], bad


def test_an_id_the_application_set_is_not_doubled():
    own = [("X-OpenStack-Request-Id", GLOBAL)]

    def inner(environ, start_response):
        start_response("200 OK", list(own))
        return [b""]

    _, headers, _ = call(request_id_middleware(inner), {})
    assert headers == own
