"""Data a delete left behind. A delete marks the image deleted in the database, then removes its
bytes from the store; a crash or a store failure between the two leaves them there. The next start
removes them, and nothing else: not the data of a live image, not bytes another location names,
not an image Glance's delayed delete left to its scrubber (`pending_delete`), not a file whose
name is no image's. The state such a delete leaves is written here in the database directly, as
the crash's window is too short to hit."""
from __future__ import annotations

import uuid

import requests
from imagecheck import database, upload
from sqlalchemy import text

from spyglass_testing import SpyglassServer, create_image


def _active_image(session: requests.Session, data: bytes) -> str:
    image_id = create_image(session)["id"]
    upload(session, image_id, data)
    return image_id


def _mark_deleted(server: SpyglassServer, image_id: str, status: str = "deleted") -> None:
    """What a delete commits before it removes the data (or Glance's delayed delete, with
    `pending_delete`)."""
    with database(server).begin() as con:
        con.execute(text("UPDATE images SET deleted = :true, deleted_at = updated_at, status = :status "
                         "WHERE id = :id"), {"id": image_id, "status": status, "true": True})
        con.execute(text("UPDATE image_locations SET deleted = :true, status = :status WHERE image_id = :id"),
                    {"id": image_id, "status": status, "true": True})


def test_the_next_start_removes_only_what_deletes_left(spyglass_server, new_server):
    # A server of its own (it is restarted) on the shared server's database (CI runs these tests
    # on SQLite, PostgreSQL and MariaDB).
    server = new_server({"database.connection": spyglass_server.database_url})
    admin = server.session()
    store = server.data_dir / "images"
    left, live, named_elsewhere, scrubbers = (_active_image(admin, bytes([n]) * 4096) for n in range(4))
    _mark_deleted(server, left)
    _mark_deleted(server, scrubbers, status="pending_delete")
    _mark_deleted(server, named_elsewhere)
    # Another image whose location an admin set to the deleted image's bytes (through Glance).
    sharing = create_image(admin)["id"]
    with database(server).begin() as con:
        con.execute(text("INSERT INTO image_locations (image_id, value, meta_data, status, created_at, deleted) "
                         "SELECT :sharing, value, meta_data, 'active', created_at, :false FROM image_locations "
                         "WHERE image_id = :id"), {"sharing": sharing, "id": named_elsewhere, "false": False})
    stray = str(uuid.uuid4())
    for name in (stray, "README"):
        (store / name).write_bytes(b"not an image's")

    server.stop()
    server.start()
    assert sorted(p.name for p in store.iterdir()) == sorted([live, named_elsewhere, scrubbers, stray, "README"])
    assert f"removed the data deleted image {left} left at" in server.log()
    assert admin.get(f"/v2/images/{live}/file").content == bytes([1]) * 4096
    assert server.log().count("removed the data deleted image") == 1
    assert admin.get(f"/v2/images/{left}").status_code == 404
