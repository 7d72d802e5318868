"""Upload and download MB/s of one large image through the real server, beside the machine's raw
limits measured in the same run:

- hashing alone (md5, sha512, both in one loop, both on two threads), from memory;
- writing the same bytes to a file on the same disk while computing md5 + sha512, fsync included
  (the server fsyncs before it activates an image), done several ways; the fastest is the limit;
  one way again with the bytes received from a loopback TCP socket (an upload's work, no HTTP);
- reading the uploaded image's file after dropping it from the page cache (posix_fadvise
  DONTNEED), right before and right after the server's cold download of it (their mean);
- loopback TCP: sendfile() of the source into a socket whose other end discards (what client and
  kernel alone can move).

The client is lean: http.client with sendfile() of the source file for the upload and readinto()
a reused buffer for the download; curl does the same transfers too when it is installed.

Usage: .venv/bin/python bench/data_path.py [--quick] [--runs N] [--size-mib N] [--dir PARENT]
"""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import http.client
import json
import mmap
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (HOST, MiB, CpuMeter, Server, create_image, machine_description, median,  # noqa: E402
                     request, scratch_dir, self_cpu, spread, table)

CHUNK = MiB
# The raw variant that does what the filesystem store does (spyglass.stores.pipeline: 1 MiB chunks,
# 4 in flight), and the same fed from a loopback socket instead of a file: an upload's work
# without HTTP. The other variants show what other schemes give.
SERVER_SCHEME = "md5 || sha512 || O_DIRECT write, pipelined (the store's scheme)"
SOCKET_SCHEME = "md5 || sha512 || O_DIRECT write, pipelined, from a loopback socket"
CACHED_SCHEME = "md5 || sha512 || write through the page cache, pipelined"
COLD_READ = "raw: cold read of the stored image (fadvise DONTNEED), before and after the download"


def mbps(nbytes: int, seconds: float) -> float:
    return nbytes / MiB / seconds


