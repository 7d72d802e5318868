"""Spyglass serving a database that real Glance 33 created and filled: every image, listing and
membership must read exactly as Glance answered (recorded in tests/fixtures/glance33/responses)."""
from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

FIXTURE = Path(__file__).parent.parent / "fixtures" / "glance33"
# The location rows name the directory Glance's store was in when the fixture was made.
GLANCE_STORE_URL = "file:///tmp/glance33-fixture-store/"
INDEX = json.loads((FIXTURE / "responses" / "index.json").read_text())
# Endpoints of later roadmap items (tasks); everything else recorded must match.
NOT_YET_SERVED = ("/tasks",)


@pytest.fixture(scope="module")
def glance_db_server(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest):
    from spyglass_testing import make_server

    base = tmp_path_factory.mktemp("glance-db")
    database = base / "glance.sqlite"
    shutil.copy(FIXTURE / "glance.sqlite", database)
    store = shutil.copytree(FIXTURE / "images", base / "store")
    with sqlite3.connect(database) as conn:
        # The one change to Glance's rows: the store now lives in this test's directory.
        conn.execute("UPDATE image_locations SET value = replace(value, ?, ?)",
                     (GLANCE_STORE_URL, store.as_uri() + "/"))
        glance_revision = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    server = make_server(base, {"database.connection": f"sqlite:///{database}",
                                "glance_store.filesystem_store_datadir": store})
    server.start()
    yield server, database, glance_revision
    server.stop()


def _normalized(doc: Any) -> Any:
    """Tag order is not part of the contract (Glance itself returns tags in varying order)."""
    if isinstance(doc, dict):
        return {k: (sorted(v) if k == "tags" else _normalized(v)) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_normalized(item) for item in doc]
    return doc


RECORDED = [r for r in INDEX["responses"] if not any(p in r["request"] for p in NOT_YET_SERVED)]
# Glance builds its links from a dict of the query, so a repeated parameter (tag=a&tag=b) keeps only
# its last value there and a client following the link gets other images. Spyglass keeps them all.
GLANCE_LINK_BUGS = {"list-tag.admin.json": {"first": "/v2/images?tag=alpha&tag=beta"}}


@pytest.mark.parametrize("recorded", RECORDED, ids=[r["file"] for r in RECORDED])
def test_answers_as_glance_did(glance_db_server, recorded):
    server, _, _ = glance_db_server
    method, path = recorded["request"].split(" ", 1)
    identity = INDEX["identities"][recorded["as"]]
    resp = server.session().request(method, path, headers=identity)
    assert resp.status_code == recorded["status"], resp.text
    if recorded["content_type"] == "application/json":
        expected = json.loads((FIXTURE / "responses" / recorded["file"]).read_text())
        expected.update(GLANCE_LINK_BUGS.get(recorded["file"], {}))
        assert _normalized(resp.json()) == _normalized(expected)


def test_downloads_glance_stored_bytes_and_leaves_glance_version_alone(glance_db_server):
    server, database, glance_revision = glance_db_server
    admin = INDEX["identities"]["admin"]
    image_id = INDEX["images"]["public"]
    resp = server.session().get(f"/v2/images/{image_id}/file", headers=admin)
    assert resp.status_code == 200
    expected = (FIXTURE / "images" / image_id).read_bytes()
    assert resp.content == expected
    assert resp.headers["Content-MD5"] == hashlib.md5(expected).hexdigest()
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == glance_revision
