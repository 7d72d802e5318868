"""The user story of the `openstack` command (python-openstackclient), unmodified, against Spyglass
on its embedded defaults: `--os-auth-type none --os-endpoint URL`, as docs/clients.md tells users."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .support import BIN, Cli, cli_env, qcow2_disk, unique

NOAUTH_PROJECT = "admin"


@pytest.fixture(scope="module")
def osc(spyglass_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    home = tmp_path_factory.mktemp("osc-home")
    return Cli([str(BIN / "openstack"), "--os-auth-type", "none", "--os-endpoint", spyglass_server.url],
               cli_env(home))


@pytest.fixture(scope="module")
def osc_member(member_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    home = tmp_path_factory.mktemp("osc-member-home")
    return Cli([str(BIN / "openstack"), "--os-auth-type", "none", "--os-endpoint", member_server.url],
               cli_env(home))


def create(osc: Cli, tmp_path: Path, name: str, *options: str) -> dict[str, Any]:
    disk = qcow2_disk()
    image = osc.json("image", "create", "--file", disk.write(tmp_path), "--disk-format", "qcow2",
                     "--container-format", "bare", *options, name)
    image["_disk"] = disk
    return image


def ids(rows: list[dict[str, Any]]) -> list[str]:
    return [row["ID"] for row in rows]


def test_create_show_save_delete(osc: Cli, spyglass_server: Any, tmp_path: Path) -> None:
    name = unique("osc-create")
    disk = qcow2_disk()
    image = osc.json("image", "create", "--file", disk.write(tmp_path), "--disk-format", "qcow2",
                     "--container-format", "bare", "--property", "os_distro=ubuntu", name)

    assert image["name"] == name
    assert image["status"] == "active"
    assert image["disk_format"] == "qcow2"
    assert image["container_format"] == "bare"
    assert image["size"] == len(disk.data)
    assert image["checksum"] == disk.md5
    assert image["owner"] == NOAUTH_PROJECT
    assert image["visibility"] == "shared"
    assert image["protected"] is False
    assert image["properties"]["os_distro"] == "ubuntu"
    assert image["properties"]["os_hash_algo"] == "sha512"
    assert image["properties"]["os_hash_value"] == disk.sha512

    # The same image through the plain API: properties are top-level keys, and the server
    # read the virtual size out of the qcow2 header it inspected.
    body = spyglass_server.session().get(f"/v2/images/{image['id']}").json()
    assert body["os_distro"] == "ubuntu"
    assert body["virtual_size"] == disk.virtual_size
    assert body["os_hash_value"] == disk.sha512
    assert body["file"] == f"/v2/images/{image['id']}/file"

    assert osc.json("image", "show", name)["id"] == image["id"]
    shown = osc.json("image", "show", image["id"])
    assert shown["name"] == name
    assert shown["checksum"] == disk.md5

    saved = tmp_path / "saved.qcow2"
    osc.run("image", "save", "--file", saved, image["id"])
    assert saved.read_bytes() == disk.data

    osc.run("image", "delete", image["id"])
    assert spyglass_server.session().get(f"/v2/images/{image['id']}").status_code == 404
    osc.fails("image", "show", image["id"])


def test_create_refuses_data_of_another_format(osc: Cli, spyglass_server: Any, tmp_path: Path) -> None:
    name = unique("osc-notqcow2")
    raw = tmp_path / "raw.img"
    raw.write_bytes(b"\x5a" * 65536)
    proc = osc.fails("image", "create", "--file", raw, "--disk-format", "qcow2",
                     "--container-format", "bare", name)
    assert "400" in proc.stderr or "Bad Request" in proc.stderr, proc.stderr

    # openstacksdk deletes the record it created when the upload fails; the server must let it,
    # leaving nothing behind.
    assert spyglass_server.session().get("/v2/images", params={"name": name}).json()["images"] == []


def test_list_filters_sort_and_pages(osc: Cli, spyglass_server: Any, tmp_path: Path) -> None:
    tag = unique("osc-list")
    images = {
        visibility: create(osc, tmp_path, f"{tag}-{n}-{visibility}", f"--{visibility}", "--tag", tag,
                           "--property", f"os_distro={'ubuntu' if n % 2 else 'fedora'}")
        for n, visibility in enumerate(("public", "private", "shared", "community"))
    }
    by_id = {image["id"]: image for image in images.values()}

    def listed(*options: str) -> list[dict[str, Any]]:
        return osc.json("image", "list", "--tag", tag, *options)

    for visibility, image in images.items():
        assert ids(listed(f"--{visibility}")) == [image["id"]], visibility

    everything = ids(listed())
    assert {images[v]["id"] for v in ("public", "private", "shared")} <= set(everything)
    assert len(everything) == len(set(everything))

    assert ids(listed("--name", images["private"]["name"])) == [images["private"]["id"]]
    assert set(ids(listed("--property", "os_distro=ubuntu"))) == {
        images["private"]["id"], images["community"]["id"]} & set(everything)
    assert ids(listed("--tag", unique("no-such-tag"))) == []

    names = [row["Name"] for row in listed("--sort", "name:desc")]
    assert names == sorted(names, reverse=True) and len(names) == len(everything)

    long = {row["ID"]: row for row in listed("--long")}
    row = long[images["public"]["id"]]
    disk = images["public"]["_disk"]
    assert row["Disk Format"] == "qcow2"
    assert row["Container Format"] == "bare"
    assert row["Size"] == len(disk.data)
    assert row["Checksum"] == disk.md5
    assert row["Status"] == "active"
    assert row["Visibility"] == "public"
    assert row["Protected"] is False
    assert row["Project"] == NOAUTH_PROJECT
    assert row["Hash Algorithm"] == "sha512"
    assert row["Hash Value"] == disk.sha512
    assert tag in row["Tags"]

    # --limit and --marker are the server's: walk the whole listing one image at a time.
    assert len(listed("--limit", "1")) == 1
    walked: list[str] = []
    page = listed("--limit", "1")
    while page:
        assert len(page) == 1
        walked += ids(page)
        page = listed("--limit", "1", "--marker", walked[-1])
    assert walked == everything_in_server_order(spyglass_server, tag)
    assert set(walked) == set(everything) and set(walked) <= set(by_id)

    # Hidden images leave the default listing and appear with --hidden.
    hidden = images["private"]["id"]
    osc.run("image", "set", "--hidden", hidden)
    assert hidden not in ids(listed())
    assert ids(listed("--hidden")) == [hidden]
    osc.run("image", "set", "--unhidden", hidden)
    assert hidden in ids(listed())


def everything_in_server_order(spyglass_server: Any, tag: str) -> list[str]:
    body = spyglass_server.session().get("/v2/images", params={"tag": tag, "limit": 100}).json()
    return [image["id"] for image in body["images"]]


def test_community_images_are_listed_only_on_request(osc: Cli, spyglass_server: Any, tmp_path: Path) -> None:
    tag = unique("osc-community")
    image = create(osc, tmp_path, unique("osc-community"), "--community", "--tag", tag)
    stranger = spyglass_server.session(project_id=unique("stranger"))
    assert stranger.get("/v2/images", params={"tag": tag}).json()["images"] == []
    found = stranger.get("/v2/images", params={"tag": tag, "visibility": "community"}).json()["images"]
    assert [i["id"] for i in found] == [image["id"]]


def test_set_and_unset(osc: Cli, spyglass_server: Any, tmp_path: Path) -> None:
    image = create(osc, tmp_path, unique("osc-set"), "--tag", "keep")
    image_id = image["id"]
    new_name = unique("osc-renamed")

    osc.run("image", "set", "--name", new_name, "--property", "a=1", "--property", "b=two",
            "--tag", "x", "--tag", "y", "--min-disk", "2", "--min-ram", "64", "--protected",
            "--public", image_id)
    shown = osc.json("image", "show", image_id)
    assert shown["name"] == new_name
    assert shown["properties"]["a"] == "1"
    assert shown["properties"]["b"] == "two"
    assert sorted(shown["tags"]) == ["keep", "x", "y"]
    assert shown["min_disk"] == 2
    assert shown["min_ram"] == 64
    assert shown["protected"] is True
    assert shown["visibility"] == "public"

    http = spyglass_server.session()
    body = http.get(f"/v2/images/{image_id}").json()
    assert (body["name"], body["a"], body["b"], body["min_disk"], body["min_ram"], body["protected"],
            body["visibility"]) == (new_name, "1", "two", 2, 64, True, "public")
    assert sorted(body["tags"]) == ["keep", "x", "y"]

    # A protected image cannot be deleted.
    proc = osc.fails("image", "delete", image_id)
    assert "protected" in (proc.stdout + proc.stderr).lower() or "403" in proc.stderr
    assert http.get(f"/v2/images/{image_id}").status_code == 200

    osc.run("image", "unset", "--property", "a", "--tag", "x", image_id)
    shown = osc.json("image", "show", image_id)
    assert "a" not in shown["properties"]
    assert shown["properties"]["b"] == "two"
    assert sorted(shown["tags"]) == ["keep", "y"]
    assert "a" not in http.get(f"/v2/images/{image_id}").json()

    for visibility in ("private", "community", "shared"):
        osc.run("image", "set", f"--{visibility}", image_id)
        assert osc.json("image", "show", image_id)["visibility"] == visibility

    osc.run("image", "set", "--unprotected", image_id)
    assert osc.json("image", "show", image_id)["protected"] is False
    osc.run("image", "delete", image_id)
    assert http.get(f"/v2/images/{image_id}").status_code == 404


def test_deactivate_and_reactivate(osc: Cli, tmp_path: Path) -> None:
    image = create(osc, tmp_path, unique("osc-deactivate"))
    osc.run("image", "set", "--deactivate", image["id"])
    assert osc.json("image", "show", image["id"])["status"] == "deactivated"
    osc.run("image", "set", "--activate", image["id"])
    assert osc.json("image", "show", image["id"])["status"] == "active"
    saved = tmp_path / "saved.qcow2"
    osc.run("image", "save", "--file", saved, image["id"])
    assert saved.read_bytes() == image["_disk"].data


def test_share_with_a_project(osc: Cli, osc_member: Cli, member_server: Any, spyglass_server: Any,
                              tmp_path: Path) -> None:
    member = member_server.project_id
    image = create(osc, tmp_path, unique("osc-shared"), "--shared")
    image_id = image["id"]

    added = osc.json("image", "add", "project", image_id, member)
    assert (added["image_id"], added["member_id"], added["status"]) == (image_id, member, "pending")
    assert osc.json("image", "member", "list", image_id) == [
        {"Image ID": image_id, "Member ID": member, "Status": "pending"}]

    # The member project, through its own `openstack` command: it sees the pending image on
    # request only, accepts it, and from then on finds it in its default listing.
    assert image_id not in ids(osc_member.json("image", "list"))
    assert image_id in ids(osc_member.json("image", "list", "--member-status", "pending"))
    assert osc_member.json("image", "show", image_id)["name"] == image["name"]
    osc_member.run("image", "set", "--project", member, "--accept", image_id)
    assert image_id in ids(osc_member.json("image", "list"))
    assert image_id in ids(osc_member.json("image", "list", "--shared"))
    assert osc.json("image", "member", "list", image_id) == [
        {"Image ID": image_id, "Member ID": member, "Status": "accepted"}]

    saved = tmp_path / "member-copy.qcow2"
    osc_member.run("image", "save", "--file", saved, image_id)
    assert saved.read_bytes() == image["_disk"].data

    # The member may not change what it does not own.
    osc_member.fails("image", "set", "--name", "stolen", image_id)
    osc_member.fails("image", "delete", image_id)

    osc_member.run("image", "set", "--project", member, "--reject", image_id)
    assert image_id not in ids(osc_member.json("image", "list"))
    assert osc.json("image", "member", "list", image_id)[0]["Status"] == "rejected"

    osc.run("image", "remove", "project", image_id, member)
    assert osc.json("image", "member", "list", image_id) == []
    osc_member.fails("image", "show", image_id)
    assert spyglass_server.session(project_id=member).get(f"/v2/images/{image_id}").status_code == 404


def test_admin_sets_a_member_status_on_its_behalf(osc: Cli, spyglass_server: Any, tmp_path: Path) -> None:
    # What a single-identity deployment does: the noauth admin names the member with --project.
    member = unique("project")
    image = create(osc, tmp_path, unique("osc-accept"))
    osc.json("image", "add", "project", image["id"], member)
    osc.run("image", "set", "--project", member, "--accept", image["id"])
    assert osc.json("image", "member", "list", image["id"])[0]["Status"] == "accepted"

    as_member = spyglass_server.session(project_id=member)
    listed = as_member.get("/v2/images").json()["images"]
    assert image["id"] in [i["id"] for i in listed]
    # Ownership did not move: --project with --accept only names the member.
    assert osc.json("image", "show", image["id"])["owner"] == NOAUTH_PROJECT
