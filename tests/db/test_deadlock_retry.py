"""A write that the database ends as a deadlock victim is run again, as Glance runs its writes
again. On MariaDB, another client's transaction (Glance's way of adding a tag: insert the row,
whose foreign key takes a shared lock on the image, then update the image) and a Spyglass write
waiting for that image's row lock wait for each other; InnoDB rolls back the one that has written
nothing, Spyglass's. Spyglass must then finish its write, not fail the request."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime

import pytest
from database_servers import scratch_database
from sqlalchemy import Engine, text

from spyglass.db.engine import create_engine
from spyglass.db.repo import ImageRepository
from spyglass.db.tables import metadata
from spyglass.model import Image


@pytest.fixture
def mariadb() -> Iterator[Engine]:
    with scratch_database("mariadb", "deadlock") as url:
        engine = create_engine(url)
        metadata.create_all(engine)
        yield engine
        engine.dispose()


def _glance_style_tag_add_with_a_writer_waiting(engine: Engine, image_id: str,
                                                spyglass_write: Callable[[], object]) -> object:
    """Run spyglass_write on a thread while another transaction holds a shared lock on the image
    (from the foreign key of its tag row) and then asks for the exclusive one."""
    outcome: dict[str, object] = {}

    def write() -> None:
        try:
            outcome["result"] = spyglass_write()
        except Exception as exc:  # noqa: BLE001 - reported below
            outcome["error"] = exc

    with engine.connect() as other:
        now = datetime(2026, 1, 1)
        other.execute(text("INSERT INTO image_tags (image_id, value, created_at, deleted) "
                           "VALUES (:id, 'by-the-other', :now, 0)"), {"id": image_id, "now": now})
        thread = threading.Thread(target=write)
        thread.start()
        time.sleep(0.5)  # the Spyglass write is now waiting for the image's row
        other.execute(text("UPDATE images SET updated_at = :now WHERE id = :id"), {"id": image_id, "now": now})
        other.commit()
    thread.join(timeout=60)
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome.get("result")


@pytest.mark.parametrize("write", ["add_tag", "add_member", "update"])
def test_a_deadlock_victim_is_run_again(mariadb: Engine, write: str) -> None:
    repo = ImageRepository(mariadb)
    image = Image(id="5bcd97ff-0000-4000-8000-000000000001", name="raced", status="queued",
                  visibility="private", owner="p")
    repo.create(image)
    spyglass_write = {
        "add_tag": lambda: repo.add_tag(image.id, "by-spyglass"),
        "add_member": lambda: repo.add_member(image.id, "someone"),
        "update": lambda: repo.update(image.id, tags=["by-spyglass"], core={"name": "renamed"}),
    }[write]
    with mariadb.connect() as conn:
        deadlocks_before = conn.execute(text("SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'")).one()[1]
    _glance_style_tag_add_with_a_writer_waiting(mariadb, image.id, spyglass_write)
    with mariadb.connect() as conn:
        deadlocks_after = conn.execute(text("SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'")).one()[1]
    assert int(deadlocks_after) > int(deadlocks_before), "the race did not end in a deadlock: nothing tested"

    stored = repo.get(image.id)
    assert stored is not None
    if write == "add_tag":
        assert sorted(stored.tags) == ["by-spyglass", "by-the-other"]
    elif write == "add_member":
        assert [m.member for m in repo.list_members(image.id)] == ["someone"]
    else:
        assert (stored.name, stored.tags) == ("renamed", ["by-spyglass"])