def drop_cache(path: Path) -> None:
    """Evict a file's clean pages from the page cache (its dirty pages must be fsynced first)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def make_source(path: Path, size: int) -> str:
    md5 = hashlib.md5(usedforsecurity=False)
    block = os.urandom(64 * MiB)
    with open(path, "wb") as f:
        written = 0
        n = 0
        while written < size:
            # Distinct bytes per chunk, so nothing downstream can dedupe or compress its way out.
            chunk = (n.to_bytes(8, "little") + block[8:])[: size - written]
            f.write(chunk)
            md5.update(chunk)
            written += len(chunk)
            n += 1
    return md5.hexdigest()


def warm(path: Path) -> None:
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(8 * MiB)
        while f.readinto(buf):
            pass


# -- raw limits --------------------------------------------------------------------------------

def hash_rates(total: int) -> dict[str, float]:
    """MiB/s of md5 and sha512 on 1 MiB chunks from memory: alone, serially, on two threads."""
    block = memoryview(os.urandom(64 * MiB))
    chunks = [block[i:i + CHUNK] for i in range(0, len(block), CHUNK)]
    rounds = max(1, total // len(block))
    nbytes = rounds * len(block)

    def run(update_fns: list) -> float:
        t0 = time.perf_counter()
        for _ in range(rounds):
            for c in chunks:
                for fn in update_fns:
                    fn(c)
        return mbps(nbytes, time.perf_counter() - t0)

    out = {
        "md5 alone": run([hashlib.md5(usedforsecurity=False).update]),
        "sha512 alone": run([hashlib.sha512().update]),
        "md5+sha512 one thread": run([hashlib.md5(usedforsecurity=False).update, hashlib.sha512().update]),
    }
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha512()

    def md5_all() -> None:
        for _ in range(rounds):
            for c in chunks:
                md5.update(c)

    t0 = time.perf_counter()
    helper = threading.Thread(target=md5_all)
    helper.start()
    for _ in range(rounds):
        for c in chunks:
            sha.update(c)
    helper.join()
    out["md5+sha512 two threads"] = mbps(nbytes, time.perf_counter() - t0)
    return out


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        view = view[os.write(fd, view):]


def write_fsync_only(src: Path, dst: Path) -> float:
    t0 = time.perf_counter()
    buf = bytearray(CHUNK)
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    total = 0
    with open(src, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            _write_all(fd, memoryview(buf)[:n])
            total += n
    os.fsync(fd)
    os.close(fd)
    return mbps(total, time.perf_counter() - t0)


def write_hash_serial(src: Path, dst: Path) -> tuple[float, str]:
    """One thread: md5, then sha512, then write, chunk after chunk."""
    t0 = time.perf_counter()
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha512()
    buf = bytearray(CHUNK)
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    total = 0
    with open(src, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            view = memoryview(buf)[:n]
            md5.update(view)
            sha.update(view)
            _write_all(fd, view)
            total += n
    os.fsync(fd)
    os.close(fd)
    return mbps(total, time.perf_counter() - t0), md5.hexdigest()


def write_hash_two_threads(src: Path, dst: Path) -> tuple[float, str]:
    """md5 on a helper thread while this one runs sha512, then the write (the store's scheme
    before it wrote beside the hashing)."""
    t0 = time.perf_counter()
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha512()
    pool = ThreadPoolExecutor(1)
    buf = bytearray(CHUNK)
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    total = 0
    with open(src, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            view = memoryview(buf)[:n]
            pending = pool.submit(md5.update, view)
            sha.update(view)
            pending.result()
            _write_all(fd, view)
            total += n
    os.fsync(fd)
    os.close(fd)
    pool.shutdown()
    return mbps(total, time.perf_counter() - t0), md5.hexdigest()


def write_hash_three_threads(src: Path, dst: Path) -> tuple[float, str]:
    """Chunk by chunk, the write and md5 on helper threads while this one runs sha512; the next
    chunk is read when all three are done (the filesystem store's scheme before it pipelined
    the hashing)."""
    t0 = time.perf_counter()
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha512()
    pool = ThreadPoolExecutor(2)
    buf = bytearray(CHUNK)
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    total = 0
    with open(src, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            view = memoryview(buf)[:n]
            writing = pool.submit(_write_all, fd, view)
            hashing = pool.submit(md5.update, view)
            sha.update(view)
            hashing.result()
            writing.result()
            total += n
    os.fsync(fd)
    os.close(fd)
    pool.shutdown()
    return mbps(total, time.perf_counter() - t0), md5.hexdigest()


def write_hash_pipelined(src: Path, dst: Path, depth: int = 4) -> tuple[float, str]:
    """md5, sha512 and the write each on its own thread, overlapping chunk after chunk (a few
    chunks in flight), the write with O_DIRECT: as parallel and as cheap as the work can be on
    this machine."""
    with open(src, "rb", buffering=0) as f:
        return _pipelined(f.readinto, dst, depth, direct=True)


def write_hash_pipelined_cached(src: Path, dst: Path, depth: int = 4) -> tuple[float, str]:
    """The same, writing through the page cache (the store's scheme before it used O_DIRECT)."""
    with open(src, "rb", buffering=0) as f:
        return _pipelined(f.readinto, dst, depth, direct=False)


def socket_write_hash_pipelined(src: Path, dst: Path, depth: int = 4) -> tuple[float, str]:
    """The O_DIRECT pipeline, with the bytes received from a loopback TCP socket that another
    thread fills with sendfile(): what an upload adds to the raw limit before any HTTP."""
    listener = socket.socket()
    listener.bind((HOST, 0))
    listener.listen(1)

    def send() -> None:
        with socket.create_connection(listener.getsockname()) as s, open(src, "rb") as f:
            s.sendfile(f)

    sender = threading.Thread(target=send)
    sender.start()
    conn, _ = listener.accept()
    listener.close()
    with conn:
        result = _pipelined(lambda buf: conn.recv_into(buf, len(buf), socket.MSG_WAITALL), dst, depth,
                            direct=True)
    sender.join()
    return result


def _open_for_writing(dst: Path, direct: bool) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    if direct:
        try:
            return os.open(dst, flags | os.O_DIRECT, 0o600)
        except OSError:
            pass  # a filesystem without O_DIRECT (tmpfs): through the page cache
    return os.open(dst, flags, 0o600)


def _write_tail_or_all(fd: int, view: memoryview) -> None:
    # O_DIRECT takes whole blocks; the last, short chunk goes through the page cache.
    if len(view) % 4096:
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_DIRECT)
    _write_all(fd, view)


