"""Create, show, update, upload, download and delete images; the schemas that describe them; version
discovery. Documents are compared key for key with what Glance 33 returns."""
from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests

from imagecheck import (PATCH_20, PATCH_21, assert_error, assert_unchanged, client, create_image,
                        db_rows, image_state, stored_files, unique, upload)

CORE_KEYS = {"id", "name", "status", "visibility", "protected", "os_hidden", "checksum", "os_hash_algo",
             "os_hash_value", "owner", "size", "virtual_size", "min_ram", "min_disk", "disk_format",
             "container_format", "created_at", "updated_at", "tags", "self", "file", "schema"}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture
def api(spyglass_server):
    return client(spyglass_server)


def patch(session: requests.Session, image_id: str, ops: object, media_type: str = PATCH_21) -> requests.Response:
    return session.patch(f"/v2/images/{image_id}", data=json.dumps(ops), headers={"Content-Type": media_type})


def assert_recent(timestamp: str) -> None:
    assert TIMESTAMP.match(timestamp), timestamp
    moment = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    # UTC, not local time: within the hour of the test's own clock.
    assert abs(datetime.now(timezone.utc) - moment) < timedelta(hours=1), timestamp


# -- create and show ---------------------------------------------------------------------------------

def test_create_with_every_attribute(spyglass_server, api):
    project = api.headers["X-Project-Id"]
    name = unique("full")
    body = {
        "name": name, "visibility": "private", "protected": True, "os_hidden": True, "min_ram": 512,
        "min_disk": 10, "disk_format": "qcow2", "container_format": "bare", "tags": ["web", "lts"],
        "os_distro": "ubuntu", "os_version": "24.04", "hw:cpu_policy": "dedicated", "description": "",
        "unicode_prop": "caf\u00e9 \u2603",
    }
    resp = api.post("/v2/images", json=body)
    assert resp.status_code == 201, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    doc = resp.json()
    custom = {"os_distro", "os_version", "hw:cpu_policy", "description", "unicode_prop"}
    assert set(doc) == CORE_KEYS | custom
    image_id = doc["id"]
    assert UUID.match(image_id)
    assert resp.headers["Location"] == f"{spyglass_server.url}/v2/images/{image_id}"
    expected = {
        **body, "tags": sorted(body["tags"]), "id": image_id, "status": "queued", "owner": project,
        "checksum": None, "os_hash_algo": None, "os_hash_value": None, "size": None, "virtual_size": None,
        "self": f"/v2/images/{image_id}", "file": f"/v2/images/{image_id}/file", "schema": "/v2/schemas/image",
        "created_at": doc["created_at"], "updated_at": doc["updated_at"],
    }
    assert {**doc, "tags": sorted(doc["tags"])} == expected
    assert_recent(doc["created_at"])
    assert doc["updated_at"] == doc["created_at"]

    shown = api.get(f"/v2/images/{image_id}")
    assert shown.status_code == 200
    assert {**shown.json(), "tags": sorted(shown.json()["tags"])} == expected
    listed = api.get("/v2/images", params={"os_hidden": "true"}).json()["images"]
    assert [{**i, "tags": sorted(i["tags"])} for i in listed] == [expected]
    # Protected: cannot be deleted until unprotected.
    assert_error(api.delete(f"/v2/images/{image_id}"), 403, "protected")
    assert patch(api, image_id, [{"op": "replace", "path": "/protected", "value": False}]).status_code == 200
    assert api.delete(f"/v2/images/{image_id}").status_code == 204


def test_create_minimal_has_glance_defaults(spyglass_server, api):
    resp = api.post("/v2/images", json={})
    assert resp.status_code == 201, resp.text
    doc = resp.json()
    image_id = doc["id"]
    # Glance 33's answer to the same request, less what differs by nature.
    assert doc == {
        "name": None, "disk_format": None, "container_format": None, "visibility": "shared", "size": None,
        "virtual_size": None, "status": "queued", "checksum": None, "protected": False, "min_ram": 0,
        "min_disk": 0, "owner": api.headers["X-Project-Id"], "os_hidden": False, "os_hash_algo": None,
        "os_hash_value": None, "id": image_id, "created_at": doc["created_at"], "updated_at": doc["created_at"],
        "tags": [], "self": f"/v2/images/{image_id}", "file": f"/v2/images/{image_id}/file",
        "schema": "/v2/schemas/image",
    }
    assert_recent(doc["created_at"])


