"""Real Glance 33, from PyPI, run on loopback beside Spyglass: its virtualenv (installed once into a
cache directory a fresh machine rebuilds) and its API in gunicorn, on a database and a filesystem
store that the caller chooses, so that both services can work on the same rows and files.

Glance runs its own `headers` paste pipeline (ContextMiddleware without keystonemiddleware): it
trusts the identity headers auth_token would set, the same headers Spyglass reads.

`python tests/real_glance.py install` installs it (scripts/test does, before the suite); the
tests that need it skip when it is missing.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests
from spyglass_testing import HOST, free_port

GLANCE_REQUIREMENT = "glance==33.*"
# The identity headers that keystonemiddleware sets; Glance's `headers` flavour wants them all.
IDENTITY_STATUS = {"X-Identity-Status": "Confirmed"}

# Glance's own `headers` pipeline, as its glance-api-paste.ini ships it (minus the cache filters).
PASTE_INI = """\
[pipeline:glance-api-headers]
pipeline = cors http_proxy_to_wsgi versionnegotiation osprofiler context rootapp

[composite:rootapp]
paste.composite_factory = glance.api:root_app_factory
/: apiversions
/v2: apiv2app

[app:apiversions]
paste.app_factory = glance.api.versions:create_resource

[app:apiv2app]
paste.app_factory = glance.api.v2.router:API.factory

[filter:versionnegotiation]
paste.filter_factory = glance.api.middleware.version_negotiation:VersionNegotiationFilter.factory

[filter:context]
paste.filter_factory = glance.api.middleware.context:ContextMiddleware.factory

[filter:cors]
paste.filter_factory = oslo_middleware.cors:filter_factory
oslo_config_project = glance
oslo_config_program = glance-api

[filter:http_proxy_to_wsgi]
paste.filter_factory = oslo_middleware:HTTPProxyToWSGI.factory

[filter:osprofiler]
paste.filter_factory = osprofiler.web:WsgiMiddleware.factory
"""


def venv_path() -> Path:
    """SPYGLASS_GLANCE_VENV, or glance-33 under the user's cache directory."""
    configured = os.environ.get("SPYGLASS_GLANCE_VENV")
    if configured:
        return Path(configured)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "spyglass" / "glance-33"


# What goes into Glance's virtualenv: Glance, the server the tests run it in, and the drivers of
# the databases the tests share with it.
PACKAGES = (GLANCE_REQUIREMENT, "gunicorn", "psycopg[binary]", "PyMySQL")


def installed(venv: Path | None = None) -> Path | None:
    venv = venv or venv_path()
    return venv if _stamp(venv).exists() and _stamp(venv).read_text() == " ".join(PACKAGES) else None


def install(venv: Path | None = None, extra: tuple[str, ...] = ()) -> Path:
    """PACKAGES (and `extra` packages, each named as its executable) into `venv`, once."""
    venv = venv or venv_path()
    if installed(venv) and all((venv / "bin" / name).exists() for name in extra):
        return venv
    print(f"installing {GLANCE_REQUIREMENT} into {venv} (once)", file=sys.stderr, flush=True)
    if not (venv / "bin" / "pip").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
                    *PACKAGES, *extra], check=True)
    _stamp(venv).write_text(" ".join(PACKAGES))
    return venv


def _stamp(venv: Path) -> Path:
    """Written after a complete install: a venv without it (or with other packages) is redone."""
    return venv / "spyglass-packages.txt"


class GlanceApi:
    """Glance's API on `db_url` and the filesystem store `store_dir`, its config and logs in `work`.

    The database must carry Glance's schema before start() (`spyglass db sync`, or db_sync() here)."""

    def __init__(self, venv: Path, work: Path, db_url: str, store_dir: Path, *,
                 workers: int = 1, threads: int = 4) -> None:
        self.venv, self.work, self.workers, self.threads = venv, work, workers, threads
        self.port = free_port()
        self.log_file = work / "glance-server.log"
        self.process: subprocess.Popen[bytes] | None = None
        work.mkdir(parents=True, exist_ok=True)
        store_dir.mkdir(parents=True, exist_ok=True)
        self.config_file = work / "glance-api.conf"
        (work / "glance-api-paste.ini").write_text(PASTE_INI)
        self.config_file.write_text(f"""\
[DEFAULT]
log_file = {work / 'glance-api.log'}
node_staging_uri = file://{work / 'staging'}

[database]
connection = {db_url}

[glance_store]
stores = file
default_store = file
filesystem_store_datadir = {store_dir}/

[paste_deploy]
flavor = headers
config_file = {work / 'glance-api-paste.ini'}
""")

    def set_image_properties(self, properties: dict[str, Any]) -> None:
        """What a deployment puts in /etc/glance/schema-image.json: the optional properties Glance
        adds to its image schema (the pip package installs none). Read at start."""
        (self.work / "schema-image.json").write_text(json.dumps(properties))

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.venv / "bin" / "glance-manage"), "--config-file", str(self.config_file),
                               *args], capture_output=True, text=True, timeout=180, check=False)

    def db_sync(self) -> None:
        result = self.manage("db", "sync")
        assert result.returncode == 0, result.stdout + result.stderr

    def command(self) -> list[str]:
        return [str(self.venv / "bin" / "gunicorn"), "-k", "gthread", "--workers", str(self.workers),
                "--threads", str(self.threads), "--bind", f"{HOST}:{self.port}",
                "glance.common.wsgi_app:init_app()"]

    def start(self, headers: dict[str, str], timeout: float = 120) -> GlanceApi:
        """Start, then wait until an image listing as `headers` answers 200."""
        env = {**os.environ, "OS_GLANCE_CONFIG_DIR": str(self.work), "PYTHONWARNINGS": "ignore"}
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(self.command(), env=env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"Glance exited with {self.process.returncode}:\n{self.log()}")
            try:
                if requests.get(f"{self.url}/v2/images?limit=1", headers={**IDENTITY_STATUS, **headers},
                                timeout=5).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Glance did not answer in {timeout}s:\n{self.log()}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def log(self) -> str:
        return "".join(path.read_text(errors="replace") for path in (self.log_file, self.work / "glance-api.log")
                       if path.exists())

    def log_count(self, needle: str) -> int:
        return self.log().count(needle)


if __name__ == "__main__":
    if sys.argv[1:] != ["install"]:
        sys.exit(f"usage: {sys.argv[0]} install")
    install()
