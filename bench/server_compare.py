"""The same Spyglass application behind gunicorn (what `spyglass serve` runs) and behind granian
(a WSGI server written in Rust), in the same run: image GETs per second with 1 and 16 clients,
the WSGI framework floor (GET /v2/info/stores), and a 1 GiB upload and cold download.

DESIGN asks for both servers to be measured on the data path, keeping the faster one that drains
correctly on SIGTERM. Only gunicorn is wired into `spyglass serve`: its drain, the socket body
reader and sendfile are Spyglass's own code on gunicorn's internals (spyglass.server and the
spyglass.gunicorn_* modules). Under granian the application reads the body through wsgi.input
and answers downloads by iterating the file, as any WSGI application does.

Needs granian in the same virtualenv (`.venv/bin/pip install granian`; not a project dependency).

Usage: .venv/bin/python bench/server_compare.py [--rounds N] [--seconds S] [--size-mib N]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (HOST, Server, create_image, free_port, machine_description, request,  # noqa: E402
                     scratch_dir, spread, table, wait_for_http)
from data_path import download, drop_cache, make_source, upload, warm  # noqa: E402
from metadata import ensure_wrk, run_wrk, write_ids  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent


class GranianServer:
    """The application of bench/_granian_app.py in granian, on the data directory of a Spyglass
    Server that has been synced (and is not running)."""

    def __init__(self, spyglass: Server, workers: int, threads: int) -> None:
        self.spyglass = spyglass
        self.port = free_port()
        self.workers, self.threads = workers, threads
        self.log_file = spyglass.data_dir / "granian.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> GranianServer:
        granian = shutil.which("granian", path=str(Path(sys.executable).parent))
        if granian is None:
            raise SystemExit("granian is not installed: .venv/bin/pip install granian")
        env = {**os.environ, "SPYGLASS_BENCH_CONFIG": str(self.spyglass.conf_file),
               "SPYGLASS_BENCH_DATA_DIR": str(self.spyglass.data_dir),
               "PYTHONPATH": f"{BENCH_DIR}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        with open(self.log_file, "ab") as log:
            self.proc = subprocess.Popen(
                [granian, "--interface", "wsgi", "--host", HOST, "--port", str(self.port),
                 "--workers", str(self.workers), "--blocking-threads", str(self.threads),
                 "--no-ws", "_granian_app:app"],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_http(self.proc, self.port, "/v2/images?limit=1", what="granian", log_file=self.log_file,
                      warm_ups=self.workers * 4)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--workers", type=int, default=(os.cpu_count() or 1) + 1)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--dir", help="parent of the scratch directory (default: the system temp dir)")
    ap.add_argument("--quick", action="store_true", help="one round, 2 s phases, 64 MiB: a smoke test")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.seconds, args.size_mib = 1, 2, 64
    wrk = ensure_wrk(False)
    size = args.size_mib * 1024 * 1024
    results: dict[tuple[str, str], list[float]] = {}

    def add(server: str, name: str, value: float) -> None:
        results.setdefault((name, server), []).append(value)

    with scratch_dir(args.dir, "spyglass-bench-servers-") as work:
        print(f"machine: {machine_description(work)}")
        print(f"both: {args.workers} workers x {args.threads} threads; {args.rounds} round(s)")
        src = work / "source.bin"
        md5 = make_source(src, size)
        data_dir = work / "data"
        data_dir.mkdir()
        # One data directory, one server at a time: both serve the same database and files.
        spyglass = Server(data_dir, workers=args.workers, threads=args.threads)
        spyglass.db_sync()
        with spyglass:
            ids = [create_image(spyglass.port, name=f"get-{i}", os_distro="ubuntu") for i in range(200)]
        ids_file = write_ids(work / "ids.txt", ids)
        for round_no in range(1, args.rounds + 1):
            print(f"round {round_no}/{args.rounds}", flush=True)
            for name, make in (("gunicorn", lambda: Server(data_dir, workers=args.workers, threads=args.threads,
                                                             sync=False)),
                               ("granian", lambda: GranianServer(spyglass, args.workers, args.threads))):
                with make() as server:
                    port = server.port
                    for clients in (1, 16):
                        r = run_wrk(wrk, port, "plain.lua", clients, args.seconds, "/v2/info/stores")
                        add(name, f"GET /v2/info/stores x{clients} (req/s)", (r["requests"] - r["non2xx"]) / (r["duration_us"] / 1e6))
                        r = run_wrk(wrk, port, "show.lua", clients, args.seconds, str(ids_file))
                        add(name, f"GET image x{clients} (req/s)", (r["requests"] - r["non2xx"]) / (r["duration_us"] / 1e6))
                    image_id = create_image(port, name=f"data-{name}-{round_no}")
                    warm(src)
                    add(name, "upload (MiB/s)", upload(port, image_id, src, size))
                    doc = json.loads(request(port, "GET", f"/v2/images/{image_id}")[2])
                    if doc["checksum"] != md5:
                        raise RuntimeError(f"{name}: uploaded image is wrong: {doc}")
                    stored = data_dir / "images" / image_id
                    drop_cache(stored)
                    add(name, "download cold (MiB/s)", download(port, image_id, size, md5, False))
                    request(port, "DELETE", f"/v2/images/{image_id}")

    rows = []
    for name in dict.fromkeys(n for n, _ in results):
        g, r = results[(name, "gunicorn")], results[(name, "granian")]
        rows.append([name, spread(g), spread(r), spread([b / a for a, b in zip(g, r)], "{:.2f}")])
    print()
    print(table(rows, ["figure", "gunicorn (spyglass serve)", "granian", "granian / gunicorn, per round"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
