"""Who sees which image, image sharing (members), tags, and deactivation, through the real server.

Every test works in projects of its own (fresh UUIDs) and filters its listings by them.
"""
from __future__ import annotations

import html
import re
import time
import uuid

import pytest
import requests

from spyglass_testing import create_image, new_project

PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _uid() -> str:
    return uuid.uuid4().hex


_project = new_project


def _create(session: requests.Session, **attrs: object) -> dict:
    return create_image(session, **{"name": f"vm-{_uid()}", **attrs})


def _upload(session: requests.Session, image_id: str, data: bytes) -> None:
    resp = session.put(f"/v2/images/{image_id}/file", data=data, headers={"Content-Type": "application/octet-stream"})
    assert resp.status_code == 204, resp.text


def _ids(session: requests.Session, params: list[tuple[str, str]] | dict[str, str]) -> list[str]:
    resp = session.get("/v2/images", params=params)
    assert resp.status_code == 200, resp.text
    return [image["id"] for image in resp.json()["images"]]


def _add_member(owner: requests.Session, image_id: str, member: str) -> dict:
    resp = owner.post(f"/v2/images/{image_id}/members", json={"member": member})
    assert resp.status_code == 200, resp.text
    return resp.json()


def _set_status(session: requests.Session, image_id: str, member: str, status: object) -> requests.Response:
    return session.put(f"/v2/images/{image_id}/members/{member}", json={"status": status})


# -- visibility -------------------------------------------------------------------------------------

def test_private_image_is_invisible_to_other_projects(spyglass_server):
    owner, s = _project(spyglass_server)
    image = _create(s, visibility="private")
    _, other = _project(spyglass_server)

    resp = other.get(f"/v2/images/{image['id']}")
    assert resp.status_code == 404
    assert f"No image found with ID {image['id']}" in resp.text
    for params in ({"owner": owner}, {"name": image["name"]}, {"owner": owner, "visibility": "all"},
                   {"owner": owner, "visibility": "private"}, {"id": image["id"]}):
        assert _ids(other, params) == []
    patch = other.patch(f"/v2/images/{image['id']}", json=[{"op": "replace", "path": "/name", "value": "x"}],
                        headers=PATCH)
    assert patch.status_code == 404
    assert other.delete(f"/v2/images/{image['id']}").status_code == 404
    assert other.get(f"/v2/images/{image['id']}/file").status_code == 404
    # Untouched, and still the owner's.
    mine = s.get(f"/v2/images/{image['id']}").json()
    assert mine["name"] == image["name"] and mine["status"] == "queued"
    assert _ids(s, {"owner": owner}) == [image["id"]]


def test_admin_sees_other_projects_private_images(spyglass_server):
    owner, s = _project(spyglass_server)
    image = _create(s, visibility="private")
    admin = spyglass_server.session()
    shown = admin.get(f"/v2/images/{image['id']}")
    assert shown.status_code == 200
    assert shown.json()["owner"] == owner
    assert _ids(admin, {"owner": owner}) == [image["id"]]
    assert _ids(admin, {"name": image["name"]}) == [image["id"]]
    # An admin role in any project is enough.
    _, project_admin = _project(spyglass_server, roles="admin,member,reader")
    assert project_admin.get(f"/v2/images/{image['id']}").status_code == 200
    assert _ids(project_admin, {"owner": owner}) == [image["id"]]


