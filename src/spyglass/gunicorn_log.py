"""gunicorn's logger, writing one line per request through oslo.log (where Spyglass's own log
goes: standard output, `log_file`, syslog), with the request's OpenStack request ID; used when
`[DEFAULT] log_requests` is on.

    INFO spyglass.requests [-] 127.0.0.1 "GET /v2/images?limit=5 HTTP/1.1" status: 200 len: 647
    time: 0.0021 request_id: req-9a1c...

gunicorn's own access log writes through handlers of its own, in Apache's format and without
the request ID that ties a request to the rest of the log.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from gunicorn.glogging import Logger
from oslo_middleware.request_id import ENV_REQUEST_ID

REQUESTS = logging.getLogger("spyglass.requests")


class RequestLogger(Logger):
    @property
    def access_log_enabled(self) -> bool:
        # gunicorn derives this from its own accesslog setting, which stays unset; workers that
        # consult it before calling access() must not skip these lines.
        return True

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> None:
        if not REQUESTS.isEnabledFor(logging.INFO):
            return
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        REQUESTS.info('%s "%s %s HTTP/%s.%s" status: %s len: %s time: %.4f request_id: %s',
                      environ.get("REMOTE_ADDR", "-"), environ["REQUEST_METHOD"], environ.get("RAW_URI", ""),
                      req.version[0], req.version[1], status, resp.sent,
                      request_time.total_seconds(), environ.get(ENV_REQUEST_ID, "-"))
