"""Image list latency (p50, p99) through the real server with 10,000 and 100,000 images in the
database, as the admin and as a regular project, beside the limits measured in the same run:

- the same listing done in this process through the image service (policy, query building, the
  repository's SQL and hydration; no HTTP, no JSON): what the database side costs;
- GET /v2/info/stores through the server: the HTTP and framework floor of any request.

The database is filled fast with SQLAlchemy Core inserts (bench/_populate.py): images with 3
properties and 2 tags each, 20 owning projects, mixed visibility, members on shared images.
Requests go one at a time on a keep-alive connection, so the latency is the server's alone.

Usage: .venv/bin/python bench/listing.py [--quick] [--sizes 10000,100000] [--samples N]
"""
from __future__ import annotations

import argparse
import http.client
import json
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (HOST, Server, machine_description, median, percentile, scratch_dir,  # noqa: E402
                     table)
from _populate import populate_mixed, project  # noqa: E402

ADMIN: dict[str, str] = {}  # no identity headers: the embedded default, an admin
VIEWER = project(3)
PROJECT = {"X-Project-Id": VIEWER, "X-User-Id": "user-03", "X-Roles": "member,reader"}


def queries(marker: str, quick: bool) -> list[tuple[str, str, int]]:
    """(label, path, share of the samples): the last ones are heavier, so sampled less."""
    return [
        ("default", "/v2/images", 1),
        ("sort=name:asc&limit=25", "/v2/images?sort=name:asc&limit=25", 1),
        ("visibility=all", "/v2/images?visibility=all", 1),
        ("property os_distro=debian", "/v2/images?os_distro=debian", 1),
        ("tag=gpu", "/v2/images?tag=gpu", 1),
        ("status+disk_format, sort name", "/v2/images?status=active&disk_format=qcow2&sort=name:asc", 1),
        ("marker half-way down", f"/v2/images?marker={marker}", 1),
        ("limit=1000", "/v2/images?limit=1000", 10),
    ]