@pytest.mark.parametrize("no_owner", ["", None])
@pytest.mark.parametrize("visibility", ["private", "shared"])
def test_an_image_without_owner_is_seen_as_its_visibility_says_and_listed_for_admins(spyglass_server, no_owner,
                                                                                    visibility):
    """As Glance 33 (tests/interop compares both): an admin may clear an image's owner ("" is
    stored as no owner). A private one is then an admin's alone: anyone else gets 404, even its
    former owner. A shared one anyone may read by its ID, and only an admin may change. Nobody but
    an admin lists either."""
    owner, s = _project(spyglass_server)
    image = _create(s, visibility=visibility)
    admin = spyglass_server.session()
    cleared = admin.patch(f"/v2/images/{image['id']}", json=[{"op": "replace", "path": "/owner", "value": no_owner}],
                          headers=PATCH)
    assert cleared.status_code == 200
    _, other = _project(spyglass_server)
    assert admin.get(f"/v2/images/{image['id']}").json()["owner"] is None
    for session in (s, other):
        shown = session.get(f"/v2/images/{image['id']}")
        if visibility == "private":
            assert shown.status_code == 404
        else:
            assert shown.status_code == 200 and shown.json()["owner"] is None
    assert _ids(other, {"id": image["id"]}) == [] and _ids(s, {"id": image["id"]}) == []
    assert _ids(admin, {"id": image["id"]}) == [image["id"]]
    refused = 404 if visibility == "private" else 403
    rename = [{"op": "replace", "path": "/name", "value": "x"}]
    assert other.patch(f"/v2/images/{image['id']}", json=rename, headers=PATCH).status_code == refused
    assert s.delete(f"/v2/images/{image['id']}").status_code == refused
    assert admin.delete(f"/v2/images/{image['id']}").status_code == 204


def test_shared_image_is_listed_for_a_member_once_accepted(spyglass_server):
    owner, s = _project(spyglass_server)
    image = _create(s, visibility="shared")
    member, m = _project(spyglass_server)
    _, stranger = _project(spyglass_server)
    of_owner = [("owner", owner)]

    assert m.get(f"/v2/images/{image['id']}").status_code == 404
    _add_member(s, image["id"], member)

    # Pending: the member may GET it but does not list it by default.
    assert m.get(f"/v2/images/{image['id']}").status_code == 200
    assert _ids(m, of_owner) == []
    assert _ids(m, [*of_owner, ("visibility", "shared")]) == []
    assert _ids(m, [*of_owner, ("member_status", "pending")]) == [image["id"]]
    assert _ids(m, [*of_owner, ("member_status", "all")]) == [image["id"]]
    assert _ids(m, [*of_owner, ("member_status", "accepted")]) == []

    assert _set_status(m, image["id"], member, "accepted").status_code == 200
    assert _ids(m, of_owner) == [image["id"]]
    assert _ids(m, [*of_owner, ("visibility", "shared")]) == [image["id"]]
    assert _ids(m, [*of_owner, ("member_status", "pending")]) == []
    assert _ids(m, [*of_owner, ("visibility", "all")]) == [image["id"]]

    assert _set_status(m, image["id"], member, "rejected").status_code == 200
    assert m.get(f"/v2/images/{image['id']}").status_code == 200
    assert _ids(m, of_owner) == []
    assert _ids(m, [*of_owner, ("member_status", "rejected")]) == [image["id"]]
    assert _ids(m, [*of_owner, ("member_status", "all")]) == [image["id"]]

    # Never seen by a project it is not shared with, whatever it asks for.
    assert stranger.get(f"/v2/images/{image['id']}").status_code == 404
    for status in ("pending", "accepted", "rejected", "all"):
        assert _ids(stranger, [*of_owner, ("member_status", status)]) == []
    assert _ids(stranger, [*of_owner, ("visibility", "shared")]) == []
    # The owner lists its shared image whatever its members did.
    assert _ids(s, of_owner) == [image["id"]]


@pytest.mark.parametrize("value", ["bogus", "ACCEPTED"])
def test_bad_member_status_filter_is_400(spyglass_server, value):
    _, s = _project(spyglass_server)
    resp = s.get("/v2/images", params={"member_status": value})
    assert resp.status_code == 400


