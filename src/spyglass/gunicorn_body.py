"""A request body of known length, read from the connection's socket straight into the
application's buffers, underneath gunicorn's own body reader."""
from __future__ import annotations

import socket

from gunicorn.http.body import Body


class SocketBody:
    """A request body of known length, read straight from the socket into the caller's buffer
    (READINTO_KEY in the environ). gunicorn's own reader allocates a new bytes object per recv()
    and copies it through two buffers: for an upload that is as much CPU as writing the bytes to
    disk, on the cores that hash them.

    It takes over from gunicorn only when first called, so a handler that reads wsgi.input instead
    is unaffected (one handler must not use both). It keeps gunicorn's count of the body bytes
    still unread (LengthReader.length) right, so that the connection can carry the next request,
    or is closed after a body that came short.
    """

    def __init__(self, body: Body, sock: socket.socket) -> None:
        self._body = body
        self._sock = sock
        self._head: memoryview | None = None

    def _take_buffered(self) -> memoryview:
        # What gunicorn's parser read past the headers is the body's start (not yet counted
        # out of the reader's length), and may run past the body into the next request on the
        # connection: that part is given back.
        reader = self._body.reader
        ahead = reader.unreader.take_buffered()
        mine = ahead[:reader.length]
        if len(ahead) > len(mine):
            reader.unreader.unread(ahead[len(mine):])
        reader.length -= len(mine)
        return memoryview(mine)

    def __call__(self, buffer: memoryview) -> int:
        if self._head is None:
            self._head = self._take_buffered()
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        reader = self._body.reader
        want = min(len(buffer), reader.length)
        if want == 0:
            return 0
        n = self._sock.recv_into(buffer, want, socket.MSG_WAITALL)
        reader.length -= n
        return n