@pytest.mark.parametrize("form", ["lower", "upper"])
def test_create_with_client_supplied_id(spyglass_server, api, form):
    """The ID is kept as given, capitals too (as Glance keeps it): the client finds it by that ID."""
    image_id = getattr(str(uuid.uuid4()), form)()
    resp = api.post("/v2/images", json={"id": image_id, "name": "mine"})
    assert resp.status_code == 201, resp.text
    assert resp.json()["id"] == image_id
    assert resp.headers["Location"].endswith(f"/v2/images/{image_id}")
    shown = api.get(f"/v2/images/{image_id}").json()
    assert shown["id"] == image_id and shown["name"] == "mine"
    assert db_rows(spyglass_server, image_id)["images"][0]["id"] == image_id


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=UTF-8"])
def test_create_json_content_types(api, content_type):
    resp = api.post("/v2/images", data=json.dumps({"name": "ct"}), headers={"Content-Type": content_type})
    assert resp.status_code == 201, resp.text


# -- update --------------------------------------------------------------------------------------------

def test_patch_v21_add_replace_remove(spyglass_server, api):
    image = create_image(api, os_distro="ubuntu", keep="yes", gone="soon", tags=["a"])
    image_id = image["id"]
    before = image_state(spyglass_server, api, image_id)  # updated_at moved into the past
    resp = patch(api, image_id, [
        {"op": "add", "path": "/new_prop", "value": "1"},
        {"op": "add", "path": "/os_distro", "value": "debian"},   # 2.1: add replaces an existing one
        {"op": "replace", "path": "/keep", "value": "still"},
        {"op": "remove", "path": "/gone"},
        {"op": "add", "path": "/name", "value": "renamed"},       # add of a core attribute sets it
        {"op": "replace", "path": "/min_ram", "value": 1024},
        {"op": "replace", "path": "/min_disk", "value": 3},
        {"op": "replace", "path": "/disk_format", "value": "raw"},
        {"op": "replace", "path": "/container_format", "value": "bare"},
        {"op": "replace", "path": "/visibility", "value": "private"},
        {"op": "replace", "path": "/os_hidden", "value": True},
        {"op": "replace", "path": "/tags", "value": ["b", "c"]},
        {"op": "add", "path": "/path~1with~0escapes", "value": "v"},
    ])
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    doc = resp.json()
    expected = {**before.document, "new_prop": "1", "os_distro": "debian", "keep": "still", "name": "renamed",
                "min_ram": 1024, "min_disk": 3, "disk_format": "raw", "container_format": "bare",
                "visibility": "private", "os_hidden": True, "tags": ["b", "c"], "path/with~escapes": "v",
                "updated_at": doc["updated_at"]}
    del expected["gone"]
    assert {**doc, "tags": sorted(doc["tags"])} == expected
    assert doc["updated_at"] != before.document["updated_at"]
    assert_recent(doc["updated_at"])
    shown = api.get(f"/v2/images/{image_id}").json()
    assert {**shown, "tags": sorted(shown["tags"])} == expected
    rows = db_rows(spyglass_server, image_id)
    live = {name: value for name, value, deleted in rows["properties"] if not deleted}
    assert live == {"new_prop": "1", "os_distro": "debian", "keep": "still", "path/with~escapes": "v"}
    assert sorted(v for v, deleted in rows["tags"] if not deleted) == ["b", "c"]


def test_patch_v21_removes_and_sets_nullable_core_attributes(api):
    image = create_image(api, disk_format="raw", container_format="bare", name="n")
    doc = patch(api, image["id"], [{"op": "replace", "path": "/name", "value": None},
                                   {"op": "replace", "path": "/disk_format", "value": None}]).json()
    assert doc["name"] is None and doc["disk_format"] is None
    assert api.get(f"/v2/images/{image['id']}").json()["name"] is None