def test_community_images_are_listed_only_on_request_but_readable_by_anyone(spyglass_server):
    owner, s = _project(spyglass_server)
    image = _create(s, visibility="community")
    _, other = _project(spyglass_server)
    of_owner = [("owner", owner)]

    shown = other.get(f"/v2/images/{image['id']}")
    assert shown.status_code == 200 and shown.json()["visibility"] == "community"
    assert _ids(other, of_owner) == []
    assert _ids(other, [*of_owner, ("visibility", "community")]) == [image["id"]]
    assert _ids(other, [*of_owner, ("visibility", "all")]) == [image["id"]]
    # Admins too list other projects' community images only on request.
    admin = spyglass_server.session()
    assert _ids(admin, of_owner) == []
    assert _ids(admin, [*of_owner, ("visibility", "community")]) == [image["id"]]
    # Readable is not writable.
    patch = other.patch(f"/v2/images/{image['id']}", json=[{"op": "replace", "path": "/name", "value": "x"}],
                        headers=PATCH)
    assert patch.status_code == 403


def test_public_images_are_visible_to_all(spyglass_server):
    admin = spyglass_server.session()
    image = _create(admin, visibility="public")
    for _ in range(2):
        _, other = _project(spyglass_server)
        assert other.get(f"/v2/images/{image['id']}").json()["visibility"] == "public"
        assert _ids(other, {"name": image["name"]}) == [image["id"]]
        assert _ids(other, {"name": image["name"], "visibility": "public"}) == [image["id"]]
        resp = other.delete(f"/v2/images/{image['id']}")
        assert resp.status_code == 403
        assert "You are not authorized to complete delete_image action." in resp.text
    assert admin.get(f"/v2/images/{image['id']}").json()["status"] == "queued"


def test_hidden_public_image_is_left_out_of_default_lists(spyglass_server):
    admin = spyglass_server.session()
    image = _create(admin, visibility="public", os_hidden=True)
    _, other = _project(spyglass_server)
    assert other.get(f"/v2/images/{image['id']}").status_code == 200
    assert _ids(other, {"name": image["name"]}) == []
    assert _ids(other, {"name": image["name"], "os_hidden": "true"}) == [image["id"]]
    resp = admin.patch(f"/v2/images/{image['id']}", json=[{"op": "replace", "path": "/os_hidden", "value": False}],
                       headers=PATCH)
    assert resp.status_code == 200
    assert _ids(other, {"name": image["name"]}) == [image["id"]]


def test_only_admins_may_publicize(spyglass_server):
    owner, s = _project(spyglass_server)
    name = f"pub-{_uid()}"
    resp = s.post("/v2/images", json={"name": name, "visibility": "public"})
    assert resp.status_code == 403
    assert "You are not authorized to complete publicize_image action." in resp.text
    assert _ids(s, {"name": name}) == []  # nothing left behind

    image = _create(s, visibility="private")
    resp = s.patch(f"/v2/images/{image['id']}", json=[{"op": "replace", "path": "/visibility", "value": "public"}],
                   headers=PATCH)
    assert resp.status_code == 403
    assert s.get(f"/v2/images/{image['id']}").json()["visibility"] == "private"

    _, project_admin = _project(spyglass_server, roles="admin,member,reader")
    made = _create(project_admin, visibility="public")
    assert made["visibility"] == "public"
    admin = spyglass_server.session()
    resp = admin.patch(f"/v2/images/{image['id']}", json=[{"op": "replace", "path": "/visibility", "value": "public"}],
                       headers=PATCH)
    assert resp.status_code == 200 and resp.json()["visibility"] == "public"
    assert resp.json()["owner"] == owner


