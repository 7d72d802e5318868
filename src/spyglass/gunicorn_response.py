"""gunicorn's response, sending its headers in the same write as the first bytes of the body.

gunicorn writes the status line and headers with one send() and every body chunk with another.
For a small JSON answer that is two loopback segments and two wake-ups of the client where one
would do, and the second send() costs about as much as parsing the request: a tenth of an image
GET's time in the server. Here the headers are held until the body's first chunk (or sendfile,
or the end of the response) and go out with it.
"""
from __future__ import annotations

from typing import Any

from gunicorn.http import wsgi

# A first chunk larger than this is sent on its own after the headers rather than copied to join
# them: the saving is per write, and copying a large chunk costs more than the write it saves.
JOIN_LIMIT = 64 * 1024


class OneWriteResponse(wsgi.Response):
    _held = b""

    def send_headers(self) -> None:
        if self.headers_sent:
            return
        lines = self.default_headers()
        lines.extend(f"{name}: {value}\r\n" for name, value in self.headers)
        lines.append("\r\n")
        self._held = "".join(lines).encode("latin-1")
        self.headers_sent = True

    def _send_held(self) -> None:
        if self._held:
            held, self._held = self._held, b""
            self.sock.sendall(held)

    def _emit_body(self, data: bytes) -> None:
        if self._held and not self.chunked and len(data) <= JOIN_LIMIT:
            data, self._held = self._held + data, b""
        else:
            self._send_held()
        super()._emit_body(data)

    def sendfile(self, respiter: Any) -> bool:
        # gunicorn's sendfile() sends the headers and then the file on the socket directly.
        self.send_headers()
        self._send_held()
        return bool(super().sendfile(respiter))

    def close(self) -> None:
        self.send_headers()
        self._send_held()
        super().close()


def install() -> None:
    """Make gunicorn build its responses from OneWriteResponse, in this process.

    gunicorn has no setting for its response class: wsgi.create() instantiates the module's
    `Response`. Called in each worker after fork, where every response is Spyglass's.
    """
    wsgi.Response = OneWriteResponse  # type: ignore[misc]
