"""Helpers shared by the client tests: unique names, real disk images, and the client
commands run as a user would run them (their own process, a private HOME, no OS_* variables)."""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sample_images import MiB, qcow2

BIN = Path(sys.executable).parent
MEMBER_ROLES = "member,reader"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class Disk:
    data: bytes
    virtual_size: int

    @property
    def md5(self) -> str:
        return hashlib.md5(self.data).hexdigest()

    @property
    def sha512(self) -> str:
        return hashlib.sha512(self.data).hexdigest()

    def write(self, directory: Path) -> Path:
        path = directory / f"{uuid.uuid4().hex}.qcow2"
        path.write_bytes(self.data)
        return path


def qcow2_disk() -> Disk:
    """A valid qcow2 with a random virtual size, so every image gets its own bytes and hashes."""
    virtual_size = (1 + secrets.randbelow(4096)) * MiB
    return Disk(qcow2(virtual_size), virtual_size)


def cli_env(home: Path) -> dict[str, str]:
    # A private HOME keeps clouds.yaml and glanceclient's schema cache out of the way, and
    # OS_* variables from the developer's shell must not change what is being tested.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "GLANCECLIENT_"))}
    env["HOME"] = str(home)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


@dataclass
class Cli:
    """One command-line client pointed at a server: `argv` is the command with its connection options."""

    argv: list[str]
    env: dict[str, str]

    def run(self, *args: object, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [*self.argv, *(str(a) for a in args)]
        # Both CLIs read image data from a non-terminal stdin; /dev/null is only read by
        # `image create` without --file, which no test runs.
        proc = subprocess.run(command, env=self.env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=180)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(command)} exited with {proc.returncode}\n"
                                 f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
        return proc

    def fails(self, *args: object) -> subprocess.CompletedProcess[str]:
        proc = self.run(*args, check=False)
        assert proc.returncode != 0, f"{args} should have failed:\n{proc.stdout}\n{proc.stderr}"
        return proc

    def json(self, *args: object) -> Any:
        return json.loads(self.run(*args, "-f", "json").stdout)


def parse_table(output: str) -> list[dict[str, str]]:
    """Rows of the first prettytable in `output` (the glance command's list output)."""
    header: list[str] | None = None
    rows: list[dict[str, str]] = []
    for line in output.splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip()[1:-1].split("|")]
        if header is None:
            header = cells
        else:
            rows.append(dict(zip(header, cells)))
    return rows


def parse_properties(output: str) -> dict[str, str]:
    """The glance command's Property/Value table, with wrapped values joined back."""
    values: dict[str, str] = {}
    key = None
    for row in parse_table(output):
        name, value = row["Property"], row["Value"]
        if name:
            key = name
            values[key] = value
        elif key is not None:
            values[key] += value
    return values
