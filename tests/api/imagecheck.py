"""Helpers of the API tests: Glance's error documents, and snapshots of everything a refused request
must leave as it was (the image document, its database rows, its stored bytes)."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import Connection, DateTime, Engine, bindparam, create_engine, text
from sqlalchemy.pool import NullPool

REASONS = {
    400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
    413: "Request Entity Too Large", 415: "Unsupported Media Type", 416: "Request Range Not Satisfiable",
    503: "Service Unavailable",
}
PATCH_21 = "application/openstack-images-v2.1-json-patch"
PATCH_20 = "application/openstack-images-v2.0-json-patch"
MISSING_ID = "deadbeef-0000-4000-8000-000000000000"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def client(server: Any, project: str | None = None, roles: list[str] | None = None) -> requests.Session:
    """A session of a fresh project (member and reader), asking for JSON error documents."""
    s = server.session(project_id=project or unique("proj"), roles=roles)
    s.headers["Accept"] = "application/json"
    return s


def assert_error(resp: requests.Response, status: int, *fragments: str) -> str:
    """A webob error document as JSON, Glance's format: {"message", "code", "title"}."""
    assert resp.status_code == status, f"expected {status}, got {resp.status_code}: {resp.text[:1000]}"
    assert resp.headers.get("Content-Type", "").startswith("application/json"), resp.headers
    doc = resp.json()
    assert set(doc) == {"message", "code", "title"}, doc
    assert doc["code"] == f"{status} {REASONS[status]}"
    assert doc["title"] == REASONS[status]
    message = doc["message"]
    assert message.strip(), "an error needs a message"
    for fragment in fragments:
        assert fragment.lower() in message.lower(), f"{fragment!r} not in {message!r}"
    return message


def assert_plain_error(resp: requests.Response, status: int, *fragments: str) -> str:
    """The same error as text/plain, what Glance answers a request without an Accept header."""
    assert resp.status_code == status, f"expected {status}, got {resp.status_code}: {resp.text[:1000]}"
    assert resp.headers.get("Content-Type") == "text/plain; charset=UTF-8", resp.headers
    head = f"{status} {REASONS[status]}\n\n"
    assert resp.text.startswith(head), repr(resp.text)
    for fragment in fragments:
        assert fragment in resp.text, f"{fragment!r} not in {resp.text!r}"
    return resp.text[len(head):]


# -- what must not change ---------------------------------------------------------------------------

_engines: dict[str, Engine] = {}


def database(server: Any) -> Engine:
    """The server's own database (SQLite in its data directory, or PostgreSQL or MariaDB)."""
    url = server.database_url
    if url not in _engines:
        _engines[url] = create_engine(url, poolclass=NullPool)
    return _engines[url]


def _rows(con: Connection, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    return sorted(tuple(r) for r in con.execute(text(sql), params))


def db_rows(server: Any, image_id: str) -> dict[str, list[Any]]:
    """Every row of the image in Glance's tables, soft-deleted ones included (one connection)."""
    with database(server).connect() as con:
        return {
            "images": [dict(r._mapping) for r in con.execute(text("SELECT * FROM images WHERE id = :id"),
                                                             {"id": image_id})],
            "properties": _rows(con, "SELECT name, value, deleted FROM image_properties WHERE image_id = :id",
                                id=image_id),
            "tags": _rows(con, "SELECT value, deleted FROM image_tags WHERE image_id = :id", id=image_id),
            "locations": _rows(con, "SELECT value, status, deleted FROM image_locations WHERE image_id = :id",
                               id=image_id),
            "members": _rows(con, "SELECT member, status, deleted FROM image_members WHERE image_id = :id",
                             id=image_id),
        }


def project_image_ids(server: Any, project: str) -> list[str]:
    with database(server).connect() as con:
        return [row[0] for row in _rows(con, "SELECT id FROM images WHERE owner = :owner", owner=project)]


def stored_files(server: Any, image_id: str) -> list[str]:
    """Files of the image under the filesystem store, partial uploads included."""
    images_dir = Path(server.data_dir) / "images"
    if not images_dir.exists():
        return []
    return sorted(p.name for p in images_dir.iterdir() if p.name.startswith(image_id))


# Timestamps are kept to the second, so a write in the same second as the image's creation would
# leave updated_at as it was: a snapshot first moves updated_at into the past, where any write shows.
BACKDATED = datetime(2001, 2, 3, 4, 5, 6)


def backdate(server: Any, image_id: str) -> None:
    with database(server).begin() as con:
        # Typed, so that each dialect stores it as the application does (SQLite: the text format).
        update = text("UPDATE images SET updated_at = :at WHERE id = :id").bindparams(bindparam("at", type_=DateTime()))
        done = con.execute(update, {"at": BACKDATED, "id": image_id})
        assert done.rowcount == 1


@dataclass
class ImageState:
    document: dict[str, Any]
    rows: dict[str, list[Any]]
    files: list[str]


def image_state(server: Any, session: requests.Session, image_id: str, *, snapshot: bool = True) -> ImageState:
    """With snapshot (the default), backdate updated_at first, so that any later write shows."""
    if snapshot:
        backdate(server, image_id)
    resp = session.get(f"/v2/images/{image_id}")
    assert resp.status_code == 200, resp.text
    state = ImageState(resp.json(), db_rows(server, image_id), stored_files(server, image_id))
    if snapshot:
        assert state.document["updated_at"] == "2001-02-03T04:05:06Z"
    return state


def assert_unchanged(server: Any, session: requests.Session, before: ImageState, *,
                     except_updated_at: bool = False) -> None:
    after = image_state(server, session, before.document["id"], snapshot=False)
    if except_updated_at:
        # Only for a write the server had to make and undo (an upload that claimed the image).
        assert after.document["updated_at"] >= before.document["updated_at"]
        after.document["updated_at"] = before.document["updated_at"]
        for a, b in zip(after.rows["images"], before.rows["images"]):
            a["updated_at"] = b["updated_at"]
    assert after.document == before.document
    assert after.rows == before.rows  # the images row (updated_at included), properties, tags, ...
    assert after.files == before.files


def create_image(session: requests.Session, **body: Any) -> dict[str, Any]:
    body.setdefault("name", unique("img"))
    resp = session.post("/v2/images", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def upload(session: requests.Session, image_id: str, data: bytes) -> None:
    resp = session.put(f"/v2/images/{image_id}/file", data=data,
                       headers={"Content-Type": "application/octet-stream"})
    assert resp.status_code == 204, resp.text
