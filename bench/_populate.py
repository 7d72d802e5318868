"""Fill a Spyglass database fast, with SQLAlchemy Core inserts straight into Glance's tables
(spyglass.db.tables), for benchmarks that need many images: going through the API would take
longer than the measurement itself.

The rows look like what the API writes: a soft-delete flag of 0, naive UTC timestamps with second
precision, a file location with {"store": "file"} metadata for active images.
"""
from __future__ import annotations

import json
import random
import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from spyglass.db import tables as t

DISTROS = ("ubuntu", "debian", "centos", "fedora", "rocky", "windows", "alpine", "cirros")
TAGS = ("gpu", "prod", "test", "nightly", "base", "minimal", "hardened", "legacy", "arm64", "x86_64")
DISK_FORMATS = ("qcow2", "raw", "vmdk", "iso")
BASE_TIME = datetime(2024, 1, 1)


def project(n: int) -> str:
    return f"project-{n:02d}"


def _insert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), 20000):
        conn.execute(table.insert(), rows[start:start + 20000])


def populate_mixed(url: str, count: int, *, owners: int = 20, seed: int = 1) -> dict[str, int]:
    """`count` images: 3 properties and 2 tags each, `owners` projects, mixed visibility (50%
    private, 15% public, 25% shared with 2 members each, 10% community), 90% active with a
    location, 2% hidden, created over a year in shuffled name order. Returns row counts."""
    rng = random.Random(seed)
    images, props, tags, members, locations = [], [], [], [], []
    names = list(range(count))
    rng.shuffle(names)
    for i in range(count):
        image_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        created = BASE_TIME + timedelta(seconds=int(i * 31_536_000 / max(count, 1)) + rng.randrange(30))
        roll = rng.random()
        visibility = ("private" if roll < 0.50 else "public" if roll < 0.65
                      else "shared" if roll < 0.90 else "community")
        owner = rng.randrange(owners)
        active = rng.random() < 0.9
        size = rng.randrange(10 * 2**20, 20 * 2**30) if active else None
        images.append({
            "id": image_id, "name": f"image-{names[i]:06d}", "size": size,
            "status": "active" if active else "queued", "created_at": created, "updated_at": created,
            "deleted_at": None, "deleted": False, "disk_format": rng.choice(DISK_FORMATS),
            "container_format": "bare", "checksum": f"{rng.getrandbits(128):032x}" if active else None,
            "owner": project(owner), "min_disk": rng.choice((0, 1, 10, 20)), "min_ram": rng.choice((0, 512, 1024)),
            "protected": rng.random() < 0.05, "virtual_size": size, "visibility": visibility,
            "os_hidden": rng.random() < 0.02, "os_hash_algo": "sha512" if active else None,
            "os_hash_value": f"{rng.getrandbits(512):0128x}" if active else None,
        })
        common = {"image_id": image_id, "created_at": created, "updated_at": created,
                  "deleted_at": None, "deleted": False}
        distro = rng.choice(DISTROS)
        for name, value in (("os_distro", distro), ("os_version", str(rng.randrange(1, 40))),
                            ("hw_disk_bus", rng.choice(("virtio", "scsi", "ide")))):
            props.append({**common, "name": name, "value": value})
        for tag in rng.sample(TAGS, 2):
            tags.append({**common, "value": tag})
        if visibility == "shared":
            others = rng.sample([o for o in range(owners) if o != owner], 2)
            for other in others:
                members.append({**common, "member": project(other), "can_share": False,
                                "status": rng.choice(("accepted", "accepted", "pending", "rejected"))})
        if active:
            locations.append({**common, "value": f"file:///var/lib/spyglass/images/{image_id}",
                              "meta_data": json.dumps({"store": "file"}), "status": "active"})
    _write(url, images, props, tags, members, locations)
    return {"images": len(images), "properties": len(props), "tags": len(tags),
            "members": len(members), "locations": len(locations)}


def populate_created(url: str, count: int, *, owner: str = "admin", seed: int = 2) -> list[str]:
    """`count` queued images as `POST /v2/images` with the bench's create body makes them (one
    tag, one property); returns their IDs."""
    rng = random.Random(seed)
    now = datetime.utcnow().replace(microsecond=0)
    images, props, tags = [], [], []
    for i in range(count):
        image_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        images.append({
            "id": image_id, "name": f"bench-extra-{i}", "size": None, "status": "queued",
            "created_at": now, "updated_at": now, "deleted_at": None, "deleted": False,
            "disk_format": "raw", "container_format": "bare", "checksum": None, "owner": owner,
            "min_disk": 0, "min_ram": 0, "protected": False, "virtual_size": None,
            "visibility": "shared", "os_hidden": False, "os_hash_algo": None, "os_hash_value": None,
        })
        common = {"image_id": image_id, "created_at": now, "updated_at": now, "deleted_at": None,
                  "deleted": False}
        props.append({**common, "name": "os_distro", "value": "ubuntu"})
        tags.append({**common, "value": "bench"})
    _write(url, images, props, tags, [], [])
    return [row["id"] for row in images]


def _write(url: str, images: list, props: list, tags: list, members: list, locations: list) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA busy_timeout = 30000")
            _insert(conn, t.images, images)
            _insert(conn, t.image_properties, props)
            _insert(conn, t.image_tags, tags)
            if members:
                _insert(conn, t.image_members, members)
            if locations:
                _insert(conn, t.image_locations, locations)
    finally:
        engine.dispose()