def test_patch_v20_media_type(spyglass_server, api):
    image = create_image(api, existing="1")
    image_id = image["id"]
    resp = patch(api, image_id, [{"add": "/x", "value": "one"}], PATCH_20)
    assert resp.status_code == 200, resp.text
    assert resp.json()["x"] == "one"
    # In 2.0, add of an existing property is a conflict, and nothing of the request is applied.
    before = image_state(spyglass_server, api, image_id)
    assert_error(patch(api, image_id, [{"add": "/y", "value": "2"}, {"add": "/existing", "value": "2"}],
                       PATCH_20), 409, "existing")
    assert_unchanged(spyglass_server, api, before)
    resp = patch(api, image_id, [{"replace": "/x", "value": "two"}, {"remove": "/existing"},
                                 {"replace": "/name", "value": "v20"}], PATCH_20)
    assert resp.status_code == 200, resp.text
    shown = api.get(f"/v2/images/{image_id}").json()
    assert shown["x"] == "two" and "existing" not in shown and shown["name"] == "v20"


def test_tags_endpoints(spyglass_server, api):
    image = create_image(api, tags=["one"])
    image_id = image["id"]
    assert api.put(f"/v2/images/{image_id}/tags/two").status_code == 204
    assert api.put(f"/v2/images/{image_id}/tags/two").status_code == 204  # idempotent
    assert sorted(api.get(f"/v2/images/{image_id}").json()["tags"]) == ["one", "two"]
    assert api.delete(f"/v2/images/{image_id}/tags/one").status_code == 204
    assert api.get(f"/v2/images/{image_id}").json()["tags"] == ["two"]
    assert_error(api.delete(f"/v2/images/{image_id}/tags/one"), 404)


def test_patch_pointer_steps_are_unescaped_then_stripped(spyglass_server, api):
    image_id = create_image(api, name="before")["id"]
    resp = patch(api, image_id, [{"op": "replace", "path": "/ name ", "value": "after"},
                                 {"op": "add", "path": "/ a~1b~0c ", "value": "v"}])
    assert resp.status_code == 200, resp.text
    assert (resp.json()["name"], resp.json()["a/b~c"]) == ("after", "v")


def test_property_names_one_to_the_database(spyglass_server, api):
    """`color`, `Color` and `color ` are three properties, except on MySQL and MariaDB, whose
    collation calls them one name (Glance's schema keeps (image_id, name) unique): there the second
    is a 409 that names both, and nothing changes; elsewhere both are kept."""
    mysql = spyglass_server.database_url.startswith("mysql")
    image = image_state(spyglass_server, api, create_image(api, color="red")["id"])
    resp = patch(api, image.document["id"], [{"op": "add", "path": "/Color", "value": "blue"}])
    if mysql:
        assert_error(resp, 409, "'Color' cannot be stored beside the image's property 'color'")
        assert_unchanged(spyglass_server, api, image)
    else:
        assert resp.status_code == 200 and (resp.json()["color"], resp.json()["Color"]) == ("red", "blue")
    resp = patch(api, image.document["id"], [{"op": "add", "path": "/tint", "value": "1"},
                                             {"op": "add", "path": "/TINT", "value": "2"}])
    if mysql:
        assert_error(resp, 409, "'TINT', 'tint' are one name to this database")
        assert_unchanged(spyglass_server, api, image)
    else:
        assert resp.status_code == 200 and (resp.json()["tint"], resp.json()["TINT"]) == ("1", "2")
    name = f"clash-{uuid.uuid4()}"
    resp = api.post("/v2/images", json={"name": name, "shade": "a", "Shade ": "b"})
    if mysql:
        assert_error(resp, 409, "are one name to this database")
        assert api.get(f"/v2/images?name={name}").json()["images"] == []
    else:
        assert resp.status_code == 201 and (resp.json()["shade"], resp.json()["Shade "]) == ("a", "b")


