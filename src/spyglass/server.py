"""Serves the WSGI application in gunicorn's threaded workers, and stops without cutting
transfers short.

SIGTERM to the master process:

1. Draining, for `drain_delay` seconds (0 skips it): the master sets the shared draining flag
   (spyglass.health), so /healthcheck answers 503 and a load balancer takes the node out of
   rotation, while everything else is served as usual, with "Connection: close" so that clients
   come back through the load balancer. A second SIGTERM ends the delay early.
2. Stopping: gunicorn's graceful stop. The master closes its copy of the listening socket and tells
   the workers to stop; each stops accepting and closes its own copy at once, so the port refuses
   new connections instead of queueing them on a socket nobody accepts on. Requests in flight go
   on, whether their body is still coming in or their response going out, and answer with
   "Connection: close". An idle kept-alive connection is closed within 2 seconds (gunicorn's
   STOP_KEEPALIVE_LINGER). Workers take STOP_SIGNAL from the master and ignore SIGTERM while it
   lives, so that a SIGTERM to the whole process group (systemd's default KillMode) does not end
   the drain delay in the workers.
3. Cutting: `graceful_shutdown_timeout` seconds after being told to stop, a worker shuts down the
   sockets of the requests still in flight. The application sees a failed read or write and cleans
   up as for any dropped client (an upload leaves its image queued, without data), which a SIGKILL
   would not let it do. A worker still busy CUT_GRACE seconds later exits anyway; the master
   SIGKILLs whatever is left KILL_GRACE seconds after the timeout.
4. The master exits with status 0.

What this relies on in gunicorn 27 (arbiter.py, workers/gthread.py):
- Arbiter.handle_term raises StopIteration, which run() turns into halt() -> stop() -> sys.exit(0);
  stop() waits up to the `graceful_timeout` setting, then SIGKILLs. The main loop wakes at least
  once a second (wait_for_signals(timeout=1.0)): that is where the drain delay is timed.
- ThreadWorker.handle_exit only clears `alive`; run() then calls set_accept_enabled(False) and
  waits, up to `graceful_timeout`, for `nr_conns` to reach zero, calling
  wait_for_and_dispatch_events() at least once a second. A request keeps its pool thread and its
  blocking socket for as long as it lasts.
- `timeout` is a heartbeat of the worker's main loop (notify() on every turn), not a limit on
  requests: a thread streaming for hours does not get its worker killed.
- gunicorn puts no limit on request bodies, only on the request line and header fields. A client
  that disconnects mid-body shows as a short read (b"" before Content-Length), not an exception.
- A body of known length is environ["wsgi.input"], a Body whose reader is a LengthReader: its
  `length` is what is left to read of the body, its `unreader` holds what the parser read past
  the headers (take_buffered() / unread()), and environ["gunicorn.socket"] is the connection.
  After the response, parser.finish_body() drains `length` more bytes before the next request.
- The application is built by BaseApplication.wsgi() -> load() in each worker after fork (no
  preload_app), so no database engine or open file crosses a fork.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.errors import HaltServer

from spyglass import health, logs, version
from spyglass.gunicorn_log import RequestLogger
from spyglass.gunicorn_worker import STOP_SIGNAL, SpyglassWorker, pre_request, wrap_app

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication
    from oslo_config import cfg

AppFactory = Callable[["cfg.ConfigOpts"], "WSGIApplication"]
ConfLoader = Callable[[], "cfg.ConfigOpts"]

LOG = logging.getLogger(__name__)

# The master SIGKILLs workers left this long after graceful_shutdown_timeout.
KILL_GRACE = 10
# Heartbeat of a worker's main loop: it turns at least once a second, whatever the requests do,
# so this only catches a wedged worker. Generous because building the app happens before the
# first heartbeat.
HEARTBEAT_TIMEOUT = 120



class _DrainingArbiter(Arbiter):
    def __init__(self, app: _Application, drain_delay: float) -> None:
        self._drain_delay = drain_delay
        self._drain_until: float | None = None
        super().__init__(app)

    def handle_term(self) -> None:
        health.set_draining(True)
        if self._drain_until is None and self._drain_delay > 0:
            self._drain_until = time.monotonic() + self._drain_delay
            self.log.info("Draining: /healthcheck answers 503 for %ss, then the server stops "
                          "accepting connections", self._drain_delay)
            return
        raise StopIteration

    def handle_int(self) -> None:
        health.set_draining(True)
        super().handle_int()

    def handle_quit(self) -> None:
        health.set_draining(True)
        super().handle_quit()

    def kill_worker(self, pid: int, sig: int) -> None:
        # gunicorn stops a worker gracefully with SIGTERM (stop(), reload, TTOU); ours ignore a
        # SIGTERM while their master lives, and take STOP_SIGNAL instead.
        super().kill_worker(pid, STOP_SIGNAL if sig == signal.SIGTERM else sig)

    def wait_for_signals(self, timeout: float = 1.0) -> list[int]:
        if self._drain_until is None:
            return super().wait_for_signals(timeout)
        remaining = self._drain_until - time.monotonic()
        signals = super().wait_for_signals(max(0.0, min(timeout, remaining)))
        if time.monotonic() >= self._drain_until and signal.SIGTERM not in signals:
            signals.append(signal.SIGTERM)  # the delay is over: handle_term now stops
        return signals


class _Application(BaseApplication):
    def __init__(self, conf: cfg.ConfigOpts, app_factory: AppFactory,
                 reload_conf: ConfLoader | None = None) -> None:
        self._app_factory = app_factory
        self._reload_conf = reload_conf
        self._use(conf)
        super().__init__(prog="spyglass")

    def _use(self, conf: cfg.ConfigOpts) -> None:
        self.conf = conf
        self.shutdown_timeout = conf.graceful_shutdown_timeout
        self.client_socket_timeout = conf.client_socket_timeout
        self._settings = gunicorn_settings(conf)

    def reload(self) -> None:
        # SIGHUP: gunicorn starts new workers and stops the old ones gracefully. The new ones are
        # built from the config files as they are now, if they pass the same checks as at start.
        # Logging options keep their start-up values.
        if self._reload_conf is not None:
            try:
                conf = self._reload_conf()
            except Exception as exc:  # noqa: BLE001 - whatever it is, the running config stays
                LOG.error("Configuration not reloaded, the running one stays: %s", exc)
            else:
                self._use(conf)
                LOG.info("Configuration reloaded from its files; new workers use it")
        super().reload()

    def load_config(self) -> None:
        for name, value in self._settings.items():
            self.cfg.set(name, value)

    def load(self) -> WSGIApplication:
        # Runs in each worker after fork (BaseApplication.wsgi() from Worker.load_wsgi()).
        return wrap_app(self._app_factory(self.conf))

    def run(self) -> None:
        arbiter = _DrainingArbiter(self, self.conf.drain_delay)
        try:
            arbiter.run()
        except HaltServer as exc:
            # gunicorn's halt() raises this again, out of run(), when a second worker fails to
            # boot while it stops the first (the application cannot be built).
            arbiter.log.error("Shutting down: %s", exc.reason)
            arbiter.kill_workers(signal.SIGKILL)
            sys.exit(exc.exit_status)


def _build_app(conf: cfg.ConfigOpts) -> WSGIApplication:
    from spyglass.app import build_app

    return build_app(conf)


def gunicorn_settings(conf: cfg.ConfigOpts) -> dict[str, Any]:
    host = conf.bind_host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return {
        "bind": [f"{host}:{conf.bind_port}"],
        "worker_class": SpyglassWorker,
        "workers": conf.workers,
        "threads": conf.threads,
        "preload_app": False,
        "timeout": HEARTBEAT_TIMEOUT,
        # The master's limit; the workers cut their requests at graceful_shutdown_timeout.
        "graceful_timeout": conf.graceful_shutdown_timeout + KILL_GRACE,
        # Seconds an idle kept-alive connection stays open; 0 closes it after every answer.
        "keepalive": 5 if conf.http_keepalive else 0,
        # Image listings with long "in:" filters: gunicorn's maximum request line, and Glance's
        # max_header_line for header fields (Keystone tokens, long property values).
        "limit_request_line": 8190,
        "limit_request_field_size": conf.max_header_line,
        # One line per request through oslo.log (spyglass.gunicorn_log), not gunicorn's own
        # access log.
        **({"logger_class": RequestLogger} if conf.log_requests else {}),
        # gunicorn's own messages (workers starting and stopping) go where oslo.log writes.
        "errorlog": logs.log_file_path(conf) or "-",
        "pre_request": pre_request,
        # Forwarded headers are oslo.middleware's to honour ([oslo_middleware]
        # enable_proxy_headers_parsing, off by default), not gunicorn's: by default gunicorn takes
        # X-Forwarded-Proto from any client on 127.0.0.1.
        "secure_scheme_headers": {},
        # gunicorn 25+ opens a control socket under $XDG_RUNTIME_DIR or ~/.gunicorn by default.
        "control_socket_disable": True,
        "proc_name": "spyglass",
        # "sendfile" is deliberately not set: any value of that setting, True included, turns
        # sendfile() off (gunicorn.config.Config.sendfile). Unset, gunicorn uses it unless the
        # SENDFILE environment variable says otherwise.
        #
        # sendfile notes (gunicorn/workers/gthread.py handle_request, gunicorn/http/wsgi.py
        # Response.sendfile): the zero-copy path is taken only when
        # - the WSGI pipeline returns the very object environ["wsgi.file_wrapper"](f, blksize)
        #   built (an isinstance check: middleware must pass it through unwrapped, as webob's
        #   Response and spyglass.health do);
        # - f.fileno() works (a real file), and the server is not doing TLS itself;
        # - gunicorn sends from the fd's current kernel offset, os.lseek(fd, 0, SEEK_CUR), and
        #   Content-Length bytes from there, or to end of file without one (as one chunk). So for
        #   a Range response the app seeks the file to the first byte and sets Content-Length to
        #   the range length. f.seek() on a buffered file moves the kernel offset only if nothing
        #   was read through it: after a read, a seek that lands inside the buffer moves the
        #   buffer's position alone. So the app must not read from the buffered file, before or
        #   after that seek.
        # HEAD and 204/304 responses send headers only.
    }


def serve(conf: cfg.ConfigOpts, app_factory: AppFactory | None = None,
          reload_conf: ConfLoader | None = None) -> int:
    """Run the API until stopped; returns the exit status of the master process.

    `app_factory` builds the WSGI application in each worker (spyglass.app.build_app by default).
    `reload_conf` loads and checks the configuration again on SIGHUP (raising if it cannot work).
    """
    health.set_draining(False)
    application = _Application(conf, app_factory or _build_app, reload_conf)
    LOG.info("Spyglass %s serving on %s with %d workers of %d threads", version(),
             application.cfg.bind[0], conf.workers, conf.threads)
    # Every option's value (secrets masked) with [DEFAULT] debug on, as OpenStack services do.
    conf.log_opt_values(LOG, logging.DEBUG)
    master = os.getpid()
    try:
        application.run()
    except SystemExit as exc:
        if os.getpid() != master:
            raise  # a worker process leaving: it must not return into the caller's code
        code = exc.code
        if code is None:
            return 0
        return code if isinstance(code, int) else 1
    return 0
