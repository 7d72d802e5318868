"""What the benchmarks share: a real server on a fresh data directory, machine facts, statistics.

The benchmarks only ever talk to 127.0.0.1, and every request loop is bounded in count or time.
"""
from __future__ import annotations

import http.client
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
SPYGLASS = str(VENV_BIN / "spyglass") if (VENV_BIN / "spyglass").exists() else None
HOST = "127.0.0.1"

MiB = 1024 * 1024
GiB = 1024 * MiB


# -- machine -----------------------------------------------------------------------------------

def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def disk_of(path: Path) -> str:
    """The device and filesystem a directory lives on, from /proc/mounts (longest mount prefix)."""
    path = path.resolve()
    best = ("?", "?", "?")
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            dev, mnt, fstype = line.split()[:3]
            if str(path).startswith(mnt.rstrip("/") + "/") or str(path) == mnt:
                if len(mnt) >= len(best[1]):
                    best = (dev, mnt, fstype)
    except OSError:
        pass
    dev, mnt, fstype = best
    rotational = "?"
    name = Path(dev).name
    for candidate in (name, name.rstrip("0123456789"), name.rstrip("0123456789").rstrip("p")):
        flag = Path(f"/sys/block/{candidate}/queue/rotational")
        if flag.exists():
            rotational = "rotational" if flag.read_text().strip() == "1" else "non-rotational"
            break
    return f"{dev} ({fstype} on {mnt}, {rotational})"


def code_version() -> str:
    """The commit the server runs from, and whether src/ has changes on top of it."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + (" with uncommitted changes in src/" if dirty else "")


def machine_description(data_dir: Path) -> str:
    load = os.getloadavg()
    return (f"spyglass {code_version()}; {os.cpu_count()} CPUs ({_cpu_model()}), "
            f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') // GiB} GiB RAM, "
            f"disk {disk_of(data_dir)}, Linux {platform.release()}, Python {platform.python_version()}, "
            f"load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


# -- processes and CPU -------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a live process has used so far."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def children_of(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def self_cpu() -> float:
    """CPU seconds of this process and of its finished children (curl, wrk)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class CpuMeter:
    """CPU used by the server (master and workers) and by this client over a measured interval."""

    def __init__(self, server: Server) -> None:
        self.server = server

    def __enter__(self) -> CpuMeter:
        self._pids = self.server.all_pids()
        self._server0 = sum(cpu_seconds(p) for p in self._pids)
        self._client0 = self_cpu()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._t0
        self.server_cpu = sum(cpu_seconds(p) for p in self._pids) - self._server0
        self.client_cpu = self_cpu() - self._client0

    def describe(self) -> str:
        return (f"server CPU {self.server_cpu / self.wall:.2f} cores, "
                f"client CPU {self.client_cpu / self.wall:.2f} cores")


# -- the server --------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def fresh_data_dir(parent: str | None, prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))


class Server:
    """`spyglass db sync` then `spyglass serve` on 127.0.0.1, stopped with SIGTERM on exit."""

    def __init__(self, data_dir: Path, *, workers: int | None = None, threads: int | None = None,
                 extra_conf: str = "", sync: bool = True) -> None:
        """workers/threads None: the server's own defaults."""
        if SPYGLASS is None:
            raise SystemExit(f"no spyglass command beside {sys.executable}: run with the project's "
                             f".venv/bin/python after `pip install -e .`")
        self.data_dir = data_dir
        self.port = free_port()
        self.conf_file = data_dir / "bench.conf"
        self.log_file = data_dir / "server.log"
        settings = "".join(f"{name} = {value}\n" for name, value in (("workers", workers), ("threads", threads))
                           if value is not None)
        self.conf_file.write_text(f"[DEFAULT]\n{settings}{extra_conf}\n")
        self.workers = workers
        self.threads = threads
        self.sync = sync
        self.proc: subprocess.Popen[bytes] | None = None

    def _cmd(self, *args: str) -> list[str]:
        return [SPYGLASS, *args, "--data-dir", str(self.data_dir), "--config-file", str(self.conf_file)]

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.data_dir / 'spyglass.sqlite'}"

    def db_sync(self) -> None:
        subprocess.run(self._cmd("db", "sync"), check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        self.sync = False

    def start(self) -> Server:
        if self.sync:
            self.db_sync()
        log = open(self.log_file, "ab")  # noqa: SIM115 - the child keeps it
        self.proc = subprocess.Popen(self._cmd("serve", "--bind", f"{HOST}:{self.port}"),
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: see {self.log_file}")
            try:
                status, _, _ = request(self.port, "GET", "/healthcheck")
                if status == 200 and len(children_of(self.proc.pid)) >= (self.workers or 1):
                    # Every worker has built its app once it answered; warm them all up.
                    for _ in range(len(children_of(self.proc.pid)) * 4):
                        request(self.port, "GET", "/v2/images?limit=1")
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not come up within 60 s")

    def all_pids(self) -> list[int]:
        assert self.proc is not None
        return [self.proc.pid, *children_of(self.proc.pid)]

    def worker_pids(self) -> list[int]:
        assert self.proc is not None
        return children_of(self.proc.pid)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        """SIGKILL the server's own process group (it was started in a session of its own): for a
        worker stuck in a long request, where a graceful stop would wait for it."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def log_count(self, needle: str) -> int:
        try:
            return self.log_file.read_text(errors="replace").count(needle)
        except OSError:
            return 0

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for_http(proc: subprocess.Popen[bytes], port: int, path: str, *, what: str, log_file: Path,
                  warm_ups: int = 0, headers: dict[str, str] | None = None, timeout: float = 60) -> None:
    """Poll GET `path` until it answers 200, then send `warm_ups` more (workers that build their
    application on first use); fail if the process exits or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited: see {log_file}")
        try:
            if request(port, "GET", path, headers=headers)[0] == 200:
                for _ in range(warm_ups):
                    request(port, "GET", path, headers=headers)
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up within {timeout:.0f} s: see {log_file}")


@contextmanager
def scratch_dir(parent: str | None, prefix: str, keep: bool = False) -> Iterator[Path]:
    path = fresh_data_dir(parent, prefix)
    try:
        yield path
    finally:
        if keep:
            print(f"(kept {path})")
        else:
            shutil.rmtree(path, ignore_errors=True)


# -- HTTP --------------------------------------------------------------------------------------

def request(port: int, method: str, path: str, body: Any = None,
            headers: dict[str, str] | None = None, timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
    """One request on a new connection (setup and checks; not for the measured loops)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, dict(resp.getheaders()), data
    finally:
        conn.close()


def create_image(port: int, **fields: Any) -> str:
    body = {"disk_format": "raw", "container_format": "bare", **fields}
    status, _, data = request(port, "POST", "/v2/images", body)
    if status != 201:
        raise RuntimeError(f"create failed: {status} {data[:300]!r}")
    return str(json.loads(data)["id"])


# -- statistics --------------------------------------------------------------------------------

def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(round(pct / 100 * len(ordered) + 0.5))))
    return ordered[rank - 1]


def spread(values: Sequence[float], fmt: str = "{:.0f}") -> str:
    """'median (min-max, n runs)'."""
    if not values:
        return "n/a"
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))}, {len(values)} runs)"


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    rows = [[*r, *[""] * (len(header) - len(r))] for r in rows]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)
