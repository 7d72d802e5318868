"""Metadata requests per second through the real server, with 1 and 16 concurrent clients, beside
the limits measured in the same run:

- database: the same create / get / delete done in this process straight on the repository
  (spyglass.db.repo, one thread, no HTTP), and through the image service (policy, validation,
  repository);
- framework: GET /v2/info/stores through the whole WSGI stack (middleware, router, JSON), no
  database.

Through the server: POST /v2/images, GET /v2/images/{id}, DELETE /v2/images/{id} (16 clients),
and concurrent small uploads (create + PUT of 256 KiB, 16 clients). Any answer that is not 2xx is
an error; the server's log is searched for "database is locked" and tracebacks.

The load generator is wrk (C, keep-alive connections, one Lua script per request kind under
bench/wrk/); it shares the 2 cores with the server, so its CPU use is reported. Install it with
`apt-get install wrk` (the script offers to when run as root with --install-wrk).

Usage: .venv/bin/python bench/metadata.py [--quick] [--runs N] [--seconds S] [--workers W] [--threads T]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (HOST, CpuMeter, Server, machine_description, median, scratch_dir,  # noqa: E402
                     self_cpu, spread, table)
from _populate import populate_created, populate_mixed  # noqa: E402

WRK_DIR = Path(__file__).resolve().parent / "wrk"
CREATE_BODY = {"disk_format": "raw", "container_format": "bare", "tags": ["bench"], "os_distro": "ubuntu"}
UPLOAD_BYTES = 256 * 1024


def ensure_wrk(install: bool) -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if install and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
        found = shutil.which("wrk")
        if found:
            return found
    raise SystemExit("wrk is needed: `apt-get install wrk` (or run this with --install-wrk as root)")


def run_wrk(wrk: str, port: int, script: str, clients: int, seconds: float, *args: str,
            headers: dict[str, str] | None = None) -> dict[str, Any]:
    threads = 1 if clients == 1 else 2
    extra = [f"-H{name}: {value}" for name, value in (headers or {}).items()]
    cmd = [wrk, f"-t{threads}", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--timeout", "60s", *extra,
           "-s", str(WRK_DIR / script), f"http://{HOST}:{port}", "--", *args]
    cpu0, t0 = self_cpu(), time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    wall = time.perf_counter() - t0
    line = next(ln for ln in out.splitlines() if ln.startswith("WRKJSON "))
    result: dict[str, Any] = json.loads(line[len("WRKJSON "):])
    result["client_cores"] = (self_cpu() - cpu0) / wall
    result["socket_errors"] = result["connect"] + result["read"] + result["write"] + result["timeout"]
    return result


def db_ids(server: Server, where: str) -> list[str]:
    with sqlite3.connect(server.data_dir / "spyglass.sqlite") as db:
        return [row[0] for row in db.execute(f"SELECT id FROM images WHERE {where} ORDER BY created_at, id")]


def write_ids(path: Path, ids: list[str]) -> Path:
    path.write_text("\n".join(ids) + "\n")
    return path


# -- limits measured in this process -----------------------------------------------------------

def inprocess_rates(work: Path, seconds: float, preload: int = 0) -> dict[str, float]:
    """Creates, gets and deletes per second on one thread, without HTTP: on the repository alone
    (the database's cost) and through the image service (plus policy and validation)."""
    from spyglass import config
    from spyglass.app import build_services
    from spyglass.context import RequestContext
    from spyglass.db.repo import ImageRepository
    from spyglass.model import Image

    data_dir = work / "inprocess"
    data_dir.mkdir()
    server = Server(data_dir)
    server.db_sync()
    if preload:
        populate_mixed(server.db_url, preload)
    conf = config.load(config_files=[str(server.conf_file)])
    conf.set_override("data_dir", str(data_dir))
    services = build_services(conf)
    repo: ImageRepository = services.images.repo
    ctx = RequestContext(project_id="admin", user_id="admin", roles=("admin", "member", "reader"), is_admin=True)
    out: dict[str, float] = {}

    def timed(name: str, fn: Any, items: list[Any] | None = None) -> list[Any]:
        done: list[Any] = []
        t0 = time.perf_counter()
        end = t0 + seconds
        i = 0
        while time.perf_counter() < end and (items is None or i < len(items)):
            done.append(fn(items[i] if items is not None else i))
            i += 1
        out[name] = len(done) / (time.perf_counter() - t0)
        return done

    def repo_create(i: int) -> str:
        image = Image(id=str(__import__("uuid").uuid4()), name=f"repo-{i}", owner="admin",
                      disk_format="raw", container_format="bare", properties={"os_distro": "ubuntu"},
                      tags=["bench"])
        repo.create(image)
        return image.id

    ids = timed("repository create", repo_create)
    timed("repository get", lambda i: repo.get(ids[i % len(ids)]))
    timed("repository delete", lambda image_id: repo.mark_deleted(image_id), ids)
    ids = timed("service create", lambda i: services.images.create(ctx, {**CREATE_BODY, "name": f"svc-{i}"}).id)
    timed("service get", lambda i: services.images.get(ctx, ids[i % len(ids)]))
    timed("service delete", lambda image_id: services.images.delete(ctx, image_id), ids)
    services.images.repo.engine.dispose()
    return out


# -- concurrent small uploads (Python threads: few requests, the point is errors) --------------

def concurrent_uploads(port: int, clients: int, per_client: int) -> dict[str, Any]:
    payload = os.urandom(UPLOAD_BYTES)
    statuses: dict[str, int] = {}
    uploaded: list[str] = []
    lock = threading.Lock()

    def count(key: str) -> None:
        with lock:
            statuses[key] = statuses.get(key, 0) + 1

    def client(n: int) -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=120)
        try:
            for i in range(per_client):
                try:
                    conn.request("POST", "/v2/images", body=json.dumps({**CREATE_BODY, "name": f"up-{n}-{i}"}),
                                 headers={"Content-Type": "application/json"})
                    resp = conn.getresponse()
                    body = resp.read()
                    count(f"create {resp.status}")
                    if resp.status != 201:
                        continue
                    image_id = json.loads(body)["id"]
                    conn.request("PUT", f"/v2/images/{image_id}/file", body=payload,
                                 headers={"Content-Type": "application/octet-stream"})
                    resp = conn.getresponse()
                    resp.read()
                    count(f"upload {resp.status}")
                    if resp.status == 204:
                        with lock:
                            uploaded.append(image_id)
                except (OSError, http.client.HTTPException) as exc:
                    count(f"exception {type(exc).__name__}")
                    conn.close()
                    conn = http.client.HTTPConnection(HOST, port, timeout=120)
        finally:
            conn.close()

    t0 = time.perf_counter()
    workers = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = time.perf_counter() - t0
    errors = sum(v for k, v in statuses.items() if not (k.endswith(" 201") or k.endswith(" 204")))
    return {"uploads_per_s": len(uploaded) / wall, "uploaded": len(uploaded), "errors": errors,
            "statuses": statuses, "ids": uploaded}


