"""Membership rows as Glance nodes sharing the database leave them. Glance adds a member by
looking for it, then inserting, without a lock: two nodes adding one member at once (or a Glance
node racing a Spyglass one) record it twice, and the unique key cannot stop them (its `deleted_at`
is NULL on both rows). Glance removes a member by marking its row deleted at the current time,
which MySQL and MariaDB keep to the second. Spyglass must read such a membership as one, change
it whole, and delete it and its image: it answered 404 to changes and 500 to the image's delete.
CI runs these on SQLite, PostgreSQL and MariaDB."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests
from imagecheck import database, db_rows
from sqlalchemy import text

from spyglass_testing import SpyglassServer, create_image, new_project


def _add_row(server: SpyglassServer, image_id: str, member: str, *, status: str = "pending",
             deleted_at: datetime | None = None) -> None:
    """A member row as Glance writes it (live, or removed at `deleted_at`)."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    with database(server).begin() as con:
        con.execute(text("INSERT INTO image_members (image_id, member, can_share, status, created_at, "
                         "updated_at, deleted_at, deleted) VALUES (:image_id, :member, :false, :status, "
                         ":now, :now, :deleted_at, :deleted)"),
                    {"image_id": image_id, "member": member, "status": status, "now": now, "false": False,
                     "deleted_at": deleted_at, "deleted": deleted_at is not None})


@pytest.fixture
def recorded_twice(spyglass_server: SpyglassServer) -> tuple[requests.Session, dict[str, Any], str, requests.Session]:
    """A shared image of a new project, and another project whose membership has two live rows."""
    _, owner = new_project(spyglass_server)
    member, member_session = new_project(spyglass_server)
    image = create_image(owner, name="member-twice", visibility="shared")
    assert owner.post(f"/v2/images/{image['id']}/members", json={"member": member}).status_code == 200
    _add_row(spyglass_server, image["id"], member)
    return owner, image, member, member_session


def test_a_membership_recorded_twice_is_read_as_one(spyglass_server, recorded_twice):
    owner, image, member, member_session = recorded_twice
    members_url = f"/v2/images/{image['id']}/members"
    for session in (owner, member_session):
        listed = session.get(members_url).json()["members"]
        assert [(m["member_id"], m["status"]) for m in listed] == [(member, "pending")]
        one = session.get(f"{members_url}/{member}")
        assert (one.status_code, one.json()["status"]) == (200, "pending")
    shared = member_session.get("/v2/images?visibility=shared&member_status=all").json()["images"]
    assert [found["id"] for found in shared] == [image["id"]]


def test_a_membership_recorded_twice_is_answered_and_removed_whole(spyglass_server, recorded_twice):
    owner, image, member, member_session = recorded_twice
    url = f"/v2/images/{image['id']}/members/{member}"
    answered = member_session.put(url, json={"status": "accepted"})
    assert (answered.status_code, answered.json()["status"]) == (200, "accepted")
    assert db_rows(spyglass_server, image["id"])["members"] == [(member, "accepted", False)] * 2
    assert [found["id"] for found in member_session.get("/v2/images?visibility=shared").json()["images"]] \
        == [image["id"]]

    assert owner.delete(url).status_code == 204
    assert owner.get(url).status_code == 404
    assert member_session.get(f"/v2/images/{image['id']}").status_code == 404
    assert [m for m in db_rows(spyglass_server, image["id"])["members"] if not m[2]] == []
    # Added again, it is one membership.
    assert owner.post(f"/v2/images/{image['id']}/members", json={"member": member}).status_code == 200
    assert db_rows(spyglass_server, image["id"])["members"] == [(member, "pending", False)]


def test_an_image_whose_membership_was_recorded_twice_is_deleted(spyglass_server, recorded_twice):
    owner, image, _, _ = recorded_twice
    assert owner.delete(f"/v2/images/{image['id']}").status_code == 204
    assert owner.get(f"/v2/images/{image['id']}").status_code == 404
    rows = db_rows(spyglass_server, image["id"])
    assert rows["images"][0]["deleted"] and not [m for m in rows["members"] if not m[2]]


def test_an_image_is_deleted_in_the_second_glance_removed_its_member(spyglass_server):
    """Glance marked the member's row deleted, it was added again, and the image is deleted within
    the same second: on MySQL and MariaDB a row marked deleted now would repeat the first's key."""
    _, owner = new_project(spyglass_server)
    member, _ = new_project(spyglass_server)
    image = create_image(owner, name="member-removed-this-second", visibility="shared")
    now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    for seconds in range(-1, 3):  # whatever second the delete falls in
        _add_row(spyglass_server, image["id"], member, deleted_at=now + timedelta(seconds=seconds))
    assert owner.post(f"/v2/images/{image['id']}/members", json={"member": member}).status_code == 200
    assert owner.delete(f"/v2/images/{image['id']}").status_code == 204
    rows = db_rows(spyglass_server, image["id"])
    assert rows["images"][0]["deleted"] and not [m for m in rows["members"] if not m[2]]
