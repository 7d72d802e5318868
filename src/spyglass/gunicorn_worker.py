"""gunicorn's threaded worker as Spyglass runs it: a kept-alive connection served on the same
thread, the socket body reader and Connection: close after errors (wrap_app), the listener closed
as soon as the worker stops accepting, and requests still in flight cut at
graceful_shutdown_timeout. The stop sequence as a whole is described in spyglass.server.
"""
from __future__ import annotations

import os
import select
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gunicorn.http.body import Body, LengthReader
from gunicorn.workers.gthread import ThreadWorker

from spyglass import gunicorn_response, health
from spyglass.api.data import READINTO_KEY
from spyglass.gunicorn_body import SocketBody

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

# What the master sends a worker to stop it gracefully (gunicorn sends SIGTERM).
STOP_SIGNAL = signal.SIGUSR2
# A worker still busy this long after cutting its requests exits without waiting for them.
CUT_GRACE = 5
# A pool thread that has answered a kept-alive request serves the connection's next request
# itself if it arrives within this many milliseconds, up to KEEP_SERVING requests in a row; only
# then does the connection go back to the worker's poller (see SpyglassWorker.handle).
NEXT_REQUEST_WAIT_MS = 2
KEEP_SERVING = 100

# The gunicorn request each pool thread is serving: pre_request runs in that thread, right before
# the application is called for the request.
_current = threading.local()


def pre_request(worker: ThreadWorker, req: Any) -> None:
    _current.request = req
    if health.is_draining():
        req.force_close()


def wrap_app(app: WSGIApplication) -> WSGIApplication:
    """What the application needs from the server beyond WSGI:

    - the socket body reader (spyglass.gunicorn_body), for bodies of known length;
    - "Connection: close" after an error answered to a request with a body: the error may leave
      most of that body unread (a refused multi-GiB upload), and gunicorn then drops the
      connection instead of reading it all, so the client must not send its next request into
      it. Applications cannot set hop-by-hop headers, hence this hook into the request.
    """

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        has_body = environ.get("CONTENT_LENGTH") not in (None, "", "0") or \
            "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        body = environ.get("wsgi.input")
        sock = environ.get("gunicorn.socket")
        if isinstance(body, Body) and isinstance(body.reader, LengthReader) and sock is not None:
            environ[READINTO_KEY] = SocketBody(body, sock)

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if has_body and status[:1] in ("4", "5"):
                request = getattr(_current, "request", None)
                if request is not None:
                    request.force_close()
            return start_response(status, headers, exc_info)

        return app(environ, start)

    return wrapped


class SpyglassWorker(ThreadWorker):
    """gunicorn's threaded worker, closing its listening socket as soon as it stops accepting and
    cutting the requests still in flight at graceful_shutdown_timeout."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_thread: set[Any] = set()  # TConn objects a pool thread is working on
        self._cut_at: float | None = None
        self._cut_done = False

    def init_process(self) -> None:
        gunicorn_response.install()  # after the fork: the master keeps gunicorn's own
        super().init_process()

    def enqueue_req(self, conn: Any) -> None:
        if not getattr(conn, "spyglass_rcvtimeo", False):
            conn.spyglass_rcvtimeo = True
            seconds = self.app.client_socket_timeout
            if seconds > 0:
                # SO_RCVTIMEO bounds each recv() on the blocking socket, not the whole request.
                conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO,
                                     struct.pack("ll", seconds, 0))
        self._in_thread.add(conn)
        super().enqueue_req(conn)

    def handle(self, conn: Any) -> Any:
        # gthread hands a kept-alive connection from the pool thread to the main thread's poller
        # and back for every request: a pipe write, two selector turns and a queue hand-off, which
        # cost as much as serving a small request. Clients send their next request right after the
        # answer, so waiting a moment for it here saves all that; a connection that goes quiet, or
        # has been served KEEP_SERVING times in a row (fairness to connections queued for a
        # thread), goes back to the poller as before.
        result = super().handle(conn)
        served = 1
        while result is True and self.alive and served < KEEP_SERVING and self._next_request_soon(conn):
            result = super().handle(conn)
            served += 1
        return result

    @staticmethod
    def _next_request_soon(conn: Any) -> bool:
        if conn.parser.unreader.buf.getvalue():
            return True  # already read ahead (pipelining)
        poller = select.poll()
        poller.register(conn.sock, select.POLLIN)
        return bool(poller.poll(NEXT_REQUEST_WAIT_MS))

    def finish_request(self, conn: Any, fs: Any) -> None:
        self._in_thread.discard(conn)
        super().finish_request(conn, fs)

    def set_accept_enabled(self, enabled: bool) -> None:
        super().set_accept_enabled(enabled)
        if not enabled and not self.alive and self._cut_at is None:
            # Stopping. Closing our copy of the listener now, not when the last request is done,
            # is what makes the port refuse connections during a long drain.
            for listener in self.sockets:
                listener.close()
            # Requests in flight answer "Connection: close" (unless their headers are out already)
            # instead of holding their connection open for another request for up to 2 seconds.
            for conn in list(self._in_thread):
                request = getattr(conn.parser, "mesg", None)
                if request is not None:
                    request.force_close()
            self._cut_at = time.monotonic() + self.app.shutdown_timeout

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        if self._cut_at is not None:
            now = time.monotonic()
            if now >= self._cut_at + CUT_GRACE and self._in_thread:
                self.log.error("%d request(s) still running %ss after being cut: exiting",
                               len(self._in_thread), CUT_GRACE)
                sys.stderr.flush()
                os._exit(1)
            if now >= self._cut_at:
                self._cut_in_flight()
            else:
                timeout = min(timeout, self._cut_at - now)
        super().wait_for_and_dispatch_events(timeout)

    def _cut_in_flight(self) -> None:
        if self._cut_done:
            return
        self._cut_done = True
        if self._in_thread:
            self.log.warning("graceful_shutdown_timeout reached: closing %d connection(s) with a "
                             "request in flight", len(self._in_thread))
        for conn in list(self._in_thread):
            try:
                # Wakes a thread blocked in recv() (it reads EOF) or send()/sendfile() (EPIPE).
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def init_signals(self) -> None:
        super().init_signals()
        signal.signal(STOP_SIGNAL, self.handle_exit)
        signal.siginterrupt(STOP_SIGNAL, False)
        signal.signal(signal.SIGTERM, self._handle_term)

    def _handle_term(self, sig: int, frame: Any) -> None:
        # While the master lives it decides when workers stop (and tells them with STOP_SIGNAL):
        # a SIGTERM sent to every process of the service at once, as systemd's default
        # KillMode=control-group does, must not end the drain delay in the workers.
        if os.getppid() != self.ppid:
            self.handle_exit(sig, frame)

    def handle_quit(self, sig: int, frame: Any) -> None:
        # SIGINT/SIGQUIT: stop now, but let the threads see their sockets fail rather than keep
        # the process alive until the master's SIGKILL.
        self._cut_in_flight()
        super().handle_quit(sig, frame)