def test_protected_image_cannot_be_deleted(spyglass_server):
    owner, s = _project(spyglass_server)
    image = _create(s, protected=True)
    for session in (s, spyglass_server.session()):
        resp = session.delete(f"/v2/images/{image['id']}")
        assert resp.status_code == 403
        assert f"Image {image['id']} is protected and cannot be deleted." in resp.text
    assert s.get(f"/v2/images/{image['id']}").json()["protected"] is True
    assert _ids(s, {"owner": owner}) == [image["id"]]

    resp = s.patch(f"/v2/images/{image['id']}", json=[{"op": "replace", "path": "/protected", "value": False}],
                   headers=PATCH)
    assert resp.status_code == 200
    assert s.delete(f"/v2/images/{image['id']}").status_code == 204
    assert s.get(f"/v2/images/{image['id']}").status_code == 404
    assert _ids(s, {"owner": owner}) == []


# -- members ----------------------------------------------------------------------------------------

def test_member_document_format(spyglass_server):
    _, s = _project(spyglass_server)
    image = _create(s, visibility="shared")
    member = _uid()
    doc = _add_member(s, image["id"], member)
    assert set(doc) == {"image_id", "member_id", "status", "created_at", "updated_at", "schema"}
    assert doc["image_id"] == image["id"]
    assert doc["member_id"] == member
    assert doc["status"] == "pending"
    assert doc["schema"] == "/v2/schemas/member"
    assert ISO_Z.match(doc["created_at"]) and ISO_Z.match(doc["updated_at"])
    assert s.get(f"/v2/images/{image['id']}/members/{member}").json() == doc
    listing = s.get(f"/v2/images/{image['id']}/members").json()
    assert listing == {"members": [doc], "schema": "/v2/schemas/members"}


def test_member_lifecycle(spyglass_server):
    _, s = _project(spyglass_server)
    image = _create(s, visibility="shared")
    first, m1 = _project(spyglass_server)
    second, m2 = _project(spyglass_server)
    _, stranger = _project(spyglass_server)
    members_url = f"/v2/images/{image['id']}/members"

    _add_member(s, image["id"], first)
    _add_member(s, image["id"], second)
    resp = s.post(members_url, json={"member": first})
    assert resp.status_code == 409
    assert s.post(members_url, json={"nope": "x"}).status_code == 400

    # The owner lists every member; a member sees only itself; a stranger not even the image.
    owner_view = s.get(members_url).json()["members"]
    assert sorted(m["member_id"] for m in owner_view) == sorted([first, second])
    assert all(m["status"] == "pending" for m in owner_view)
    assert [m["member_id"] for m in m1.get(members_url).json()["members"]] == [first]
    assert [m["member_id"] for m in m2.get(members_url).json()["members"]] == [second]
    assert stranger.get(members_url).status_code == 404
    assert stranger.get(f"{members_url}/{first}").status_code == 404
    assert stranger.post(members_url, json={"member": _uid()}).status_code == 404

    # Only the member itself answers the invitation.
    resp = _set_status(s, image["id"], first, "accepted")
    assert resp.status_code == 403
    # Another member cannot even see that membership (404, as Glance); the owner can, but not answer it.
    assert _set_status(m2, image["id"], first, "accepted").status_code == 404
    assert _set_status(m1, image["id"], first, "bogus").status_code == 400
    assert _set_status(m1, image["id"], first, None).status_code == 400
    assert s.get(f"{members_url}/{first}").json()["status"] == "pending"

    resp = _set_status(m1, image["id"], first, "accepted")
    assert resp.status_code == 200
    accepted = resp.json()
    assert accepted["status"] == "accepted" and accepted["member_id"] == first
    assert accepted["image_id"] == image["id"] and accepted["schema"] == "/v2/schemas/member"
    assert m1.get(f"{members_url}/{first}").json()["status"] == "accepted"
    assert _set_status(m1, image["id"], first, "rejected").json()["status"] == "rejected"
    assert _set_status(m1, image["id"], first, "pending").json()["status"] == "pending"
    statuses = {m["member_id"]: m["status"] for m in s.get(members_url).json()["members"]}
    assert statuses == {first: "pending", second: "pending"}

    # Removing a member takes the image away from it.
    assert m1.get(f"/v2/images/{image['id']}").status_code == 200
    assert s.delete(f"{members_url}/{first}").status_code == 204
    assert m1.get(f"/v2/images/{image['id']}").status_code == 404
    assert m1.get(members_url).status_code == 404
    assert [m["member_id"] for m in s.get(members_url).json()["members"]] == [second]
    assert s.get(f"{members_url}/{first}").status_code == 404
    assert s.delete(f"{members_url}/{first}").status_code == 404
    # ... and it may be invited again.
    assert _add_member(s, image["id"], first)["status"] == "pending"