def _pipelined(readinto, dst: Path, depth: int, direct: bool) -> tuple[float, str]:
    t0 = time.perf_counter()
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha512()
    lanes = [ThreadPoolExecutor(1) for _ in range(3)]
    fd = _open_for_writing(dst, direct)
    # Page-aligned buffers (anonymous maps), as O_DIRECT needs.
    free = deque(mmap.mmap(-1, CHUNK) for _ in range(depth))
    in_flight: deque[tuple[mmap.mmap, list[Future]]] = deque()
    total = 0
    while True:
        if not free:
            buf, futures = in_flight.popleft()
            for fut in futures:
                fut.result()
            free.append(buf)
        buf = free.popleft()
        n = readinto(memoryview(buf))
        if not n:
            break
        view = memoryview(buf)[:n]
        in_flight.append((buf, [lanes[0].submit(md5.update, view), lanes[1].submit(sha.update, view),
                                lanes[2].submit(_write_tail_or_all, fd, view)]))
        total += n
    for _, futures in in_flight:
        for fut in futures:
            fut.result()
    os.fsync(fd)
    os.close(fd)
    for lane in lanes:
        lane.shutdown()
    return mbps(total, time.perf_counter() - t0), md5.hexdigest()


def read_rate(path: Path) -> float:
    buf = bytearray(CHUNK)
    total = 0
    t0 = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            total += n
    return mbps(total, time.perf_counter() - t0)


def loopback_rate(src: Path) -> float:
    """sendfile() of the (cached) source into a loopback TCP socket; the other end discards."""
    listener = socket.socket()
    listener.bind((HOST, 0))
    listener.listen(1)
    received = [0]

    def sink() -> None:
        conn, _ = listener.accept()
        buf = bytearray(CHUNK)
        with conn:
            while n := conn.recv_into(buf):
                received[0] += n

    thread = threading.Thread(target=sink)
    thread.start()
    t0 = time.perf_counter()
    with socket.create_connection(listener.getsockname()) as s, open(src, "rb") as f:
        s.sendfile(f)
    thread.join()
    listener.close()
    return mbps(received[0], time.perf_counter() - t0)


# -- through the server ------------------------------------------------------------------------

def upload(port: int, image_id: str, src: Path, size: int) -> float:
    conn = http.client.HTTPConnection(HOST, port, timeout=600)
    conn.putrequest("PUT", f"/v2/images/{image_id}/file")
    conn.putheader("Content-Type", "application/octet-stream")
    conn.putheader("Content-Length", str(size))
    t0 = time.perf_counter()
    conn.endheaders()
    with open(src, "rb") as f:
        assert conn.sock is not None
        conn.sock.sendfile(f)
    resp = conn.getresponse()
    body = resp.read()
    elapsed = time.perf_counter() - t0
    conn.close()
    if resp.status != 204:
        raise RuntimeError(f"upload failed: {resp.status} {body[:300]!r}")
    return mbps(size, elapsed)


def download(port: int, image_id: str, size: int, md5: str, verify: bool) -> float:
    conn = http.client.HTTPConnection(HOST, port, timeout=600)
    t0 = time.perf_counter()
    conn.request("GET", f"/v2/images/{image_id}/file")
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"download failed: {resp.status} {resp.read()[:300]!r}")
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    digest = hashlib.md5(usedforsecurity=False) if verify else None
    total = 0
    while n := resp.readinto(buf):
        if digest:
            digest.update(view[:n])
        total += n
    elapsed = time.perf_counter() - t0
    conn.close()
    if total != size or resp.getheader("Content-MD5") != md5:
        raise RuntimeError(f"download mismatch: {total} bytes, Content-MD5 {resp.getheader('Content-MD5')}")
    if digest and digest.hexdigest() != md5:
        raise RuntimeError("downloaded bytes differ from the uploaded ones")
    return mbps(total, elapsed)


def curl(args: list[str]) -> tuple[str, float, float]:
    """Runs curl; returns (http code, wall seconds, curl's CPU seconds)."""
    cpu0 = self_cpu()
    t0 = time.perf_counter()
    out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", *args],
                         check=True, capture_output=True, text=True).stdout.strip()
    return out, time.perf_counter() - t0, self_cpu() - cpu0


