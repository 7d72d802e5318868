"""Fixtures for the server tests (helpers in servertools.py)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from servertools import HERE, HOST, START_TIMEOUT, Server, request, wait_until
from spyglass_testing import free_port, write_config

# The test application (drainapp): most of these tests are about the server, and need an upload
# and a download they can hold open at will.
_RUN_TEST_APP = textwrap.dedent("""
    import sys
    sys.path.insert(0, {here!r})
    import drainapp
    from spyglass import config, server
    conf = config.load(config_files=[{config!r}])
    sys.exit(server.serve(conf, drainapp.build))
""")


def spyglass_command() -> list[str]:
    script = Path(sys.executable).with_name("spyglass")
    return [str(script)] if script.exists() else [sys.executable, "-m", "spyglass.cli"]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """start(api=False, data_dir=None, **options): a server on a free port, ready to serve.

    api=True runs the real `spyglass serve` (after `spyglass db sync`) instead of the test app.
    Options are config options, "section.name" for other sections than [DEFAULT].
    """
    started: list[Server] = []

    def start(api: bool = False, data_dir: Path | None = None, **options: object) -> Server:
        n = len(started)
        port = free_port()
        if data_dir is None:
            data_dir = tmp_path / f"data-{n}"
            data_dir.mkdir()
        settings: dict[str, object] = {
            "bind_host": HOST, "bind_port": port, "data_dir": data_dir,
            "workers": 2, "threads": 4, "graceful_shutdown_timeout": 30, "drain_delay": 0,
        }
        settings.update(options)
        config_path = tmp_path / f"spyglass-{n}.conf"
        write_config(config_path, settings)
        log_path = tmp_path / f"server-{n}.log"
        if api:
            sync = subprocess.run(spyglass_command() + ["db", "sync", "--config-file", str(config_path)],
                                  capture_output=True, text=True, timeout=120)
            assert sync.returncode == 0, sync.stdout + sync.stderr
            argv = spyglass_command() + ["serve", "--config-file", str(config_path)]
        else:
            argv = [sys.executable, "-c", _RUN_TEST_APP.format(here=str(HERE), config=str(config_path))]
        with open(log_path, "wb") as log:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        server = Server(port, data_dir, log_path, process, settings)
        started.append(server)

        def up() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"server exited with {process.returncode}:\n{server.log()}")
            try:
                return request(port, "GET", "/healthcheck", timeout=2).status == 200
            except OSError:
                return False

        wait_until(up, START_TIMEOUT, "the server to answer")
        workers = int(settings["workers"])
        if not api:
            wait_until(lambda: len(list(data_dir.glob("worker-*"))) >= workers, START_TIMEOUT,
                       "every worker to build the application")
        return server

    yield start

    for server in started:
        if server.process.poll() is None:
            try:
                os.killpg(server.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            server.process.wait(timeout=10)
