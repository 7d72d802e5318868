"""spyglass.health in process: which backends answer /healthcheck, and what passes through."""
from __future__ import annotations

import webob
from oslo_config import cfg

from spyglass import health


class _Body:
    def __iter__(self):
        return iter([b"api"])


BODY = _Body()


def _api(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return BODY


def _app(**healthcheck: object):
    conf = cfg.ConfigOpts()
    conf([], default_config_files=[], default_config_dirs=[])
    health.register_opts(conf)
    for name, value in healthcheck.items():
        conf.set_override(name, value, group="healthcheck")
    return health.healthcheck_middleware(_api, conf), conf


def test_draining_flag_fails_the_healthcheck_only():
    app, _ = _app()
    assert webob.Request.blank("/healthcheck").get_response(app).status_int == 200
    health.set_draining(True)
    try:
        response = webob.Request.blank("/healthcheck").get_response(app)
        assert response.status_int == 503
        assert b"DRAINING" in response.body
        assert webob.Request.blank("/healthcheck", method="HEAD").get_response(app).status_int == 503
        assert webob.Request.blank("/v2/images").get_response(app).status_int == 200
    finally:
        health.set_draining(False)
    assert webob.Request.blank("/healthcheck").get_response(app).status_int == 200


def test_other_paths_get_the_api_response_object_itself():
    # The server uses sendfile() only for the very wsgi.file_wrapper object the API returned.
    app, _ = _app()
    environ = webob.Request.blank("/v2/images/x/file").environ
    assert app(environ, lambda *args: None) is BODY


def test_backends_added_to_the_configured_ones(tmp_path):
    _, conf = _app(disable_by_file_path=str(tmp_path / "off"))
    assert conf.healthcheck.backends == ["disable_by_file", "spyglass_draining"]
    # enable_by_files excludes disable_by_file; the draining check is always there.
    _, conf = _app(backends=["enable_by_files"], disable_by_file_path=str(tmp_path / "off"))
    assert conf.healthcheck.backends == ["enable_by_files", "spyglass_draining"]
    _, conf = _app()
    assert conf.healthcheck.backends == ["spyglass_draining"]
