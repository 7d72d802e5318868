"""/healthcheck: oslo.middleware's Healthcheck with a backend that fails while the server drains.

A stopping server first answers 503 here for `drain_delay` seconds while it still serves everything
else, so a load balancer polling this path takes the node out of rotation before the node stops
listening. The flag lives in one byte of anonymous shared memory mapped when this module is first
imported: the server imports it in the master process before forking its workers, so the master
sets the flag and every worker sees it without any file or IPC.
"""
from __future__ import annotations

import mmap
from importlib import metadata
from typing import TYPE_CHECKING, Any

from oslo_config import cfg
from oslo_middleware.healthcheck import Healthcheck, opts, pluginbase

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from collections.abc import Iterable

PATH = "/healthcheck"
BACKEND_NAMESPACE = "oslo.middleware.healthcheck"
DRAINING_BACKEND = "spyglass_draining"

# MAP_SHARED | MAP_ANONYMOUS (the default for fileno -1): survives fork() as the same memory.
_flag = mmap.mmap(-1, 1)


def set_draining(draining: bool = True) -> None:
    _flag[0] = 1 if draining else 0


def is_draining() -> bool:
    return _flag[0] == 1


class DrainingCheck(pluginbase.HealthcheckBaseExtension):
    """Reports the node unavailable once the server has started to stop."""

    def healthcheck(self, server_port: int) -> pluginbase.HealthcheckResult:
        if is_draining():
            return pluginbase.HealthcheckResult(
                available=False, reason="DRAINING",
                details="The server is stopping: it finishes the requests in flight and "
                        "refuses new connections once its drain delay is over.")
        return pluginbase.HealthcheckResult(available=True, reason="OK")


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(opts.HEALTHCHECK_OPTS, group="healthcheck")
    conf.register_opts(opts.DISABLE_BY_FILE_OPTS, group="healthcheck")


def _backends(configured: list[str], disable_by_file_path: str | None) -> list[str]:
    backends = list(configured)
    # Only with a path: without one, oslo's backend logs a warning on every poll. And oslo.middleware
    # refuses it together with enable_by_files.
    if (disable_by_file_path and "disable_by_file" not in backends
            and "enable_by_files" not in backends):
        backends.insert(0, "disable_by_file")
    if DRAINING_BACKEND not in backends:
        backends.append(DRAINING_BACKEND)
    return backends


def _check_installed() -> None:
    # stevedore skips a backend name it cannot find without a word, which would leave a draining
    # node reporting 200: fail loudly instead when the package metadata is missing.
    names = {ep.name for ep in metadata.entry_points(group=BACKEND_NAMESPACE)}
    if DRAINING_BACKEND not in names:
        raise RuntimeError(
            f"the {BACKEND_NAMESPACE} entry point {DRAINING_BACKEND!r} is not registered: "
            "install the spyglass package (pip install -e .) rather than running from the source tree")


def healthcheck_middleware(app: WSGIApplication, conf: cfg.ConfigOpts,
                           path: str = PATH) -> WSGIApplication:
    """Answer `path` with oslo.middleware's Healthcheck and pass everything else to `app`.

    The backends are whatever `[healthcheck] backends` lists, plus the draining check, plus
    `disable_by_file` when `[healthcheck] disable_by_file_path` is set.
    """
    register_opts(conf)
    _check_installed()
    backends = _backends(conf.healthcheck.backends, conf.healthcheck.disable_by_file_path)
    conf.set_override("backends", backends, group="healthcheck")
    # Given `app` so that a request it chooses to ignore ([healthcheck] allowed_source_ranges,
    # ignore_proxied_requests) falls through to the API instead of failing.
    checker = Healthcheck(app, conf)

    def dispatch(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        # Returned as is, never wrapped: the API's file responses must reach the server as the
        # wsgi.file_wrapper object it gave, or it cannot use sendfile() for them.
        if environ.get("PATH_INFO", "") in (path, path + "/"):
            return checker(environ, start_response)
        return app(environ, start_response)

    return dispatch


def list_opts() -> list[tuple[str, list[Any]]]:
    return [("healthcheck", opts.HEALTHCHECK_OPTS + opts.DISABLE_BY_FILE_OPTS)]