def test_tags_differing_only_in_case_or_spaces_are_distinct(spyglass_server, api):
    """On every database, though MariaDB's collation calls them equal."""
    image_id = create_image(api, tags=["a"])["id"]
    assert_error(api.delete(f"/v2/images/{image_id}/tags/A"), 404)
    for tag in ("A", "a%20", "%C3%A1"):
        assert api.put(f"/v2/images/{image_id}/tags/{tag}").status_code == 204
    assert sorted(api.get(f"/v2/images/{image_id}").json()["tags"]) == ["A", "a", "a ", "á"]
    assert api.delete(f"/v2/images/{image_id}/tags/A").status_code == 204
    assert sorted(api.get(f"/v2/images/{image_id}").json()["tags"]) == ["a", "a ", "á"]


# -- data ------------------------------------------------------------------------------------------------

def test_upload_and_download(spyglass_server, api):
    data = bytes(range(256)) * 12 + b"tail"
    image = create_image(api, disk_format="raw", container_format="bare")
    image_id = image["id"]
    upload(api, image_id, data)
    doc = api.get(f"/v2/images/{image_id}").json()
    assert doc["status"] == "active"
    assert doc["size"] == doc["virtual_size"] == len(data)
    assert doc["checksum"] == hashlib.md5(data).hexdigest()
    assert doc["os_hash_algo"] == "sha512"
    assert doc["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert stored_files(spyglass_server, image_id) == [image_id]
    assert (spyglass_server.data_dir / "images" / image_id).read_bytes() == data

    got = api.get(f"/v2/images/{image_id}/file")
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["Content-Type"] == "application/octet-stream"
    assert got.headers["Content-Length"] == str(len(data))
    assert got.headers["Content-MD5"] == doc["checksum"]

    for header, first, last in (("bytes=0-99", 0, 99), ("bytes=-100", len(data) - 100, len(data) - 1),
                                ("bytes=3000-", 3000, len(data) - 1), ("bytes=10-99999", 10, len(data) - 1)):
        part = api.get(f"/v2/images/{image_id}/file", headers={"Range": header})
        assert part.status_code == 206, (header, part.text)
        assert part.content == data[first:last + 1]
        assert part.headers["Content-Range"] == f"bytes {first}-{last}/{len(data)}"
        assert part.headers["Content-Length"] == str(last - first + 1)


def test_download_of_a_queued_image_is_204(api):
    image = create_image(api)
    resp = api.get(f"/v2/images/{image['id']}/file")
    assert resp.status_code == 204
    assert resp.content == b""


# -- delete ----------------------------------------------------------------------------------------------

def test_delete_removes_image_and_data(spyglass_server, api):
    project = api.headers["X-Project-Id"]
    image = create_image(api, disk_format="raw", container_format="bare", prop="v", tags=["t"])
    image_id = image["id"]
    upload(api, image_id, b"z" * 4096)
    assert stored_files(spyglass_server, image_id) == [image_id]
    resp = api.delete(f"/v2/images/{image_id}")
    assert resp.status_code == 204
    assert resp.content == b""
    assert_error(api.get(f"/v2/images/{image_id}"), 404, image_id)
    assert_error(api.delete(f"/v2/images/{image_id}"), 404)
    assert_error(api.get(f"/v2/images/{image_id}/file"), 404)
    assert stored_files(spyglass_server, image_id) == []
    assert api.get("/v2/images", params={"owner": project}).json()["images"] == []
    # The row stays, soft-deleted, so that the ID is never given out again.
    rows = db_rows(spyglass_server, image_id)
    row = rows["images"][0]
    assert row["deleted"] == 1 and row["status"] == "deleted" and row["deleted_at"] is not None
    assert all(deleted for *_, deleted in rows["properties"] + rows["tags"] + rows["locations"])


def test_delete_of_a_protected_image_is_refused(spyglass_server, api):
    image = create_image(api, protected=True)
    before = image_state(spyglass_server, api, image["id"])
    assert_error(api.delete(f"/v2/images/{image['id']}"), 403, "protected")
    assert_unchanged(spyglass_server, api, before)


# -- schemas -----------------------------------------------------------------------------------------------

def test_schemas_validate_the_documents(spyglass_server, api):
    jsonschema = pytest.importorskip("jsonschema")
    schemas = {}
    for name in ("image", "images", "member", "members"):
        resp = api.get(f"/v2/schemas/{name}")
        assert resp.status_code == 200, resp.text
        assert resp.headers["Content-Type"].startswith("application/json")
        schemas[name] = resp.json()
        assert schemas[name]["name"] == name
        jsonschema.Draft4Validator.check_schema(schemas[name])
    assert CORE_KEYS <= set(schemas["image"]["properties"])
    validator = jsonschema.Draft4Validator(schemas["image"])

    queued = create_image(api, os_distro="ubuntu", tags=["x"], visibility="shared",
                          disk_format="raw", container_format="bare")
    validator.validate(queued)
    upload(api, queued["id"], b"q" * 1000)
    active = api.get(f"/v2/images/{queued['id']}").json()
    validator.validate(active)
    # Not a vacuous check: a wrong document fails.
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({**active, "min_ram": "x"})
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({**active, "custom": 5})

    jsonschema.Draft4Validator(schemas["images"]).validate(api.get("/v2/images").json())

    other = unique("member")
    member = api.post(f"/v2/images/{queued['id']}/members", json={"member": other})
    assert member.status_code == 200, member.text
    jsonschema.Draft4Validator(schemas["member"]).validate(member.json())
    members = api.get(f"/v2/images/{queued['id']}/members").json()
    jsonschema.Draft4Validator(schemas["members"]).validate(members)
    assert [m["member_id"] for m in members["members"]] == [other]


# -- version discovery and info ------------------------------------------------------------------------------

# What Glance 33 lists, in its order.
GLANCE_VERSIONS = [("v2.15", "SUPPORTED"), ("v2.9", "SUPPORTED"), ("v2.17", "CURRENT"), ("v2.7", "SUPPORTED"),
                   ("v2.6", "SUPPORTED"), ("v2.5", "SUPPORTED"), ("v2.4", "SUPPORTED"), ("v2.3", "SUPPORTED"),
                   ("v2.2", "SUPPORTED"), ("v2.1", "SUPPORTED"), ("v2.0", "SUPPORTED")]


@pytest.mark.parametrize(("path", "status"), [("/", 300), ("/versions", 200)])
def test_version_discovery(spyglass_server, path, status):
    s = spyglass_server.session()
    resp = s.get(path, allow_redirects=False)
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    versions = resp.json()["versions"]
    assert [(v["id"], v["status"]) for v in versions] == GLANCE_VERSIONS
    for version in versions:
        assert version["links"] == [{"rel": "self", "href": f"{spyglass_server.url}/v2/"}]
    current = next(v for v in versions if v["status"] == "CURRENT")["links"][0]["href"]
    # The link is absolute and leads to the API.
    assert s.get(current + "images").status_code == 200
    info = s.get(current + "info/import")
    assert info.status_code == 200, info.text
    methods = info.json()["import-methods"]
    assert methods["type"] == "array" and methods["description"]
    assert all(isinstance(m, str) for m in methods["value"])
    stores = s.get(current + "info/stores")
    assert stores.status_code == 200, stores.text
    listed = stores.json()["stores"]
    assert len(listed) == 1 and listed[0]["default"] is True and listed[0]["id"]


FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "images.example.org"}


