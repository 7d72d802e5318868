"""Session fixtures: a real `spyglass serve` process on a free loopback port, driven over HTTP."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from spyglass_testing import SpyglassServer, make_server

@pytest.fixture(scope="session")
def spyglass_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SpyglassServer]:
    """One server per test process, shared by its tests: tests use unique names and projects."""
    server = make_server(tmp_path_factory.mktemp("spyglass"), {"workers": 2, "threads": 8})
    server.start()
    yield server
    server.stop()


@pytest.fixture
def new_server(tmp_path: Path) -> Iterator[Callable[..., SpyglassServer]]:
    """Start private servers (for crash and restart tests); all are killed at the end."""
    servers: list[SpyglassServer] = []

    def start(options: dict[str, object] | None = None, data_dir: Path | None = None,
              file_size_limit: int | None = None, config_dir: Path | None = None) -> SpyglassServer:
        server = make_server(data_dir or tmp_path / f"server-{len(servers)}", options, config_dir)
        servers.append(server)
        return server.start(file_size_limit=file_size_limit)

    yield start
    for server in servers:
        if server.process is not None and server.process.poll() is None:
            server.kill()
