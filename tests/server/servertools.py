"""Helpers for the server tests: a real server process on a free loopback port, and raw HTTP/1.1
over sockets, so that a test controls exactly when each byte of a request or response moves."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
START_TIMEOUT = 30.0


def wait_until(predicate: Callable[[], object], timeout: float, what: str,
               interval: float = 0.05) -> object:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


def read_response(sock: socket.socket, head_only: bool = False, timeout: float = 30.0) -> Response:
    """Read one HTTP/1.1 response framed by Content-Length (a chunked one reads as empty)."""
    sock.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before the response headers: {buf!r}")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    body = bytearray(rest)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = 0 if head_only else int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(min(1 << 20, length - len(body)))
        if not chunk:
            raise ConnectionError(f"connection closed after {len(body)} of {length} body bytes")
        body += chunk
    return Response(status, headers, bytes(body))


def connect(port: int, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection((HOST, port), timeout=timeout)


def request(port: int, method: str, path: str, headers: dict[str, str] | None = None,
            body: bytes = b"", timeout: float = 10.0) -> Response:
    with connect(port, timeout) as sock:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body or method in ("PUT", "POST"):
            lines.append(f"Content-Length: {len(body)}")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        return read_response(sock, head_only=(method == "HEAD"), timeout=timeout)


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection((HOST, port), timeout=1.0).close()
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    return False


@dataclass
class Server:
    port: int
    data_dir: Path
    log_path: Path
    process: subprocess.Popen
    options: dict[str, object] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        return [int(p) for p in children.read_text().split()] if children.exists() else []

    def terminate(self) -> None:
        os.kill(self.pid, signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"server still running after {timeout}s; log:\n{self.log()}")

    def get(self, path: str, **kwargs) -> Response:
        return request(self.port, "GET", path, **kwargs)


class SendfileCalls(list):
    """(offset, count) of each sendfile(2) call, and the raw strace output in `raw`."""
    raw = ""

    def __repr__(self) -> str:
        return f"{list(self)!r} from strace:\n{self.raw}"


@dataclass
class Trace:
    text: str = ""


@contextlib.contextmanager
def syscall_trace(pids: list[int], directory: Path, syscalls: str,
                  finished: Callable[[str], bool]) -> Iterator[Trace]:
    """Trace the given system calls (strace's trace= list) in the given processes while the block
    runs; the yielded Trace has strace's output once the block is over and `finished(text)` says
    every expected call is written out (or 10 s have passed). Strings are recorded up to 4 KiB.
    Skips the test where strace is missing or may not attach."""
    import pytest

    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed")
    trace, messages = directory / "strace.out", directory / "strace.err"
    result = Trace()
    with open(messages, "wb") as err:
        tracer = subprocess.Popen(
            [strace, "-f", "-s", "4096", "-e", f"trace={syscalls}", "-o", str(trace)]
            + [arg for pid in pids for arg in ("-p", str(pid))],
            stdout=subprocess.DEVNULL, stderr=err)
    try:
        def attached() -> bool:
            text = messages.read_text()
            if tracer.poll() is not None or "Operation not permitted" in text:
                pytest.skip(f"strace cannot attach here: {text.strip()}")
            return all(f"Process {pid} attached" in text for pid in pids)

        wait_until(attached, 10, "strace to attach to the workers")
        yield result
        # The client can hold every byte before strace has written the finished call out.
        try:
            wait_until(lambda: trace.exists() and finished(trace.read_text()), 10,
                       "strace to record the expected calls")
        except AssertionError:
            pass  # the caller's assertions say what is missing, with the whole trace
    finally:
        tracer.send_signal(signal.SIGINT)
        tracer.wait(timeout=10)
    result.text = trace.read_text()


def whole_calls(trace: str) -> list[str]:
    """strace's lines with each call another thread interrupted made whole again: strace writes
    it as "PID  fsync(15 <unfinished ...>" and, lines later, "PID  <... fsync resumed>) = 0"."""
    calls: list[str] = []
    pending: dict[str, int] = {}  # pid -> index in calls of its unfinished call
    for line in trace.splitlines():
        pid, _, call = line.strip().partition(" ")
        call = call.strip()
        resumed = re.match(r"<\.\.\. \w+ resumed>(.*)", call)
        if resumed and pid in pending:
            calls[pending.pop(pid)] += resumed.group(1)
        elif call.endswith(" <unfinished ...>"):
            pending[pid] = len(calls)
            calls.append(call[:-len(" <unfinished ...>")])
        else:
            calls.append(call)
    return calls


@contextlib.contextmanager
def sendfile_trace(pids: list[int], directory: Path, expected_calls: int) -> Iterator[SendfileCalls]:
    """(offset, count) of each sendfile(2) call the processes make while the block runs."""
    calls = SendfileCalls()
    with syscall_trace(pids, directory, "sendfile",
                       lambda text: len(_sendfile_calls(text)) >= expected_calls) as trace:
        yield calls
    calls.raw = trace.text
    calls.extend(_sendfile_calls(calls.raw))


def _sendfile_calls(trace: str) -> list[tuple[str, str]]:
    # A call another thread's output interrupts is written as "sendfile(out, in, [offset], count
    # <unfinished ...>" and finished on a later line; both forms give offset and count.
    return re.findall(r"sendfile\(\d+, \d+, \[(\d+)\][^,]*, (\d+)[) ]", trace)