def test_proxy_headers_ignored_by_default(spyglass_server):
    versions = spyglass_server.session().get("/versions", headers=FORWARDED).json()["versions"]
    assert {v["links"][0]["href"] for v in versions} == {f"{spyglass_server.url}/v2/"}


def test_proxy_headers_parsed_when_enabled(new_server):
    # Behind a TLS-terminating load balancer the links must name the address clients used.
    server = new_server({"oslo_middleware.enable_proxy_headers_parsing": "true"})
    versions = server.session().get("/versions", headers=FORWARDED).json()["versions"]
    assert {v["links"][0]["href"] for v in versions} == {"https://images.example.org/v2/"}
    plain = server.session().get("/versions").json()["versions"]
    assert {v["links"][0]["href"] for v in plain} == {f"{server.url}/v2/"}


REQUEST_ID = re.compile(r"^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def test_every_answer_carries_its_own_request_id(spyglass_server, api):
    # As Glance: x-openstack-request-id on successes, errors, the health check and empty answers.
    image = create_image(api, name=unique("rid"))
    answers = [api.get(f"/v2/images/{image['id']}"), api.get(f"/v2/images/{uuid.uuid4()}"),
               api.get("/v2/images?sort_key=nonsense"), api.get("/healthcheck"),
               api.delete(f"/v2/images/{image['id']}"), api.get("/versions")]
    assert [r.status_code for r in answers] == [200, 404, 400, 200, 204, 200]
    ids = [r.headers.get("x-openstack-request-id", "") for r in answers]
    assert all(REQUEST_ID.match(i) for i in ids), ids
    assert len(set(ids)) == len(ids)


DASHBOARD = "https://dashboard.example.org"


def test_no_cors_headers_by_default(spyglass_server):
    resp = spyglass_server.session().get("/versions", headers={"Origin": DASHBOARD})
    assert resp.status_code == 200
    assert not [h for h in resp.headers if h.lower().startswith("access-control-")]


def test_cors_for_an_allowed_origin_with_glance_defaults(new_server):
    # A dashboard uploading straight from the browser (Horizon's direct mode) must get through.
    server = new_server({"cors.allowed_origin": DASHBOARD})
    session = server.session()
    image = session.post("/v2/images", json={"name": unique("cors"), "disk_format": "raw",
                                             "container_format": "bare"}).json()
    url = f"/v2/images/{image['id']}/file"
    preflight = session.options(url, headers={"Origin": DASHBOARD, "Access-Control-Request-Method": "PUT",
                                              "Access-Control-Request-Headers": "X-Auth-Token, Content-Type"})
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["Access-Control-Allow-Origin"] == DASHBOARD
    assert "PUT" in preflight.headers["Access-Control-Allow-Methods"]
    assert "x-auth-token" in preflight.headers["Access-Control-Allow-Headers"].lower()

    data = b"cors" * 100000
    upload = session.put(url, data=data, headers={"Origin": DASHBOARD, "Content-Type": "application/octet-stream"})
    assert upload.status_code == 204
    assert upload.headers["Access-Control-Allow-Origin"] == DASHBOARD
    download = session.get(url, headers={"Origin": DASHBOARD})
    assert download.content == data
    assert download.headers["Access-Control-Allow-Origin"] == DASHBOARD
    assert "X-OpenStack-Request-ID" in download.headers["Access-Control-Expose-Headers"]

    other = session.get(f"/v2/images/{image['id']}", headers={"Origin": "https://elsewhere.example.org"})
    assert other.status_code == 200
    assert "Access-Control-Allow-Origin" not in other.headers


def _raw_get(port: int, path: str, **headers: str) -> tuple[bytes, bytes]:
    """One request on a fresh connection: the response head, and what follows it until the
    server closes (or 2 s of silence)."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", *(f"{k}: {v}" for k, v in headers.items())]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except TimeoutError:
            return data.partition(b"\r\n\r\n")[0], b"still open"
        return data.partition(b"\r\n\r\n")[0], b"closed"


def test_http_keepalive_off_closes_after_each_answer(new_server):
    server = new_server({"http_keepalive": "false"})
    head, after = _raw_get(server.port, "/versions")
    assert head.startswith(b"HTTP/1.1 200") and b"Connection: close" in head
    assert after == b"closed"


def test_max_header_line(spyglass_server, new_server):
    # The default takes a 10 KiB header (a Keystone token with a big catalog); a smaller limit
    # refuses a larger field with a 4xx and serves the next request.
    assert spyglass_server.session().get("/versions", headers={"X-Big": "x" * 10240}).status_code == 200
    server = new_server({"max_header_line": 2048})
    session = server.session()
    assert session.get("/versions", headers={"X-Big": "x" * 1500}).status_code == 200
    refused = session.get("/versions", headers={"X-Big": "x" * 3000})
    assert 400 <= refused.status_code < 500
    assert session.get("/versions").status_code == 200
