"""The user story through openstacksdk, unmodified, against Spyglass on its embedded defaults:
`openstack.connect(auth_type="none", auth={"endpoint": URL})`, and a keystoneauth session carrying
keystonemiddleware's identity headers to act as another project."""
from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import openstack
import pytest
from keystoneauth1 import noauth
from keystoneauth1 import session as ksa_session
from openstack import exceptions
from openstack.connection import Connection

from .support import MEMBER_ROLES, qcow2_disk, unique

NOAUTH_PROJECT = "admin"


@pytest.fixture(scope="module")
def conn(spyglass_server: Any) -> Connection:
    return openstack.connect(auth_type="none", auth={"endpoint": spyglass_server.url},
                             load_yaml_config=False, load_envvars=False)


def connect_as(url: str, project_id: str, roles: str = MEMBER_ROLES) -> Connection:
    headers = {"X-Project-Id": project_id, "X-User-Id": f"user-of-{project_id}", "X-Roles": roles}
    session = ksa_session.Session(auth=noauth.NoAuth(), additional_headers=headers)
    return Connection(session=session, image_endpoint_override=url)


def create(conn: Connection, name: str, **kwargs: Any) -> tuple[Any, Any]:
    disk = qcow2_disk()
    created = conn.image.create_image(name, data=disk.data, disk_format="qcow2", container_format="bare",
                                      allow_duplicates=True, **kwargs)
    return conn.image.get_image(created.id), disk


def test_create_show_download_delete(conn: Connection, spyglass_server: Any, tmp_path: Path) -> None:
    name = unique("sdk-create")
    disk = qcow2_disk()
    path = disk.write(tmp_path)
    # Without allow_duplicates the SDK first looks for an image of that name (by ID, by name,
    # and among hidden images), and with validate_checksum it compares the server's checksum.
    created = conn.image.create_image(name, filename=str(path), disk_format="qcow2", container_format="bare",
                                      os_distro="ubuntu", validate_checksum=True)

    image = conn.image.get_image(created.id)
    assert image.name == name
    assert image.status == "active"
    assert image.disk_format == "qcow2"
    assert image.container_format == "bare"
    assert image.size == len(disk.data)
    assert image.virtual_size == disk.virtual_size
    assert image.checksum == disk.md5
    assert image.hash_algo == "sha512"
    assert image.hash_value == disk.sha512
    assert image.owner_id == NOAUTH_PROJECT
    assert image.visibility == "shared"
    assert image.is_protected is False
    assert image.is_hidden is False
    assert image.os_distro == "ubuntu"
    assert image.properties["owner_specified.openstack.md5"] == disk.md5

    assert conn.image.find_image(name).id == image.id
    assert conn.image.find_image(image.id).id == image.id
    assert conn.image.find_image(unique("sdk-missing")) is None

    # Downloads are checked by the SDK against os_hash_value; compare the bytes as well.
    assert conn.image.download_image(image.id).content == disk.data
    out = tmp_path / "out.qcow2"
    conn.image.download_image(image.id, output=str(out))
    assert out.read_bytes() == disk.data
    response = conn.image.download_image(image.id, stream=True)
    assert b"".join(response.iter_content(65536)) == disk.data

    body = spyglass_server.session().get(f"/v2/images/{image.id}").json()
    assert (body["os_distro"], body["checksum"], body["size"]) == ("ubuntu", disk.md5, len(disk.data))

    conn.image.delete_image(image.id)
    with pytest.raises(exceptions.NotFoundException):
        conn.image.get_image(image.id)
    assert conn.image.find_image(name) is None


def test_images_filters_sort_and_pages(conn: Connection, spyglass_server: Any) -> None:
    tag = unique("sdk-list")
    made = {}
    for n, visibility in enumerate(("public", "private", "shared", "community")):
        image, _ = create(conn, f"{tag}-{n}-{visibility}", visibility=visibility, tags=[tag])
        made[visibility] = image
    by_name = sorted(made.values(), key=lambda i: i.name)

    def listed(**filters: Any) -> list[str]:
        return [i.id for i in conn.image.images(tag=[tag], **filters)]

    for visibility, image in made.items():
        assert listed(visibility=visibility) == [image.id], visibility
    assert set(listed()) >= {made[v].id for v in ("public", "private", "shared")}

    assert listed(name=made["private"].name) == [made["private"].id]
    assert list(conn.image.images(tag=[tag, unique("absent")])) == []
    assert set(listed(status="active")) == set(listed())
    assert listed(status="queued") == []
    assert set(listed(owner=NOAUTH_PROJECT)) == set(listed())
    assert listed(owner=unique("nobody")) == []
    sizes = sorted(i.size for i in made.values())
    assert set(listed(size_min=sizes[-1])) == {i.id for i in made.values() if i.size == sizes[-1]}
    assert set(listed(size_max=sizes[0])) == {i.id for i in made.values() if i.size == sizes[0]}

    every = [made[v] for v in ("public", "private", "shared", "community") if made[v].id in listed()]
    expected = [i.id for i in sorted(every, key=lambda i: i.name)]
    assert listed(sort="name:asc") == expected
    assert listed(sort="name:desc") == expected[::-1]
    assert listed(sort_key="name", sort_dir="desc") == expected[::-1]
    assert listed(sort="disk_format:asc,name:desc") == expected[::-1]

    # limit and marker are the server's: page through by two.
    first = [i.id for i in conn.image.images(tag=[tag], sort="name:asc", limit=2, paginated=False)]
    assert first == expected[:2]
    rest = [i.id for i in conn.image.images(tag=[tag], sort="name:asc", limit=2, marker=first[-1],
                                            paginated=False)]
    assert rest == expected[2:4]
    # With automatic paging the SDK follows the server's next links to the end.
    assert [i.id for i in conn.image.images(tag=[tag], sort="name:asc", limit=1)] == expected

    oldest = min(datetime.datetime.fromisoformat(i.created_at.replace("Z", "+00:00")) for i in by_name)
    since = oldest.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert set(listed(created_at=f"gte:{since}")) == set(listed())
    assert listed(created_at="lt:2000-01-01T00:00:00Z") == []

    hidden = made["private"]
    conn.image.update_image(hidden, is_hidden=True)
    assert hidden.id not in listed()
    assert listed(is_hidden=True) == [hidden.id]

    protected = made["shared"]
    conn.image.update_image(protected, is_protected=True)
    assert listed(protected=True) == [protected.id]
    conn.image.update_image(protected, is_protected=False)


