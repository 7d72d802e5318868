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

Glance is installed from PyPI (`glance==33.*` and gunicorn, uWSGI if asked for) into the virtualenv
the tests use (tests/real_glance.py: ~/.cache/spyglass/glance-33 unless SPYGLASS_GLANCE_VENV or
--glance-venv say otherwise): the first run needs the package registry and takes a minute or two.

Usage: .venv/bin/python bench/glance_compare.py [--rounds N] [--seconds S] [--glance-venv DIR]
                                               [--glance-server gunicorn|uwsgi]
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import real_glance
from _common import (
    HOST,
    Server,
    machine_description,
    median,
    scratch_dir,
    spread,
    table,
    wait_for_http,
)
from metadata import ensure_wrk, run_wrk, write_ids

IDENTITY = {"X-Identity-Status": "Confirmed", "X-Project-Id": "bench", "X-User-Id": "bench-user",
            "X-Roles": "admin,member,reader"}


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


class GlanceServer(real_glance.GlanceApi):
    """`glance-manage db sync` on a database of its own, then Glance's API in gunicorn (the harness
    of the tests) or in uWSGI as DevStack runs it; stopped on exit."""

    def __init__(self, venv: Path, work: Path, workers: int, threads: int, server: str = "gunicorn") -> None:
        self.db_file = work / "glance.sqlite"
        super().__init__(venv, work, f"sqlite:///{self.db_file}", work / "store", workers=workers, threads=threads)
        self.server = server

    def command(self) -> list[str]:
        if self.server != "uwsgi":
            return super().command()
        ini = self.work / "glance-api-uwsgi.ini"
        ini.write_text(uwsgi_ini(self.venv, self.port, self.workers))
        return [str(self.venv / "bin" / "uwsgi"), "--ini", str(ini)]

    def __enter__(self) -> GlanceServer:
        self.db_sync()
        self.start(IDENTITY)
        # Warm every worker up before measuring.
        wait_for_http(self.process, self.port, "/v2/images?limit=1", what="Glance", log_file=self.log_file,
                      warm_ups=self.workers * 4, headers=IDENTITY, timeout=120)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


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
    ap.add_argument("--glance-venv", type=Path, default=real_glance.venv_path())
    ap.add_argument("--glance-server", choices=("gunicorn", "uwsgi"), default="gunicorn",
                    help="what serves Glance: the same gunicorn as Spyglass, or uWSGI as DevStack runs it")
    ap.add_argument("--dir", help="parent of the scratch directories (default: the system temp dir)")
    ap.add_argument("--quick", action="store_true", help="one round of 2 s phases: a smoke test")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.seconds = 1, 2
    wrk = ensure_wrk(False)
    venv = real_glance.install(args.glance_venv, ("uwsgi",) if args.glance_server == "uwsgi" else ())
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