def middle_marker(db_path: Path) -> str:
    """A public image half-way down the default order (created_at desc): every viewer sees it."""
    with sqlite3.connect(db_path) as db:
        (count,) = db.execute("SELECT count(*) FROM images WHERE visibility = 'public' AND deleted = 0 "
                              "AND os_hidden = 0").fetchone()
        (image_id,) = db.execute(
            "SELECT id FROM images WHERE visibility = 'public' AND deleted = 0 AND os_hidden = 0 "
            "ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET ?", (count // 2,)).fetchone()
    return str(image_id)


class TimedOut(Exception):
    pass


def http_latencies(port: int, path: str, headers: dict[str, str], samples: int, *,
                   budget: float, timeout: float) -> tuple[list[float], int]:
    """Up to `samples` sequential requests on one keep-alive connection, fewer if they use up
    `budget` seconds (at least one is always measured); three unmeasured ones first warm the
    caches unless a request is slow enough that warming makes no difference."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    times: list[float] = []
    count = -1
    warmup = 3
    start = time.perf_counter()
    try:
        i = 0
        while len(times) < samples:
            t0 = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
            except TimeoutError:
                raise TimedOut(path) from None
            elapsed = time.perf_counter() - t0
            if resp.status != 200:
                raise RuntimeError(f"GET {path} answered {resp.status}: {body[:300]!r}")
            if count < 0 and path.startswith("/v2/images"):
                count = len(json.loads(body)["images"])
            if i >= warmup or elapsed > 1.0:
                times.append(elapsed)
                warmup = 0
            i += 1
            if times and time.perf_counter() - start > budget:
                break
    finally:
        conn.close()
    return times, count


class InProcess:
    """The image service built as a worker builds it, on the same database."""

    def __init__(self, server: Server) -> None:
        from spyglass import config
        from spyglass.app import build_services

        conf = config.load(config_files=[str(server.conf_file)])
        conf.set_override("data_dir", str(server.data_dir))
        self.services = build_services(conf)

    def context(self, headers: dict[str, str]) -> Any:
        from spyglass.context import RequestContext

        if not headers:
            return RequestContext(project_id="admin", user_id="admin", roles=("admin", "member", "reader"),
                                  is_admin=True)
        return RequestContext(project_id=headers["X-Project-Id"], user_id=headers["X-User-Id"],
                              roles=tuple(headers["X-Roles"].split(",")), is_admin=False)

    def latencies(self, path: str, headers: dict[str, str], samples: int, budget: float) -> list[float]:
        params = parse_qsl(urlsplit(path).query)
        ctx = self.context(headers)
        times: list[float] = []
        start = time.perf_counter()
        for i in range(samples + 3):
            t0 = time.perf_counter()
            self.services.images.list(ctx, params)
            if i >= 3:
                times.append(time.perf_counter() - t0)
            if times and time.perf_counter() - start > budget:
                break
        return times

    def close(self) -> None:
        self.services.images.repo.engine.dispose()


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2,000 images, few samples: a smoke test")
    ap.add_argument("--sizes", default="10000,100000", help="comma-separated image counts")
    ap.add_argument("--samples", type=int, default=200, help="requests per query and identity")
    ap.add_argument("--workers", type=int, help="server workers (default: the server's default)")
    ap.add_argument("--threads", type=int, help="threads per worker (default: the server's default)")
    ap.add_argument("--dir", help="parent of the scratch data directories (default: the system temp dir)")
    ap.add_argument("--budget", type=float, default=20,
                    help="seconds of requests per query and identity at most (at least one is measured)")
    ap.add_argument("--timeout", type=float, default=60,
                    help="a request taking longer is reported as timed out and the server replaced")
    ap.add_argument("--inprocess-max", type=float, default=2.0,
                    help="skip the in-process measurement of queries whose HTTP p50 exceeds this (s)")
    ap.add_argument("--analyze", action="store_true",
                    help="what-if: run SQLite's ANALYZE on the filled database before serving it")
    ap.add_argument("--json", help="also write the raw figures to this file")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.samples, args.budget, args.timeout = "2000", 20, 2, 20
    sizes = [int(s) for s in args.sizes.split(",")]
    summary: list[str] = []
    dump: dict[str, Any] = {}

    with scratch_dir(args.dir, "spyglass-bench-list-") as work:
        print(f"machine: {machine_description(work)}")
        print(f"server workers={args.workers or 'default'} threads={args.threads or 'default'}; {args.samples} sequential requests per "
              f"query and identity (a tenth of that for limit=1000)")
        for size in sizes:
            data_dir = work / f"n{size}"
            data_dir.mkdir()
            server = Server(data_dir, workers=args.workers, threads=args.threads)
            server.db_sync()
            t0 = time.perf_counter()
            counts = populate_mixed(server.db_url, size)
            print(f"\n{size} images: inserted {counts} in {time.perf_counter() - t0:.1f} s", flush=True)
            marker = middle_marker(data_dir / "spyglass.sqlite")
            if args.analyze:
                with sqlite3.connect(data_dir / "spyglass.sqlite") as db:
                    db.execute("ANALYZE")
                print("ran ANALYZE on the database (what-if mode: the server never does this itself)")
            rows = []
            worst_p99 = 0.0
            timeouts = 0
            server.start()
            try:
                floor, _ = http_latencies(server.port, "/v2/info/stores", {}, args.samples,
                                          budget=args.budget, timeout=args.timeout)
                inproc = InProcess(server)
                try:
                    for who, headers in (("admin", ADMIN), (VIEWER, PROJECT)):
                        for label, path, share in queries(marker, args.quick):
                            n = max(5, args.samples // share)
                            key = f"{size} {who} {label}"
                            try:
                                times, count = http_latencies(server.port, path, headers, n,
                                                              budget=args.budget, timeout=args.timeout)
                            except TimedOut:
                                # The worker is still busy with the query and would skew the next
                                # ones: replace the server.
                                timeouts += 1
                                rows.append([who, label, "?", f"> {args.timeout * 1000:.0f}", "timed out", "skipped", "", "1"])
                                print(f"  {who} {label}: timed out after {args.timeout:.0f} s", flush=True)
                                dump[key] = {"timeout": args.timeout}
                                server.kill()
                                server.start()
                                continue
                            p50, p99 = percentile(times, 50), percentile(times, 99)
                            worst_p99 = max(worst_p99, p99)
                            if p50 < args.inprocess_max:
                                direct = inproc.latencies(path, headers, max(5, n // 2), args.budget / 2)
                                d50, share_text = ms(median(direct)), f"{median(direct) / p50:.0%}"
                            else:
                                direct, d50, share_text = [], "skipped (slow)", ""
                            rows.append([who, label, str(count), ms(p50), ms(p99), d50, share_text,
                                         str(len(times))])
                            print(f"  {who} {label}: p50 {ms(p50)} ms, p99 {ms(p99)} ms", flush=True)
                            dump[key] = {"http": times, "inprocess": direct, "images": count}
                finally:
                    inproc.close()
                errors = server.log_count("Traceback")
            finally:
                server.stop()
            print(table(rows, ["as", "query", "images", "p50 ms", "p99 ms", "in-process p50 ms",
                               "in-process share of p50", "samples"]))
            print(f"HTTP floor (GET /v2/info/stores): p50 {ms(percentile(floor, 50))} ms, "
                  f"p99 {ms(percentile(floor, 99))} ms; server tracebacks: {errors}")
            default = next(r for r in rows if r[0] == "admin" and r[1] == "default")
            default_p = next(r for r in rows if r[0] == VIEWER and r[1] == "default")
            summary.append(f"{size} images: default list p50/p99 {default[3]}/{default[4]} ms as admin, "
                           f"{default_p[3]}/{default_p[4]} ms as a project; worst p99 of the queries that "
                           f"answered {ms(worst_p99)} ms, {timeouts} timed out (> {args.timeout:.0f} s); "
                           f"HTTP floor p50 {ms(percentile(floor, 50))} ms")
    print("\nSUMMARY listing: " + "; ".join(summary))
    if args.json:
        Path(args.json).write_text(json.dumps(dump))
    return 0


if __name__ == "__main__":
    sys.exit(main())