def concurrent_deletes(port: int, clients: int, ids: list[str]) -> dict[str, int]:
    """DELETE each image once, `clients` at a time; returns the count of each answer."""
    statuses: dict[str, int] = {}
    lock = threading.Lock()
    queue = list(ids)

    def client() -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=120)
        while True:
            with lock:
                if not queue:
                    break
                image_id = queue.pop()
            try:
                conn.request("DELETE", f"/v2/images/{image_id}")
                resp = conn.getresponse()
                resp.read()
                key = str(resp.status)
            except (OSError, http.client.HTTPException) as exc:
                key = f"exception {type(exc).__name__}"
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=120)
            with lock:
                statuses[key] = statuses.get(key, 0) + 1
        conn.close()

    workers = [threading.Thread(target=client) for _ in range(clients)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return statuses


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 s per phase, one run: a smoke test")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10, help="duration of each wrk phase")
    ap.add_argument("--workers", type=int, help="server workers (default: the server's default)")
    ap.add_argument("--threads", type=int, help="threads per worker (default: the server's default)")
    ap.add_argument("--clients", type=int, default=16, help="the concurrent case (1 is always measured too)")
    ap.add_argument("--uploads-per-client", type=int, default=20)
    ap.add_argument("--dir", help="parent of the scratch data directories (default: the system temp dir)")
    ap.add_argument("--install-wrk", action="store_true", help="apt-get install wrk if it is missing")
    ap.add_argument("--preload", type=int, default=0,
                    help="images (with properties, tags, members) written to the database before the server "
                         "starts, as bench/listing.py does: GET and delete then run on a database of that size")
    ap.add_argument("--only", help="comma-separated phases: limits,plain,create,get,delete,upload")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="a [DEFAULT] option of the server, e.g. log_requests=true (repeatable)")
    ap.add_argument("--json", help="also write the raw figures to this file")
    args = ap.parse_args()
    if args.quick:
        args.runs, args.seconds, args.uploads_per_client = 1, 2, 3
    wrk = ensure_wrk(args.install_wrk)
    phases = set((args.only or "limits,plain,create,get,delete,upload").split(","))
    c = args.clients
    results: dict[str, list[float]] = {}
    problems: list[str] = []

    def add(name: str, value: float) -> None:
        results.setdefault(name, []).append(value)

    def record(name: str, r: dict[str, Any], cpu: CpuMeter, ok: float | None = None) -> None:
        ok = r["requests"] - r["non2xx"] if ok is None else ok
        add(f"{name} (req/s)", ok / (r["duration_us"] / 1e6))
        add(f"{name} p50 (ms)", r["p50_us"] / 1000)
        add(f"{name} p99 (ms)", r["p99_us"] / 1000)
        add(f"{name} errors", r["non2xx"] + r["socket_errors"])
        add(f"{name} server CPU (cores)", cpu.server_cpu / cpu.wall)
        add(f"{name} client CPU (cores)", r["client_cores"])
        if r["non2xx"] or r["socket_errors"]:
            problems.append(f"{name}: {r['non2xx']} non-2xx answers, {r['socket_errors']} socket errors")

    with scratch_dir(args.dir, "spyglass-bench-meta-") as work:
        print(f"machine: {machine_description(work)}")
        print(f"server workers={args.workers or 'default'} threads={args.threads or 'default'}; {args.preload} images preloaded; "
              f"{args.runs} run(s) of {args.seconds:g} s per phase; wrk {subprocess.run([wrk, '-v'], capture_output=True, text=True).stdout.split()[1]}")
        for run in range(1, args.runs + 1):
            print(f"run {run}/{args.runs}", flush=True)
            run_dir = work / f"run{run}"
            run_dir.mkdir()
            if "limits" in phases:
                for name, value in inprocess_rates(run_dir, min(args.seconds, 3), args.preload).items():
                    add(f"in-process, 1 thread: {name} (ops/s)", value)
            data_dir = run_dir / "server"
            data_dir.mkdir()
            server = Server(data_dir, workers=args.workers, threads=args.threads,
                            extra_conf="".join(f"{line.replace('=', ' = ', 1)}\n" for line in args.set))
            if args.preload:
                server.db_sync()
                populate_mixed(server.db_url, args.preload)
            with server:
                port = server.port
                if "plain" in phases:
                    for clients in (1, c):
                        with CpuMeter(server) as cpu:
                            r = run_wrk(wrk, port, "plain.lua", clients, args.seconds, "/v2/info/stores")
                        record(f"framework GET /v2/info/stores x{clients}", r, cpu)
                if "create" in phases or (not args.preload and ("get" in phases or "delete" in phases)):
                    before = len(db_ids(server, "1=1"))
                    created = 0
                    for clients in (1, c):
                        with CpuMeter(server) as cpu:
                            r = run_wrk(wrk, port, "create.lua", clients, args.seconds)
                        record(f"create x{clients}", r, cpu)
                        created += r["requests"] - r["non2xx"]
                    in_db = len(db_ids(server, "1=1")) - before
                    if in_db < created:
                        problems.append(f"create: {created} answered 201 but {in_db} images are in the database")
                if "get" in phases:
                    ids_file = write_ids(run_dir / "ids", db_ids(server, "deleted = 0"))
                    for clients in (1, c):
                        with CpuMeter(server) as cpu:
                            r = run_wrk(wrk, port, "show.lua", clients, args.seconds, str(ids_file))
                        record(f"get x{clients}", r, cpu)
                if "delete" in phases:
                    live = db_ids(server, "deleted = 0 AND protected = 0")  # protected ones answer 403
                    # Enough images that the clients never run out within the phase: the ones the
                    # create phases made, topped up with identical rows written straight to the DB.
                    target = 3000 if args.quick else max(3000, int(args.seconds * 2500))
                    need = max(0, target - len(live))
                    live += populate_created(server.db_url, need)
                    ids_file = write_ids(run_dir / "delete-ids", live)
                    with CpuMeter(server) as cpu:
                        r = run_wrk(wrk, port, "delete.lua", c, args.seconds, str(ids_file), str(1 if c == 1 else 2))
                    if r["sent"] >= len(live):
                        problems.append("delete: the clients ran out of images; the rate is underestimated")
                    record(f"delete x{c}", r, cpu, ok=r["ok204"])
                    time.sleep(1)  # requests still in flight when wrk stopped may complete
                    gone = len(live) - len(db_ids(server, "deleted = 0 AND protected = 0"))
                    if not r["ok204"] <= gone <= r["sent"]:
                        problems.append(f"delete: {r['ok204']} answered 204 of {r['sent']} sent, "
                                        f"but {gone} rows are marked deleted")
                if "upload" in phases:
                    with CpuMeter(server) as cpu:
                        up = concurrent_uploads(port, c, args.uploads_per_client)
                    add(f"create+upload 256 KiB x{c} (uploads/s)", up["uploads_per_s"])
                    add(f"create+upload 256 KiB x{c} errors", up["errors"])
                    add(f"create+upload 256 KiB x{c} server CPU (cores)", cpu.server_cpu / cpu.wall)
                    add(f"create+upload 256 KiB x{c} client CPU (cores)", cpu.client_cpu / cpu.wall)
                    if up["errors"]:
                        problems.append(f"create+upload: {up['statuses']}")
                    # Delete the images with data, all clients at once.
                    with CpuMeter(server) as cpu:
                        gone = concurrent_deletes(port, c, up["ids"])
                    bad = sum(v for k, v in gone.items() if k != "204")
                    add(f"delete with data x{c} errors", bad)
                    if bad:
                        problems.append(f"delete with data: {gone}")
                    left = {p.name for p in (data_dir / "images").iterdir()} & set(up["ids"])
                    if left:
                        problems.append(f"delete with data: {len(left)} image files left in the store")
                locked = server.log_count("database is locked")
                tracebacks = server.log_count("Traceback")
                add("server log: 'database is locked'", locked)
                add("server log: tracebacks", tracebacks)
                if locked or tracebacks:
                    problems.append(f"server log: {locked} 'database is locked', {tracebacks} tracebacks "
                                    f"(see {server.log_file})")

    print()
    rows = []
    for name, values in results.items():
        fmt = "{:.2f}" if "CPU" in name else "{:.1f}" if "(ms)" in name else "{:.0f}"
        rows.append([name, spread(values, fmt)])
    print(table(rows, ["figure", "median (min-max)"]))

    m = {name: median(values) for name, values in results.items()}

    def get(name: str) -> float:
        return m.get(name, float("nan"))

    ratio_rows = []
    for op, label in (("create", "create"), ("get", "get"), ("delete", "delete")):
        db = get(f"in-process, 1 thread: repository {op} (ops/s)")
        svc = get(f"in-process, 1 thread: service {op} (ops/s)")
        for clients in ((1, c) if op != "delete" else (c,)):
            rate = get(f"{label} x{clients} (req/s)")
            if rate != rate:  # not measured (--only)
                continue
            ratio_rows.append([f"{label} x{clients}", f"{rate:.0f}", f"{db:.0f}", f"{rate / db:.2f}",
                               f"{svc:.0f}", f"{rate / svc:.2f}"])
    frame = get(f"framework GET /v2/info/stores x{c} (req/s)")
    print()
    print(table(ratio_rows, ["through the server", "req/s", "repository, 1 thread", "ratio",
                             "service, 1 thread", "ratio"]))
    print(f"framework ceiling (GET /v2/info/stores, no database): x1 "
          f"{get('framework GET /v2/info/stores x1 (req/s)'):.0f} req/s, x{c} {frame:.0f} req/s")
    total_errors = sum(v for k, v in m.items() if k.endswith("errors") or k.startswith("server log"))
    print("\nproblems:" if problems else "\nno errors: every answer was 2xx and the server log is clean")
    for p in problems:
        print(f"  {p}")
    print(f"\nSUMMARY metadata: create {get('create x1 (req/s)'):.0f}/{get(f'create x{c} (req/s)'):.0f} req/s "
          f"(1/{c} clients; DB alone {get('in-process, 1 thread: repository create (ops/s)'):.0f}/s), "
          f"get {get('get x1 (req/s)'):.0f}/{get(f'get x{c} (req/s)'):.0f} req/s "
          f"(DB alone {get('in-process, 1 thread: repository get (ops/s)'):.0f}/s), "
          f"delete x{c} {get(f'delete x{c} (req/s)'):.0f} req/s, "
          f"uploads x{c} {get(f'create+upload 256 KiB x{c} (uploads/s)'):.0f}/s; "
          f"framework ceiling {frame:.0f} req/s; errors {total_errors:.0f} (medians of {args.runs} run(s))")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