def test_members_only_on_shared_images(spyglass_server):
    _, s = _project(spyglass_server)
    private = _create(s, visibility="private")
    community = _create(s, visibility="community")
    admin = spyglass_server.session()
    public = _create(admin, visibility="public")
    for session, image in ((s, private), (s, community), (admin, public)):
        url = f"/v2/images/{image['id']}/members"
        assert session.post(url, json={"member": _uid()}).status_code == 403
        assert session.get(url).status_code == 403
    # Making an image shared opens its member list.
    resp = s.patch(f"/v2/images/{private['id']}", json=[{"op": "replace", "path": "/visibility", "value": "shared"}],
                   headers=PATCH)
    assert resp.status_code == 200
    member = _uid()
    _add_member(s, private["id"], member)
    assert [m["member_id"] for m in s.get(f"/v2/images/{private['id']}/members").json()["members"]] == [member]


# -- tags -------------------------------------------------------------------------------------------

def test_tags_put_and_delete(spyglass_server):
    _, s = _project(spyglass_server)
    image = _create(s, tags=["keep"])
    url = f"/v2/images/{image['id']}/tags"

    assert s.put(f"{url}/blue").status_code == 204
    assert s.get(f"/v2/images/{image['id']}").json()["tags"] == ["keep", "blue"]
    assert s.put(f"{url}/blue").status_code == 204  # idempotent
    assert s.get(f"/v2/images/{image['id']}").json()["tags"] == ["keep", "blue"]
    assert s.delete(f"{url}/blue").status_code == 204
    assert s.get(f"/v2/images/{image['id']}").json()["tags"] == ["keep"]
    assert s.delete(f"{url}/blue").status_code == 404
    assert s.delete(f"{url}/never-{_uid()}").status_code == 404
    assert s.get(f"/v2/images/{image['id']}").json()["tags"] == ["keep"]

    _, other = _project(spyglass_server)
    assert other.put(f"{url}/theirs").status_code == 404
    assert other.delete(f"{url}/keep").status_code == 404
    admin = spyglass_server.session()
    public = _create(admin, visibility="public")
    assert other.put(f"/v2/images/{public['id']}/tags/theirs").status_code == 403
    assert admin.get(f"/v2/images/{public['id']}").json()["tags"] == []


def test_tag_quota(new_server):
    server = new_server({"image_tag_quota": 2})
    _, s = _project(server)
    image = _create(s, tags=["one"])
    url = f"/v2/images/{image['id']}/tags"
    assert s.put(f"{url}/two").status_code == 204
    assert s.put(f"{url}/three").status_code == 413
    assert s.put(f"{url}/two").status_code == 204  # already there: no new tag, no quota error
    assert s.get(f"/v2/images/{image['id']}").json()["tags"] == ["one", "two"]

    resp = s.post("/v2/images", json={"name": f"q-{_uid()}", "tags": ["a", "b", "c"]})
    assert resp.status_code == 413
    resp = s.patch(f"/v2/images/{image['id']}", json=[{"op": "replace", "path": "/tags", "value": ["a", "b", "c"]}],
                   headers=PATCH)
    assert resp.status_code == 413
    assert s.get(f"/v2/images/{image['id']}").json()["tags"] == ["one", "two"]


# -- deactivate and reactivate ----------------------------------------------------------------------

