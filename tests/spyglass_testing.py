"""A real `spyglass serve` process on a free loopback port, driven over HTTP (used by the fixtures in
conftest.py and by tests that need a server of their own)."""
from __future__ import annotations

import fcntl
import itertools
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

HOST = "127.0.0.1"
SPYGLASS = [sys.executable, "-m", "spyglass.cli"]


# Ports for the servers the tests start. Asking the kernel for a free port (bind to 0) and starting
# the server on it later leaves a moment in which another test process, or a client's outgoing
# connection, takes the same port, and a test then talks to the wrong server. So each test process
# (each pytest-xdist worker, and each of two test runs at once) claims a range of its own, below the
# kernel's ephemeral range (32768 and up), by holding a lock on a file named after the range.
_PORTS_PER_PROCESS = 1500
_RANGES = (32768 - 10000) // _PORTS_PER_PROCESS
_LOCKS = Path(tempfile.gettempdir()) / "spyglass-test-ports"
_range_lock: list[int] = []  # the claimed range's lock, held open until this process ends
_next_port = itertools.count()


def _first_port() -> int:
    if not _range_lock:
        _LOCKS.mkdir(exist_ok=True)
        for index in range(_RANGES):
            fd = os.open(_LOCKS / f"range-{index}", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            _range_lock[:] = [fd, 10000 + index * _PORTS_PER_PROCESS]
            break
        else:
            raise RuntimeError(f"all {_RANGES} port ranges are held by other test processes")
    return _range_lock[1]


def free_port() -> int:
    """A port of this test process's range that nothing listens on now."""
    first = _first_port()
    for _ in range(_PORTS_PER_PROCESS):
        port = first + next(_next_port) % _PORTS_PER_PROCESS
        with socket.socket() as s:
            try:
                s.bind((HOST, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {first}-{first + _PORTS_PER_PROCESS - 1}")


def write_config(path: Path, options: dict[str, object]) -> Path:
    """options: {"section.name": value} or {"name": value} for [DEFAULT]."""
    sections: dict[str, list[str]] = {}
    for key, value in options.items():
        section, _, name = key.rpartition(".")
        sections.setdefault(section or "DEFAULT", []).append(f"{name} = {value}")
    path.write_text("".join(f"[{s}]\n" + "\n".join(lines) + "\n\n" for s, lines in sections.items()))
    return path


@dataclass
class SpyglassServer:
    data_dir: Path
    port: int
    config_file: Path | None = None
    config_dir: Path | None = None
    database_url: str = ""  # [database] connection; SQLite in data_dir when empty
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.data_dir / "server.log"
        self.database_url = self.database_url or f"sqlite:///{self.data_dir / 'spyglass.sqlite'}"

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _args(self) -> list[str]:
        args = ["--data-dir", str(self.data_dir)]
        if self.config_file is not None:
            args += ["--config-file", str(self.config_file)]
        if self.config_dir is not None:
            args += ["--config-dir", str(self.config_dir)]
        return args

    def db_sync(self) -> None:
        subprocess.run([*SPYGLASS, "db", "sync", *self._args()], check=True, capture_output=True, timeout=120)

    def start(self, timeout: float = 60.0, file_size_limit: int | None = None) -> "SpyglassServer":
        """file_size_limit: RLIMIT_FSIZE of the server, so that writing a larger file fails with
        EFBIG as on a full disk (Python ignores the SIGXFSZ that comes with it)."""
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child process

        def limit_files() -> None:
            if file_size_limit is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

        self.process = subprocess.Popen(
            [*SPYGLASS, "serve", *self._args(), "--bind", f"{HOST}:{self.port}"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=limit_files)
        try:
            wait_healthy(self.process, self.url, timeout, self.log)
        except RuntimeError:
            self.kill()
            raise
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"spyglass serve still running {timeout}s after SIGTERM; its log:\n"
                                 f"{self.log()}") from None

    def kill(self) -> None:
        """SIGKILL the whole process group: the server and its workers die at once, as in a crash."""
        assert self.process is not None
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)

    def session(self, project_id: str | None = None, user_id: str | None = None,
                roles: str | list[str] | None = None) -> requests.Session:
        """A requests session speaking as the given identity (keystonemiddleware's headers);
        with no arguments, as the noauth default identity (an admin)."""
        s = requests.Session()
        if project_id is not None:
            s.headers["X-Project-Id"] = project_id
            s.headers["X-User-Id"] = user_id or f"user-of-{project_id}"
            if roles is None:
                roles = ["member", "reader"]
            s.headers["X-Roles"] = roles if isinstance(roles, str) else ",".join(roles)
        original = s.request

        def request(method: str, url: str, *args: object, **kwargs: object) -> requests.Response:
            kwargs.setdefault("timeout", 60)
            return original(method, url if url.startswith("http") else self.url + url, *args, **kwargs)

        s.request = request  # type: ignore[method-assign]
        return s


def wait_healthy(process: subprocess.Popen[bytes], url: str, timeout: float, log: Callable[[], str]) -> None:
    """Until the server at `url` answers its health check; RuntimeError (with its log) if it
    exits first or is not healthy within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}:\n{log()}")
        try:
            if requests.get(f"{url}/healthcheck", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server did not become healthy in {timeout}s:\n{log()}")
        time.sleep(0.1)


def make_server(base: Path, options: dict[str, object] | None = None,
                config_dir: Path | None = None) -> SpyglassServer:
    base.mkdir(parents=True, exist_ok=True)
    config_file = write_config(base / "spyglass.conf", options) if options else None
    server = SpyglassServer(data_dir=base, port=free_port(), config_file=config_file, config_dir=config_dir,
                            database_url=str((options or {}).get("database.connection", "")))
    server.db_sync()
    return server


def new_project(server: SpyglassServer, roles: str | None = None) -> tuple[str, requests.Session]:
    """A fresh project ID and a session acting for it (member and reader unless roles say otherwise)."""
    project = uuid.uuid4().hex
    return project, server.session(project_id=project, roles=roles)


def create_image(session: requests.Session, **attrs: object) -> dict:
    """Create a raw/bare image with the given attributes; returns its document."""
    resp = session.post("/v2/images", json={"disk_format": "raw", "container_format": "bare", **attrs})
    assert resp.status_code == 201, resp.text
    return resp.json()
