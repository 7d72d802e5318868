"""Spyglass beside real Glance 33 on this machine, in the same run: image creates and image GETs per
second with 1 and 16 clients, and deletes with 16 (of the images the create phases made), each phase
measured on both servers one right after the other, for several rounds. The ratio is taken within
each round, so that the shared machine's drift cancels out.

Both servers get the same load (wrk and the Lua scripts of bench/metadata.py, keep-alive
connections), the same identity headers (what keystonemiddleware would set: Glance's `headers`
paste flavour reads them, Spyglass reads them always), the same embedded defaults (SQLite, a file
store in a scratch directory) and the same server: gunicorn gthread with the same workers and
threads (Spyglass's defaults unless given), which keeps the comparison about the applications.
With --glance-server uwsgi, Glance runs instead under uWSGI set up the way DevStack sets it up
(the deployment the issue's reference figures come from): http-socket, as many processes as
DevStack's API_WORKERS gives on this machine (a quarter of the CPUs, at least 2), one thread
each, "Connection: close" on every answer, no keep-alive; DevStack's Apache in front of it is
left out, which only spares Glance a hop.

Glance is installed from PyPI (`glance==33.*` and gunicorn) into a virtualenv kept in a cache
directory, ~/.cache/spyglass-bench/glance-33 unless --glance-venv says otherwise: the first run
needs the package registry and takes a few minutes.

Usage: .venv/bin/python bench/glance_compare.py [--rounds N] [--seconds S] [--glance-venv DIR]
                                               [--glance-server gunicorn|uwsgi]
"""
from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (HOST, Server, free_port, machine_description, median, scratch_dir,  # noqa: E402
                     spread, table, wait_for_http)
from metadata import ensure_wrk, run_wrk, write_ids  # noqa: E402

GLANCE_REQUIREMENT = "glance==33.*"
DEFAULT_VENV = Path.home() / ".cache" / "spyglass-bench" / "glance-33"
IDENTITY = {"X-Identity-Status": "Confirmed", "X-Project-Id": "bench", "X-User-Id": "bench-user",
            "X-Roles": "admin,member,reader"}

# The middleware of Glance's own `headers` pipeline (the one it ships, for a deployment that gets
# identity headers from a proxy), so that Glance is measured as operators run it.
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


def ensure_glance(venv: Path, server: str) -> Path:
    if not (venv / "bin" / "glance-manage").exists():
        print(f"installing {GLANCE_REQUIREMENT} and gunicorn into {venv} (once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", GLANCE_REQUIREMENT, "gunicorn"], check=True)
    if server == "uwsgi" and not (venv / "bin" / "uwsgi").exists():
        print(f"installing uwsgi into {venv} (once; it compiles, which needs a C compiler)", flush=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "uwsgi"], check=True)
    return venv