def image_file(server: Server, image_id: str) -> Path:
    return server.data_dir / "images" / image_id


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="64 MiB, one run: a smoke test")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--dir", help="parent of the scratch data directory (default: the system temp dir)")
    ap.add_argument("--workers", type=int, help="server workers (default: the server's default)")
    ap.add_argument("--threads", type=int, help="threads per worker (default: the server's default)")
    ap.add_argument("--verify", action="store_true", help="md5 every downloaded byte (costs client CPU)")
    ap.add_argument("--no-curl", action="store_true")
    ap.add_argument("--json", help="also write the raw figures to this file")
    args = ap.parse_args()
    if args.quick:
        args.runs, args.size_mib = 1, 64
    size = args.size_mib * MiB
    use_curl = not args.no_curl and shutil.which("curl") is not None

    results: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        results.setdefault(name, []).append(value)

    with scratch_dir(args.dir, "spyglass-bench-data-") as work:
        print(f"machine: {machine_description(work)}")
        print(f"image: {args.size_mib} MiB, {args.runs} run(s), server workers={args.workers or 'default'} "
              f"threads={args.threads or 'default'}, scratch dir {work}")
        if not use_curl:
            print("curl not found (apt-get install curl): curl figures skipped")
        src = work / "source.bin"
        md5 = make_source(src, size)
        raw = work / "raw-write.bin"
        data_dir = work / "server"
        data_dir.mkdir()
        with Server(data_dir, workers=args.workers, threads=args.threads) as server:
            port = server.port
            for run in range(1, args.runs + 1):
                print(f"run {run}/{args.runs}", flush=True)
                for name, value in hash_rates(size).items():
                    add(f"hash: {name}", value)
                warm(src)
                add("raw: write+fsync, no hashing", write_fsync_only(src, raw))
                raw.unlink()
                variants = (("serial, one thread", write_hash_serial),
                            ("md5 || sha512, then write", write_hash_two_threads),
                            ("md5 || sha512 || write, chunk by chunk", write_hash_three_threads),
                            (CACHED_SCHEME, write_hash_pipelined_cached),
                            (SERVER_SCHEME, write_hash_pipelined),
                            (SOCKET_SCHEME, socket_write_hash_pipelined))
                for name, fn in variants:
                    rate, digest = fn(src, raw)
                    assert digest == md5
                    add(f"raw: write+md5+sha512+fsync, {name}", rate)
                    if fn is not variants[-1][1]:
                        raw.unlink()
                warm(raw)
                add("raw: read back, page cache", read_rate(raw))
                raw.unlink()
                add("raw: loopback TCP, sendfile -> recv_into", loopback_rate(src))

                image_id = create_image(port, name=f"bench-upload-{run}")
                warm(src)
                with CpuMeter(server) as cpu:
                    add("server: upload, http.client+sendfile", upload(port, image_id, src, size))
                add("server: upload CPU (server cores)", cpu.server_cpu / cpu.wall)
                add("server: upload CPU (client cores)", cpu.client_cpu / cpu.wall)
                status, _, body = request(port, "GET", f"/v2/images/{image_id}")
                doc = json.loads(body)
                if doc["status"] != "active" or doc["checksum"] != md5 or doc["size"] != size:
                    raise RuntimeError(f"uploaded image is wrong: {doc}")
                # The cold reads of the same file, one right before and one right after the
                # server's: the shared disk's speed drifts within minutes.
                stored = image_file(server, image_id)
                drop_cache(stored)
                before = read_rate(stored)
                drop_cache(stored)
                with CpuMeter(server) as cpu:
                    add("server: download cold, http.client", download(port, image_id, size, md5, args.verify))
                drop_cache(stored)
                add(COLD_READ, (before + read_rate(stored)) / 2)
                add("server: download CPU (server cores)", cpu.server_cpu / cpu.wall)
                add("server: download CPU (client cores)", cpu.client_cpu / cpu.wall)
                add("server: download page cache, http.client", download(port, image_id, size, md5, args.verify))

                if use_curl:
                    curl_id = create_image(port, name=f"bench-curl-{run}")
                    warm(src)
                    url = f"http://{HOST}:{port}/v2/images/{curl_id}/file"
                    code, wall, ccpu = curl(["-T", str(src), "-H", "Content-Type: application/octet-stream",
                                             "-H", "Expect:", url])
                    if code != "204":
                        raise RuntimeError(f"curl upload answered {code}")
                    add("server: upload, curl -T", mbps(size, wall))
                    add("curl upload CPU (cores)", ccpu / wall)
                    drop_cache(image_file(server, curl_id))
                    code, wall, ccpu = curl([url])
                    if code != "200":
                        raise RuntimeError(f"curl download answered {code}")
                    add("server: download cold, curl -o /dev/null", mbps(size, wall))
                    add("curl download CPU (cores)", ccpu / wall)
                    request(port, "DELETE", f"/v2/images/{curl_id}")
                request(port, "DELETE", f"/v2/images/{image_id}")
            errors = server.log_count("Traceback")

    print()
    rows = [[name, spread(values, "{:.2f}" if "CPU" in name else "{:.0f}")] for name, values in results.items()]
    print(table(rows, ["figure (MiB/s unless CPU)", "median (min-max)"]))

    m = {name: median(values) for name, values in results.items()}
    best_raw_name = max((n for n in m if n.startswith("raw: write+md5")), key=lambda n: m[n])
    best_raw = m[best_raw_name]
    socket_fed = m[f"raw: write+md5+sha512+fsync, {SOCKET_SCHEME}"]
    cold_read = m[COLD_READ]
    ratios = [
        ["upload (http.client)", f"{m['server: upload, http.client+sendfile']:.0f}",
         f"best raw write+hash ({best_raw:.0f})", f"{m['server: upload, http.client+sendfile'] / best_raw:.0%}"],
        ["upload (http.client)", f"{m['server: upload, http.client+sendfile']:.0f}",
         f"raw write+hash fed from a loopback socket ({socket_fed:.0f})",
         f"{m['server: upload, http.client+sendfile'] / socket_fed:.0%}"],
        ["download cold (http.client)", f"{m['server: download cold, http.client']:.0f}",
         f"raw cold read ({cold_read:.0f})", f"{m['server: download cold, http.client'] / cold_read:.0%}"],
        ["download page cache (http.client)", f"{m['server: download page cache, http.client']:.0f}",
         f"loopback TCP ({m['raw: loopback TCP, sendfile -> recv_into']:.0f})",
         f"{m['server: download page cache, http.client'] / m['raw: loopback TCP, sendfile -> recv_into']:.0%}"],
    ]
    if use_curl:
        ratios.insert(1, ["upload (curl -T)", f"{m['server: upload, curl -T']:.0f}",
                          f"best raw write+hash ({best_raw:.0f})", f"{m['server: upload, curl -T'] / best_raw:.0%}"])
        ratios.insert(4, ["download cold (curl)", f"{m['server: download cold, curl -o /dev/null']:.0f}",
                          f"raw cold read ({cold_read:.0f})",
                          f"{m['server: download cold, curl -o /dev/null'] / cold_read:.0%}"])
    print()
    print(table(ratios, ["through the server (MiB/s, median)", "", "raw limit, same run (MiB/s, median)", "ratio"]))
    print(f"\nbest raw write+hash variant: {best_raw_name.split(', ', 1)[1]}")
    # The machine is shared: a ratio taken within each run, whose figures were measured minutes
    # apart at most, is steadier than the ratio of two medians.
    paired = []
    for label, num, den in (
            ("upload / best raw write+hash", "server: upload, http.client+sendfile", best_raw_name),
            ("upload / raw write+hash fed from a loopback socket", "server: upload, http.client+sendfile",
             f"raw: write+md5+sha512+fsync, {SOCKET_SCHEME}"),
            ("download cold / raw cold read", "server: download cold, http.client",
             COLD_READ)):
        per_run = [a / b for a, b in zip(results[num], results[den])]
        results[f"ratio: {label}"] = per_run
        paired.append([label, spread([100 * r for r in per_run], "{:.0f}%")])
    print()
    print(table(paired, ["ratio within each run", "median (min-max)"]))
    print(f"server tracebacks in its log: {errors}")
    up, down = m["server: upload, http.client+sendfile"] / best_raw, m["server: download cold, http.client"] / cold_read
    print(f"\nSUMMARY data_path: upload {m['server: upload, http.client+sendfile']:.0f} MiB/s = {up:.0%} of raw "
          f"write+md5+sha512+fsync {best_raw:.0f} MiB/s (goal >= 90%: {'met' if up >= 0.9 else 'NOT met'}); "
          f"download {m['server: download cold, http.client']:.0f} MiB/s = {down:.0%} of raw cold read "
          f"{cold_read:.0f} MiB/s (goal >= 90%: {'met' if down >= 0.9 else 'NOT met'})")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
