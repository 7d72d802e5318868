"""Session fixtures: a real `spyglass serve` process on a free loopback port, driven over HTTP.

With SPYGLASS_TEST_DATABASE=postgresql or mariadb, the shared server keeps its images in a scratch
database on that server (database_servers.py), and only the tests that use the shared server run:
the rest start servers of their own on SQLite, which the default run covers.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from database_servers import URL_VARIABLES, scratch_database
from spyglass_testing import SpyglassServer, make_server

DATABASE = os.environ.get("SPYGLASS_TEST_DATABASE", "sqlite")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if DATABASE == "sqlite":
        return
    if DATABASE not in URL_VARIABLES:
        raise pytest.UsageError(f"SPYGLASS_TEST_DATABASE={DATABASE}: one of sqlite, {', '.join(URL_VARIABLES)}")
    elsewhere = [item for item in items if "spyglass_server" not in getattr(item, "fixturenames", ())]
    config.hook.pytest_deselected(items=elsewhere)
    items[:] = [item for item in items if item not in elsewhere]


@pytest.fixture(scope="session")
def spyglass_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SpyglassServer]:
    """One server per test process, shared by its tests: tests use unique names and projects."""
    options: dict[str, object] = {"workers": 2, "threads": 8}
    with ExitStack() as cleanup:
        if DATABASE != "sqlite":
            options["database.connection"] = cleanup.enter_context(scratch_database(DATABASE, "api"))
        server = make_server(tmp_path_factory.mktemp("spyglass"), options)
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