def test_deactivate_and_reactivate(spyglass_server):
    _, s = _project(spyglass_server)
    data = b"x" * 4096
    image = _create(s, visibility="private")
    actions = f"/v2/images/{image['id']}/actions"

    # Only an active (or already deactivated) image may be deactivated.
    resp = s.post(f"{actions}/deactivate")
    assert resp.status_code == 403
    assert "Not allowed to deactivate image in status 'queued'" in html.unescape(resp.text)
    assert s.post(f"{actions}/reactivate").status_code == 403
    assert s.get(f"/v2/images/{image['id']}").json()["status"] == "queued"

    _upload(s, image["id"], data)
    assert s.post(f"{actions}/deactivate").status_code == 204
    assert s.get(f"/v2/images/{image['id']}").json()["status"] == "deactivated"
    assert s.post(f"{actions}/deactivate").status_code == 204
    assert s.get(f"/v2/images/{image['id']}").json()["status"] == "deactivated"

    resp = s.get(f"/v2/images/{image['id']}/file")
    assert resp.status_code == 403
    assert "The requested image has been deactivated. Image data download is forbidden." in resp.text
    admin = spyglass_server.session()
    resp = admin.get(f"/v2/images/{image['id']}/file")
    assert resp.status_code == 200 and resp.content == data

    assert s.post(f"{actions}/reactivate").status_code == 204
    assert s.get(f"/v2/images/{image['id']}").json()["status"] == "active"
    resp = s.get(f"/v2/images/{image['id']}/file")
    assert resp.status_code == 200 and resp.content == data
    # Reactivating an active image changes nothing.
    assert s.post(f"{actions}/reactivate").status_code == 204
    assert s.get(f"/v2/images/{image['id']}").json()["status"] == "active"


def test_deactivate_needs_owner_or_admin(spyglass_server):
    admin = spyglass_server.session()
    image = _create(admin, visibility="public")
    _upload(admin, image["id"], b"y" * 1024)
    _, other = _project(spyglass_server)
    resp = other.post(f"/v2/images/{image['id']}/actions/deactivate")
    assert resp.status_code == 403
    assert "You are not authorized to complete deactivate action." in resp.text
    assert admin.get(f"/v2/images/{image['id']}").json()["status"] == "active"
    assert admin.post(f"/v2/images/{image['id']}/actions/deactivate").status_code == 204
    resp = other.get(f"/v2/images/{image['id']}/file")
    assert resp.status_code == 403
    assert other.post(f"/v2/images/{image['id']}/actions/reactivate").status_code == 403
    assert admin.post(f"/v2/images/{image['id']}/actions/reactivate").status_code == 204
    assert other.get(f"/v2/images/{image['id']}/file").content == b"y" * 1024


# -- policy file ----------------------------------------------------------------------------------------

def test_policy_file_overrides_a_rule_and_is_reread(new_server, tmp_path):
    # An operator's Glance policy file carries over: same rule names, same [oslo_policy] option.
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text('"delete_image": "role:admin"\n')
    server = new_server({"oslo_policy.policy_file": policy_file})
    _, member = new_project(server)
    first, second = create_image(member, name="kept"), create_image(member, name="gone")
    resp = member.delete(f"/v2/images/{first['id']}")
    assert resp.status_code == 403
    assert "You are not authorized to complete delete_image action." in resp.text
    assert member.get(f"/v2/images/{first['id']}").json()["status"] == "queued"
    assert server.session().delete(f"/v2/images/{first['id']}").status_code == 204  # the admin may

    # Back to the default (the owner's members may delete) once the file says so: it is re-read
    # within a few seconds, without a restart.
    policy_file.write_text('"delete_image": "role:admin or (role:member and project_id:%(owner)s)"\n')
    deadline = time.monotonic() + 20
    while (status := member.delete(f"/v2/images/{second['id']}").status_code) == 403 \
            and time.monotonic() < deadline:
        time.sleep(0.5)
    assert status == 204
