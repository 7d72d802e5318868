"""The user story through python-glanceclient, unmodified, against Spyglass on its embedded
defaults: the `glance` command (`--os-image-url URL --os-auth-token ANY`) and the library
(`glanceclient.Client(endpoint=URL + "/v2", token=...)`, or a keystoneauth session carrying
keystonemiddleware's identity headers to act as another project)."""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import glanceclient
import pytest
from glanceclient import exc
from keystoneauth1 import noauth
from keystoneauth1 import session as ksa_session

from .support import (BIN, MEMBER_ROLES, Cli, cli_env, parse_properties, parse_table, qcow2_disk,
                      unique)

NOAUTH_PROJECT = "admin"


def glance_cli(url: str, home: Path) -> Cli:
    cli = Cli([str(BIN / "glance"), "--os-image-url", url, "--os-auth-token", "unused"], cli_env(home))
    # The first run caches the server's image schema, from which later runs build their options.
    cli.run("--get-schema", "image-list", "--limit", "1")
    return cli


@pytest.fixture(scope="module")
def glance_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("glance-home")


@pytest.fixture(scope="module")
def glance(spyglass_server: Any, glance_home: Path) -> Cli:
    return glance_cli(spyglass_server.url, glance_home)


@pytest.fixture(scope="module")
def glance_member(member_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    return glance_cli(member_server.url, tmp_path_factory.mktemp("glance-member-home"))


@pytest.fixture(scope="module")
def client(spyglass_server: Any) -> Any:
    # The version goes in the URL: passing it as an argument is deprecated.
    return glanceclient.Client(endpoint=f"{spyglass_server.url}/v2", token="unused")


def client_as(url: str, project_id: str, roles: str = MEMBER_ROLES) -> Any:
    # Not identity_headers=: glanceclient percent-encodes header values, turning the comma
    # in X-Roles into %2C. Session headers go out as they are.
    headers = {"X-Project-Id": project_id, "X-User-Id": f"user-of-{project_id}", "X-Roles": roles}
    session = ksa_session.Session(auth=noauth.NoAuth(), additional_headers=headers)
    return glanceclient.Client("2", session=session, endpoint_override=url)


def create(glance: Cli, tmp_path: Path, name: str, *options: str) -> dict[str, Any]:
    disk = qcow2_disk()
    shown: dict[str, Any] = parse_properties(glance.run(
        "image-create", "--file", disk.write(tmp_path), "--disk-format", "qcow2",
        "--container-format", "bare", "--name", name, *options).stdout)
    shown["_disk"] = disk
    return shown


def list_ids(glance: Cli, *options: str) -> list[str]:
    return [row["ID"] for row in parse_table(glance.run("image-list", *options).stdout)]


def test_schema_cached_from_the_server(glance: Cli, glance_home: Path, spyglass_server: Any) -> None:
    cached = json.loads((glance_home / ".glanceclient" / "image_schema.json").read_text())
    assert cached == spyglass_server.session().get("/v2/schemas/image").json()
    assert cached["additionalProperties"] == {"type": "string"}
    # Options the command builds from the schema.
    help_text = glance.run("help", "image-create").stdout
    for option in ("--min-disk", "--min-ram", "--protected", "--visibility", "--tags", "--os-distro",
                   "--disk-format", "--container-format"):
        assert option in help_text, option


def test_create_show_download_delete(glance: Cli, spyglass_server: Any, tmp_path: Path) -> None:
    name = unique("glance-create")
    image = create(glance, tmp_path, name, "--property", "os_distro=ubuntu")
    disk = image["_disk"]
    assert image["name"] == name
    assert image["status"] == "active"
    assert image["disk_format"] == "qcow2"
    assert image["container_format"] == "bare"
    assert image["size"] == str(len(disk.data))
    assert image["virtual_size"] == str(disk.virtual_size)
    assert image["checksum"] == disk.md5
    assert image["os_hash_algo"] == "sha512"
    assert image["os_hash_value"] == disk.sha512
    assert image["os_distro"] == "ubuntu"
    assert image["owner"] == NOAUTH_PROJECT
    assert image["visibility"] == "shared"
    assert image["protected"] == "False"

    shown = parse_properties(glance.run("image-show", image["id"]).stdout)
    assert (shown["id"], shown["name"], shown["os_distro"]) == (image["id"], name, "ubuntu")

    out = tmp_path / "out.qcow2"
    glance.run("image-download", "--file", out, image["id"])
    assert out.read_bytes() == disk.data

    glance.run("image-delete", image["id"])
    assert spyglass_server.session().get(f"/v2/images/{image['id']}").status_code == 404
    glance.fails("image-show", image["id"])


def test_rejected_upload_leaves_the_image_queued(glance: Cli, spyglass_server: Any, tmp_path: Path) -> None:
    name = unique("glance-notqcow2")
    raw = tmp_path / "raw.img"
    raw.write_bytes(b"\x5a" * 65536)
    proc = glance.fails("image-create", "--file", raw, "--disk-format", "qcow2", "--container-format", "bare",
                        "--name", name)
    assert "400" in proc.stderr or "Bad Request" in proc.stderr, proc.stderr

    http = spyglass_server.session()
    [image] = http.get("/v2/images", params={"name": name}).json()["images"]
    assert (image["status"], image["size"], image["checksum"]) == ("queued", None, None)
    assert http.get(f"/v2/images/{image['id']}/file").status_code == 204

    # The same record takes a proper qcow2 afterwards.
    disk = qcow2_disk()
    glance.run("image-upload", "--file", disk.write(tmp_path), "--size", len(disk.data), image["id"])
    shown = parse_properties(glance.run("image-show", image["id"]).stdout)
    assert (shown["status"], shown["checksum"]) == ("active", disk.md5)


def test_list_filters_sort_and_pages(glance: Cli, tmp_path: Path) -> None:
    tag = unique("glance-list")
    made = {
        visibility: create(glance, tmp_path, f"{tag}-{n}-{visibility}", "--visibility", visibility,
                           "--tags", tag, "--property", f"os_distro={'ubuntu' if n % 2 else 'fedora'}")
        for n, visibility in enumerate(("public", "private", "shared", "community"))
    }

    def listed(*options: str) -> list[str]:
        return list_ids(glance, "--tag", tag, *options)

    for visibility, image in made.items():
        assert listed("--visibility", visibility) == [image["id"]], visibility
    everything = listed()
    assert {made[v]["id"] for v in ("public", "private", "shared")} <= set(everything)
    by_name = sorted((image for image in made.values() if image["id"] in everything), key=lambda i: i["name"])
    expected = [image["id"] for image in by_name]
    assert everything == expected  # the command's default order: name ascending

    assert set(listed("--property-filter", "os_distro=ubuntu")) == {
        made["private"]["id"], made["community"]["id"]} & set(everything)
    assert listed("--owner", NOAUTH_PROJECT) == expected
    assert listed("--owner", unique("nobody")) == []
    public = made["public"]
    assert listed("--checksum", public["checksum"]) == [public["id"]]
    assert listed("--hash", public["os_hash_value"]) == [public["id"]]
    assert listed("--tag", unique("absent")) == []

    assert listed("--sort-key", "name", "--sort-dir", "desc") == expected[::-1]
    assert listed("--sort", "name:desc") == expected[::-1]
    assert listed("--sort", "disk_format:asc,name:desc") == expected[::-1]
    assert listed("--sort-key", "disk_format", "--sort-key", "name", "--sort-dir", "asc",
                  "--sort-dir", "desc") == expected[::-1]
    assert listed("--limit", "2") == expected[:2]
    # One image per request: the command follows each `next` link as the server wrote it, so
    # the links must keep the tag filter and the sort order.
    assert listed("--page-size", "1") == expected

    glance.run("image-update", "--hidden", "True", made["private"]["id"])
    assert made["private"]["id"] not in listed()
    assert listed("--hidden", "True") == [made["private"]["id"]]


def test_update_tags_and_protection(glance: Cli, spyglass_server: Any, tmp_path: Path) -> None:
    image = create(glance, tmp_path, unique("glance-update"), "--tags", "keep")
    image_id = image["id"]
    new_name = unique("glance-renamed")

    updated = parse_properties(glance.run(
        "image-update", "--name", new_name, "--min-ram", "256", "--min-disk", "4", "--protected", "True",
        "--visibility", "public", "--os-distro", "debian", "--property", "foo=bar", "--property", "baz=qux",
        image_id).stdout)
    assert updated["name"] == new_name
    assert (updated["min_ram"], updated["min_disk"]) == ("256", "4")
    assert updated["protected"] == "True"
    assert updated["visibility"] == "public"
    assert (updated["os_distro"], updated["foo"], updated["baz"]) == ("debian", "bar", "qux")

    glance.run("image-update", "--os-distro", "fedora", image_id)  # now a replace: the key exists
    updated = parse_properties(glance.run("image-update", "--remove-property", "foo", image_id).stdout)
    assert "foo" not in updated
    assert (updated["os_distro"], updated["baz"]) == ("fedora", "qux")

    glance.run("image-tag-update", image_id, "added")
    http = spyglass_server.session()
    assert sorted(http.get(f"/v2/images/{image_id}").json()["tags"]) == ["added", "keep"]
    glance.run("image-tag-delete", image_id, "keep")
    body = http.get(f"/v2/images/{image_id}").json()
    assert body["tags"] == ["added"]
    assert (body["name"], body["min_ram"], body["min_disk"], body["protected"]) == (new_name, 256, 4, True)

    glance.fails("image-delete", image_id)
    assert http.get(f"/v2/images/{image_id}").status_code == 200
    glance.run("image-update", "--protected", "False", image_id)
    glance.run("image-delete", image_id)
    assert http.get(f"/v2/images/{image_id}").status_code == 404


def test_share_with_a_project(glance: Cli, glance_member: Cli, member_server: Any, spyglass_server: Any,
                              tmp_path: Path) -> None:
    member = member_server.project_id
    image = create(glance, tmp_path, unique("glance-shared"), "--visibility", "shared")
    image_id = image["id"]

    rows = parse_table(glance.run("member-create", image_id, member).stdout)
    assert [(r["Image ID"], r["Member ID"], r["Status"]) for r in rows] == [(image_id, member, "pending")]

    # The member project, through its own `glance` command.
    assert image_id not in list_ids(glance_member)
    assert image_id in list_ids(glance_member, "--member-status", "pending")
    rows = parse_table(glance_member.run("member-update", image_id, member, "accepted").stdout)
    assert [r["Status"] for r in rows] == ["accepted"]
    assert image_id in list_ids(glance_member)
    out = tmp_path / "member-copy.qcow2"
    glance_member.run("image-download", "--file", out, image_id)
    assert out.read_bytes() == image["_disk"].data
    glance_member.fails("image-update", "--name", "stolen", image_id)

    rows = parse_table(glance.run("member-list", "--image-id", image_id).stdout)
    assert [(r["Member ID"], r["Status"]) for r in rows] == [(member, "accepted")]

    glance.run("member-delete", image_id, member)
    assert parse_table(glance.run("member-list", "--image-id", image_id).stdout) == []
    glance_member.fails("image-show", image_id)


def test_deactivate_and_reactivate(glance: Cli, tmp_path: Path) -> None:
    image = create(glance, tmp_path, unique("glance-deactivate"))
    glance.run("image-deactivate", image["id"])
    assert parse_properties(glance.run("image-show", image["id"]).stdout)["status"] == "deactivated"
    glance.run("image-reactivate", image["id"])
    assert parse_properties(glance.run("image-show", image["id"]).stdout)["status"] == "active"


def test_library(client: Any, spyglass_server: Any) -> None:
    tag = unique("glance-lib")
    disk = qcow2_disk()
    image = client.images.create(name=unique("glance-lib"), disk_format="qcow2", container_format="bare",
                                 os_distro="ubuntu", tags=[tag], foo="bar")
    assert (image["status"], image["os_distro"], image["tags"]) == ("queued", "ubuntu", [tag])
    assert client.images.data(image["id"]).__wrapped__ is None  # no data yet: the server answers 204

    client.images.upload(image["id"], io.BytesIO(disk.data))  # sent chunked, without a length
    image = client.images.get(image["id"])
    assert (image["status"], image["size"], image["checksum"], image["os_hash_value"]) == (
        "active", len(disk.data), disk.md5, disk.sha512)
    assert image["virtual_size"] == disk.virtual_size
    # Uploading to an image that already has data conflicts. The server answers before reading
    # the chunked body; the client's next request reuses the connection, so the server must either
    # read the rest of the body or say it closes the connection.
    with pytest.raises(exc.HTTPConflict):
        client.images.upload(image["id"], io.BytesIO(disk.data))

    second = client.images.create(name=unique("glance-lib"), disk_format="raw", container_format="bare",
                                  tags=[tag])
    client.images.upload(second["id"], io.BytesIO(b"\0" * 4096), image_size=4096)

    listed = [i["id"] for i in client.images.list(filters={"tag": [tag]}, sort="name:asc")]
    assert listed == [i["id"] for i in sorted((image, second), key=lambda i: i["name"])]
    raw_only = client.images.list(filters={"tag": [tag], "disk_format": "raw"})
    assert [i["id"] for i in raw_only] == [second["id"]]
    assert len(list(client.images.list(filters={"tag": [tag]}, page_size=1))) == 2
    assert len(list(client.images.list(filters={"tag": [tag]}, limit=1))) == 1

    image = client.images.update(image["id"], remove_props=["foo"], name="renamed", min_ram=64, color="blue")
    assert (image["name"], image["min_ram"], image["color"]) == ("renamed", 64, "blue")
    assert "foo" not in image
    client.image_tags.update(image["id"], "extra")
    client.image_tags.delete(image["id"], tag)
    assert client.images.get(image["id"])["tags"] == ["extra"]

    assert b"".join(client.images.data(image["id"])) == disk.data

    member_id = unique("glance-member")
    member = client_as(spyglass_server.url, member_id)
    assert client.image_members.create(image["id"], member_id)["status"] == "pending"
    member.image_members.update(image["id"], member_id, "accepted")
    assert [m["status"] for m in client.image_members.list(image["id"])] == ["accepted"]
    assert image["id"] in [i["id"] for i in member.images.list()]
    assert b"".join(member.images.data(image["id"])) == disk.data
    with pytest.raises(exc.HTTPForbidden):
        member.images.delete(image["id"])

    client.images.deactivate(image["id"])
    assert client.images.get(image["id"])["status"] == "deactivated"
    with pytest.raises(exc.HTTPForbidden):
        member.images.data(image["id"])
    client.images.reactivate(image["id"])
    assert client.images.get(image["id"])["status"] == "active"

    for image_id in (image["id"], second["id"]):
        client.images.delete(image_id)
        with pytest.raises(exc.HTTPNotFound):
            client.images.get(image_id)