def devstack_api_workers() -> int:
    return max(2, (os.cpu_count() or 1) // 4)


def uwsgi_ini(venv: Path, port: int, processes: int) -> str:
    """DevStack's uWSGI settings for an API service (lib/apache, write_local_uwsgi_http_config)."""
    return f"""\
[uwsgi]
virtualenv = {venv}
module = glance.wsgi.api:application
http-socket = {HOST}:{port}
processes = {processes}
master = true
die-on-term = true
exit-on-reload = false
enable-threads = true
thunder-lock = true
hook-master-start = unix_signal:15 gracefully_kill_them_all
buffer-size = 65535
add-header = Connection: close
lazy-apps = true
http-raw-body = true
http-chunked-input = true
http-auto-chunked = true
http-keepalive = false
socket-timeout = 30
"""


class GlanceServer:
    """`glance-manage db sync`, then Glance's API in gunicorn (or uWSGI) on 127.0.0.1; SIGTERM on exit."""

    def __init__(self, venv: Path, work: Path, workers: int, threads: int, server: str = "gunicorn") -> None:
        self.venv, self.work, self.workers, self.threads, self.server = venv, work, workers, threads, server
        self.port = free_port()
        self.db_file = work / "glance.sqlite"
        self.log_file = work / f"{server}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        (work / "store").mkdir(parents=True)
        (work / "glance-api-paste.ini").write_text(PASTE_INI)
        (work / "glance-api.conf").write_text(f"""\
[DEFAULT]
log_file = {work / 'glance-api.log'}
node_staging_uri = file://{work / 'staging'}

[database]
connection = sqlite:///{self.db_file}

[glance_store]
stores = file
default_store = file
filesystem_store_datadir = {work / 'store'}/

[paste_deploy]
flavor = headers
config_file = {work / 'glance-api-paste.ini'}
""")

    def __enter__(self) -> GlanceServer:
        bin_dir = self.venv / "bin"
        subprocess.run([str(bin_dir / "glance-manage"), "--config-file", str(self.work / "glance-api.conf"),
                        "db", "sync"], check=True, capture_output=True)
        env = {**os.environ, "OS_GLANCE_CONFIG_DIR": str(self.work), "PYTHONWARNINGS": "ignore"}
        if self.server == "uwsgi":
            ini = self.work / "glance-api-uwsgi.ini"
            ini.write_text(uwsgi_ini(self.venv, self.port, self.workers))
            command = [str(bin_dir / "uwsgi"), "--ini", str(ini)]
        else:
            command = [str(bin_dir / "gunicorn"), "-k", "gthread", "--workers", str(self.workers),
                       "--threads", str(self.threads), "--bind", f"{HOST}:{self.port}",
                       "glance.common.wsgi_app:init_app()"]
        with open(self.log_file, "ab") as log:
            self.proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        wait_for_http(self.proc, self.port, "/v2/images?limit=1", what="Glance", log_file=self.log_file,
                      warm_ups=self.workers * 4, headers=IDENTITY, timeout=120)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def log_count(self, needle: str) -> int:
        return sum(path.read_text(errors="replace").count(needle)
                   for path in (self.log_file, self.work / "glance-api.log") if path.exists())


def live_ids(db_file: Path) -> list[str]:
    with sqlite3.connect(db_file) as db:
        return [row[0] for row in db.execute("SELECT id FROM images WHERE deleted = 0 ORDER BY created_at, id")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10, help="duration of each wrk phase")
    ap.add_argument("--clients", type=int, default=16, help="the concurrent case (1 is always measured too)")
    ap.add_argument("--workers", type=int, default=(os.cpu_count() or 1) + 1,
                    help="gunicorn workers of both servers (default: Spyglass's default, CPUs + 1)")
    ap.add_argument("--threads", type=int, default=16, help="threads per worker of both servers")
    ap.add_argument("--glance-venv", type=Path, default=DEFAULT_VENV)
    ap.add_argument("--glance-server", choices=("gunicorn", "uwsgi"), default="gunicorn",
                    help="what serves Glance: the same gunicorn as Spyglass, or uWSGI as DevStack runs it")
    ap.add_argument("--dir", help="parent of the scratch directories (default: the system temp dir)")
    ap.add_argument("--quick", action="store_true", help="one round of 2 s phases: a smoke test")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.seconds = 1, 2
    wrk = ensure_wrk(False)
    venv = ensure_glance(args.glance_venv, args.glance_server)
    phases = [("create", "create.lua", 1), ("create", "create.lua", args.clients),
              ("get", "show.lua", 1), ("get", "show.lua", args.clients), ("delete", "delete.lua", args.clients)]
    rates: dict[tuple[str, str], list[float]] = {}
    errors: dict[str, int] = {"glance": 0, "spyglass": 0}

    with scratch_dir(args.dir, "spyglass-bench-glance-") as work:
        print(f"machine: {machine_description(work)}")
        spyglass_desc = f"gunicorn gthread, {args.workers} workers x {args.threads} threads"
        if args.glance_server == "uwsgi":
            glance_workers = devstack_api_workers()
            print(f"Glance: uWSGI as DevStack runs it, {glance_workers} processes x 1 thread, Connection: close; "
                  f"Spyglass: {spyglass_desc}")
        else:
            glance_workers = args.workers
            print(f"both servers: {spyglass_desc}")
        print(f"SQLite, file store; {args.rounds} round(s) of {args.seconds} s per phase and server")
        glance_dir, spyglass_dir = work / "glance", work / "spyglass"
        spyglass_dir.mkdir()
        with GlanceServer(venv, glance_dir, glance_workers, args.threads, args.glance_server) as glance, \
                Server(spyglass_dir, workers=args.workers, threads=args.threads) as spyglass:
            servers: list[tuple[str, Any, Any]] = [
                ("glance", glance, lambda: live_ids(glance.db_file)),
                ("spyglass", spyglass, lambda: live_ids(spyglass_dir / "spyglass.sqlite"))]
            for round_no in range(1, args.rounds + 1):
                print(f"round {round_no}/{args.rounds}", flush=True)
                for op, script, clients in phases:
                    # Alternate which server goes first, so neither always follows the other's load.
                    order = servers if round_no % 2 else servers[::-1]
                    for name, server, ids in order:
                        extra = [str(write_ids(work / f"{name}-ids.txt", ids()))] if op != "create" else []
                        if op == "delete":
                            extra.append("2")  # wrk threads, among which delete.lua deals the IDs
                        r = run_wrk(wrk, server.port, script, clients, args.seconds, *extra, headers=IDENTITY)
                        # A delete succeeds with 204; delete.lua's last request per thread is a GET.
                        ok = r["ok204"] if op == "delete" else r["requests"] - r["non2xx"]
                        rates.setdefault((f"{op} x{clients}", name), []).append(ok / (r["duration_us"] / 1e6))
                        errors[name] += r["non2xx"] + r["socket_errors"]
            locked = {"glance": glance.log_count("database is locked"),
                      "spyglass": spyglass.log_count("database is locked")}

    rows = []
    for op, _, clients in phases:
        key = f"{op} x{clients}"
        g, s = rates[(key, "glance")], rates[(key, "spyglass")]
        per_round = [b / a if a else float("inf") for a, b in zip(g, s)]
        rows.append([key, spread(g), spread(s), spread(per_round, "{:.1f}x")])
    print()
    print(table(rows, ["successful req/s", "Glance 33", "Spyglass", "Spyglass / Glance, per round"]))
    print(f"\nnon-2xx answers and socket errors: Glance {errors['glance']}, Spyglass {errors['spyglass']}; "
          f"'database is locked' in the logs: Glance {locked['glance']}, Spyglass {locked['spyglass']}")
    summary = ", ".join(f"{row[0]} {median([b / a for a, b in zip(rates[(row[0], 'glance')], rates[(row[0], 'spyglass')])]):.1f}x"
                        for row in rows)
    print(f"\nSUMMARY glance_compare (median of per-round ratios): {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