def test_update_tags_and_protection(conn: Connection, spyglass_server: Any) -> None:
    image, _ = create(conn, unique("sdk-update"), tags=["keep"], foo="1", bar="2")
    new_name = unique("sdk-renamed")

    # By ID, as the openstack command does: with an Image object the SDK would diff against it
    # and also remove every custom property not passed again.
    conn.image.update_image(image.id, name=new_name, min_ram=128, min_disk=3, is_protected=True,
                            visibility="public", newprop="value", tags=["keep", "added"])
    image = conn.image.get_image(image.id)
    assert image.name == new_name
    assert (image.min_ram, image.min_disk) == (128, 3)
    assert image.is_protected is True
    assert image.visibility == "public"
    assert image.properties["newprop"] == "value"
    assert sorted(image.tags) == ["added", "keep"]

    conn.image.add_tag(image, "t9")
    assert "t9" in conn.image.get_image(image.id).tags
    conn.image.remove_tag(image, "t9")
    assert "t9" not in conn.image.get_image(image.id).tags

    # Removing a property: the SDK sends a JSON-patch "remove" for a key left out.
    image = conn.image.get_image(image.id)
    properties = dict(image.properties)
    del properties["foo"]
    conn.image.update_image(image, properties=properties)
    body = spyglass_server.session().get(f"/v2/images/{image.id}").json()
    assert "foo" not in body
    assert body["bar"] == "2"
    assert body["newprop"] == "value"

    with pytest.raises(exceptions.HttpException) as refused:
        conn.image.delete_image(image.id)
    assert refused.value.status_code == 403
    assert conn.image.get_image(image.id).status == "active"

    conn.image.update_image(image, is_protected=False)
    conn.image.delete_image(image.id)
    with pytest.raises(exceptions.NotFoundException):
        conn.image.get_image(image.id)


def test_share_with_a_project(conn: Connection, spyglass_server: Any) -> None:
    member_id = unique("sdk-member")
    member = connect_as(spyglass_server.url, member_id)
    stranger = connect_as(spyglass_server.url, unique("sdk-stranger"))
    image, disk = create(conn, unique("sdk-shared"), visibility="shared")

    added = conn.image.add_member(image, member_id=member_id)
    assert (added.member_id, added.status) == (member_id, "pending")
    assert [(m.member_id, m.status) for m in conn.image.members(image)] == [(member_id, "pending")]

    # The member project, with its own identity.
    assert member.image.get_image(image.id).name == image.name
    assert image.id not in [i.id for i in member.image.images()]
    assert image.id in [i.id for i in member.image.images(member_status="pending")]
    accepted = member.image.update_member(member_id, image, status="accepted")
    assert accepted.status == "accepted"
    assert conn.image.get_member(member_id, image).status == "accepted"
    assert image.id in [i.id for i in member.image.images()]
    assert member.image.download_image(image.id).content == disk.data

    with pytest.raises(exceptions.HttpException) as refused:
        member.image.update_image(image.id, name="stolen")
    assert refused.value.status_code in (403, 404)
    assert conn.image.get_image(image.id).name == image.name

    # Anyone else sees nothing.
    with pytest.raises(exceptions.NotFoundException):
        stranger.image.get_image(image.id)
    assert image.id not in [i.id for i in stranger.image.images(visibility="shared")]

    member.image.update_member(member_id, image, status="rejected")
    assert image.id not in [i.id for i in member.image.images()]
    assert conn.image.get_member(member_id, image).status == "rejected"

    conn.image.remove_member(member_id, image)
    assert list(conn.image.members(image)) == []
    with pytest.raises(exceptions.NotFoundException):
        member.image.get_image(image.id)


def test_deactivate_and_reactivate(conn: Connection, spyglass_server: Any) -> None:
    member_id = unique("sdk-member")
    member = connect_as(spyglass_server.url, member_id)
    image, disk = create(conn, unique("sdk-deactivate"))
    conn.image.add_member(image, member_id=member_id)
    member.image.update_member(member_id, image, status="accepted")

    conn.image.deactivate_image(image.id)
    assert conn.image.get_image(image.id).status == "deactivated"
    # Only admins may read a deactivated image's data. The SDK does not raise on the error
    # status of a download; it fails the hash check of the error body instead.
    with pytest.raises(exceptions.SDKException):
        member.image.download_image(image.id)
    as_member = spyglass_server.session(project_id=member_id)
    assert as_member.get(f"/v2/images/{image.id}/file").status_code == 403

    conn.image.reactivate_image(image.id)
    assert conn.image.get_image(image.id).status == "active"
    assert member.image.download_image(image.id).content == disk.data
