"""Every bad input gets a 4xx with a clear message in Glance's error document, and changes nothing.

After each refused request the test looks again at what the request could have touched: the image
document, the image's rows in the database (updated_at to the microsecond), the files of the store,
and the images of the project. Each test works in a project of its own on the shared server.
"""
from __future__ import annotations

import json
import uuid

import pytest
import requests

from imagecheck import (MISSING_ID, PATCH_20, PATCH_21, assert_error, assert_plain_error, assert_unchanged,
                        backdate, client, create_image, db_rows, image_state, project_image_ids, stored_files, unique,
                        upload)

OCTET = {"Content-Type": "application/octet-stream"}


@pytest.fixture
def api(spyglass_server):
    return client(spyglass_server)


@pytest.fixture
def project(api):
    return api.headers["X-Project-Id"]


def assert_no_images(server, session: requests.Session, project: str) -> None:
    assert project_image_ids(server, project) == []
    resp = session.get("/v2/images", params={"owner": project})
    assert resp.status_code == 200, resp.text
    assert resp.json()["images"] == []


def patch(session: requests.Session, image_id: str, ops: object, media_type: str = PATCH_21) -> requests.Response:
    return session.patch(f"/v2/images/{image_id}", data=json.dumps(ops), headers={"Content-Type": media_type})


# -- the error document itself ------------------------------------------------------------------------

def test_error_documents_match_glance_byte_for_byte(spyglass_server):
    # Without an Accept header Glance answers text/plain, with JSON a {"message", "code", "title"}.
    s = client(spyglass_server)
    plain = s.post("/v2/images", data="{not json",
                   headers={"Content-Type": "application/json", "Accept": None})
    assert plain.status_code == 400
    assert plain.headers["Content-Type"] == "text/plain; charset=UTF-8"
    assert plain.text == "400 Bad Request\n\nMalformed JSON in request body.\n\n   "

    as_json = s.post("/v2/images", data="{not json", headers={"Content-Type": "application/json"})
    assert as_json.status_code == 400
    assert as_json.json() == {"message": "Malformed JSON in request body.<br /><br />\n\n\n",
                              "code": "400 Bad Request", "title": "Bad Request"}

    missing = s.get(f"/v2/images/{MISSING_ID}", headers={"Accept": None})
    assert missing.status_code == 404
    assert missing.text == f"404 Not Found\n\nNo image found with ID {MISSING_ID}\n\n   "
    assert s.get(f"/v2/images/{MISSING_ID}").json() == {
        "message": f"No image found with ID {MISSING_ID}<br /><br />\n\n\n",
        "code": "404 Not Found", "title": "Not Found"}


# -- create: the body --------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [b"{not json", b"{\"name\": \"x\",}", b"{'name': 'x'}", b"[1, 2",
                                  b"\xff\xfe{}", b"{\"name\": \"x\"} trailing",
                                  # a lone UTF-16 surrogate: valid JSON syntax, but no string a database stores
                                  b"{\"name\": \"\\ud800\"}", b"{\"color\": \"a\\udfffb\"}"])
def test_create_malformed_json(spyglass_server, api, project, body):
    resp = api.post("/v2/images", data=body, headers={"Content-Type": "application/json"})
    assert_error(resp, 400, "Malformed JSON")
    assert_no_images(spyglass_server, api, project)


@pytest.mark.parametrize("body", ["[1, 2]", "[]", "\"a string\"", "42", "null", "true"])
def test_create_json_that_is_not_an_object(spyglass_server, api, project, body):
    # Glance 33 answers a JSON array with a 500; a client error is a 400.
    resp = api.post("/v2/images", data=body, headers={"Content-Type": "application/json"})
    assert_error(resp, 400, "object")
    assert_no_images(spyglass_server, api, project)


# application/octet-stream and a missing type are taken as JSON, as Glance takes them (glanceclient
# labels its JSON bodies so); a type naming another format is refused.
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "text/xml",
                                          "multipart/form-data; boundary=x", PATCH_21])
def test_create_wrong_content_type(spyglass_server, api, project, content_type):
    resp = api.post("/v2/images", data=json.dumps({"name": "x"}), headers={"Content-Type": content_type})
    assert_error(resp, 415, content_type.split(";")[0])
    assert_no_images(spyglass_server, api, project)


# -- create: the id ----------------------------------------------------------------------------------

@pytest.mark.parametrize("bad_id", [
    "not-a-uuid", "", 42, None, True, ["deadbeef-0000-4000-8000-000000000001"],
    "deadbeef-0000-4000-8000-00000000001",     # one digit short
    "deadbeef-0000-4000-8000-0000000000011",   # one digit long
    "deadbeeg-0000-4000-8000-000000000001",    # not hex
    "deadbeef000040008000000000000001",        # no hyphens: the image schema's pattern needs them
    "{deadbeef-0000-4000-8000-000000000001}",
    " deadbeef-0000-4000-8000-000000000001",
    "deadbeef-0000-4000-8000-000000000001\n",
    "../../etc/passwd",
])
def test_create_with_invalid_id(spyglass_server, api, project, bad_id):
    resp = api.post("/v2/images", json={"id": bad_id, "name": "x"})
    assert_error(resp, 400)
    assert_no_images(spyglass_server, api, project)


def test_create_with_duplicate_id(spyglass_server, api, project):
    image_id = str(uuid.uuid4())
    first = create_image(api, id=image_id, name="first")
    before = image_state(spyglass_server, api, image_id)
    resp = api.post("/v2/images", json={"id": image_id, "name": "second", "os_distro": "x"})
    assert_error(resp, 409, image_id)
    assert_unchanged(spyglass_server, api, before)
    assert before.document["name"] == first["name"] == "first"
    # Another project may not take it either, even though it cannot see the image.
    other = client(spyglass_server)
    assert_error(other.post("/v2/images", json={"id": image_id}), 409)
    assert_no_images(spyglass_server, other, other.headers["X-Project-Id"])
    assert_unchanged(spyglass_server, api, before)
    assert project_image_ids(spyglass_server, project) == [image_id]


def test_id_of_a_deleted_image_is_never_reused(spyglass_server, api, project):
    image = create_image(api, os_distro="gone")
    assert api.delete(f"/v2/images/{image['id']}").status_code == 204
    backdate(spyglass_server, image["id"])
    rows = db_rows(spyglass_server, image["id"])
    resp = api.post("/v2/images", json={"id": image["id"], "name": "reborn"})
    assert_error(resp, 409, image["id"])
    assert_error(api.get(f"/v2/images/{image['id']}"), 404)
    assert db_rows(spyglass_server, image["id"]) == rows
    assert project_image_ids(spyglass_server, project) == [image["id"]]


# -- create: attributes ------------------------------------------------------------------------------

READ_ONLY = ["status", "checksum", "size", "virtual_size", "created_at", "updated_at", "os_hash_algo",
             "os_hash_value", "self", "file", "schema", "direct_url"]
RESERVED = ["location", "deleted", "deleted_at", "os_glance_foo", "os_glance_import_task",
            "os_glance_failed_import"]


@pytest.mark.parametrize("key", READ_ONLY)
def test_create_read_only_attribute(spyglass_server, api, project, key):
    value = {"status": "active", "size": 1, "virtual_size": 1}.get(key, "1")
    resp = api.post("/v2/images", json={"name": "x", key: value})
    assert_error(resp, 403, f"'{key}'", "read-only")
    assert_no_images(spyglass_server, api, project)


@pytest.mark.parametrize(("key", "value"), [("status", "sleeping"), ("status", None), ("size", "1"), ("size", True),
                                            ("checksum", 5), ("created_at", None), ("locations", "x"),
                                            ("locations", [{"url": "file:///etc/hosts"}]), ("deleted", 1),
                                            ("os_glance_x", [])])
def test_create_checks_the_schema_before_what_may_not_be_set(spyglass_server, api, project, key, value):
    """As Glance: a value of the wrong type is 400 even for an attribute no client may set (403)."""
    assert_error(api.post("/v2/images", json={"name": "x", key: value}), 400, "schema")
    assert_no_images(spyglass_server, api, project)


@pytest.mark.parametrize("key", RESERVED)
def test_create_reserved_attribute(spyglass_server, api, project, key):
    resp = api.post("/v2/images", json={"name": "x", key: "1"})
    assert_error(resp, 403, f"'{key}'", "reserved")
    assert_no_images(spyglass_server, api, project)


BAD_VALUES = [
    ("min_ram", "x"), ("min_ram", -1), ("min_ram", 1.5), ("min_ram", None), ("min_ram", 2**31),
    ("min_ram", True), ("min_disk", -5), ("min_disk", "10"),
    ("protected", "yes"), ("protected", 1), ("protected", None), ("os_hidden", "false"),
    ("name", "n" * 256), ("name", "n" * 300), ("name", 123), ("name", ["x"]),
    ("visibility", "bogus"), ("visibility", None), ("visibility", "PUBLIC"),
    ("disk_format", "bogus"), ("disk_format", "QCOW2"), ("disk_format", 1),
    ("container_format", "bogus"),
    ("tags", "a-tag"), ("tags", [1]), ("tags", ["t" * 256]), ("tags", [""]), ("tags", None),
    ("owner", 5), ("owner", "o" * 256),
    ("os_distro", 1), ("os_distro", True), ("os_distro", None), ("os_distro", {"a": "b"}),
    ("os_distro", ["ubuntu"]),
    ("p" * 256, "value"),
]


@pytest.mark.parametrize(("key", "value"), BAD_VALUES, ids=[f"{k[:20]}={str(v)[:12]}" for k, v in BAD_VALUES])
def test_create_wrong_type_or_range(spyglass_server, api, project, key, value):
    resp = api.post("/v2/images", json={"name": "x", key: value} if key != "name" else {key: value})
    assert_error(resp, 400)
    assert_no_images(spyglass_server, api, project)


def test_create_refusal_message_names_the_problem(spyglass_server, api, project):
    assert_error(api.post("/v2/images", json={"min_ram": -1}), 400, "min_ram")
    assert_error(api.post("/v2/images", json={"visibility": "bogus"}), 400, "bogus")
    assert_error(api.post("/v2/images", json={"disk_format": "bogus"}), 400, "bogus")
    assert_error(api.post("/v2/images", json={"name": "n" * 300}), 400, "too long")
    assert_error(api.post("/v2/images", json={"foo": 1}), 400, "string")
    assert_no_images(spyglass_server, api, project)


def test_create_for_another_owner_or_public_as_member(spyglass_server, api, project):
    assert_error(api.post("/v2/images", json={"owner": unique("someone")}), 403)
    assert_error(api.post("/v2/images", json={"visibility": "public"}), 403, "publicize_image")
    assert_no_images(spyglass_server, api, project)


def test_create_with_disk_format_outside_configured_list(new_server):
    server = new_server({"image_format.disk_formats": "raw,qcow2", "workers": 1})
    s = client(server)
    assert_error(s.post("/v2/images", json={"disk_format": "vmdk"}), 400, "vmdk")
    assert_error(s.post("/v2/images", json={"container_format": "bogus"}), 400, "bogus")
    assert_no_images(server, s, s.headers["X-Project-Id"])
    assert create_image(s, disk_format="qcow2")["disk_format"] == "qcow2"


# -- quotas (a private server with small ones) ---------------------------------------------------------

@pytest.fixture
def small_quotas(new_server):
    return new_server({"image_property_quota": 2, "image_tag_quota": 2, "workers": 1})


def test_too_many_properties_or_tags_on_create(small_quotas):
    s = client(small_quotas)
    assert_error(s.post("/v2/images", json={"a": "1", "b": "2", "c": "3"}), 413, "propert")
    assert_error(s.post("/v2/images", json={"tags": ["a", "b", "c"]}), 413, "tag")
    assert_no_images(small_quotas, s, s.headers["X-Project-Id"])


def test_too_many_properties_or_tags_on_update(small_quotas):
    s = client(small_quotas)
    image = create_image(s, a="1", b="2", tags=["t1", "t2"])
    before = image_state(small_quotas, s, image["id"])
    assert_error(patch(s, image["id"], [{"op": "add", "path": "/c", "value": "3"}]), 413, "propert")
    assert_error(patch(s, image["id"], [{"op": "replace", "path": "/tags", "value": ["x", "y", "z"]}]), 413)
    assert_error(s.put(f"/v2/images/{image['id']}/tags/t3"), 413, "tag")
    assert_unchanged(small_quotas, s, before)
    # At the limit, changing what is there is no excess.
    assert s.put(f"/v2/images/{image['id']}/tags/t2").status_code == 204
    assert patch(s, image["id"], [{"op": "remove", "path": "/a"},
                                  {"op": "add", "path": "/c", "value": "3"}]).status_code == 200


# -- listing -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("params", "fragment"), [
    ({"sort_key": "bogus"}, "Invalid sort key: bogus"),
    ({"sort_key": "owner"}, "sort key"),
    ({"sort": "bogus:asc"}, "Invalid sort key: bogus"),
    ({"sort": "name:asc,bogus"}, "bogus"),
    ({"sort_dir": "sideways"}, "Invalid sort direction: sideways"),
    ({"sort": "name:sideways"}, "Invalid sort direction: sideways"),
    ({"sort_key": "name", "sort_dir": "DESCENDING"}, "sort direction"),
    ({"sort": "name", "sort_key": "name"}, "sort"),
    ({"sort": "name:asc", "sort_dir": "asc"}, "sort"),
    ([("sort_key", "name"), ("sort_dir", "asc"), ("sort_dir", "desc"), ("sort_dir", "asc")], "sort"),
    ({"created_at": "foo:2020-01-01T00:00:00Z"}, "operator"),
    ({"created_at": "gte:notatime"}, ""),
    ({"created_at": "bogus"}, ""),
    ({"updated_at": "lt:2020-13-45T00:00:00Z"}, ""),
    ({"size_min": "abc"}, ""),
    ({"size_min": "1.5"}, ""),
    ({"size_max": "big"}, ""),
    ({"visibility": "bogus"}, "Invalid visibility value: bogus"),
    ({"visibility": "PUBLIC"}, "PUBLIC"),
    ({"member_status": "bogus"}, "bogus"),
    ({"os_hidden": "maybe"}, "maybe"),
    ({"protected": "maybe"}, "maybe"),
    ({"limit": "-1"}, "limit"),
    ({"limit": "abc"}, "limit"),
    ({"limit": "1.5"}, "limit"),
    ({"limit": ""}, "limit"),
    ({"marker": "garbage"}, "garbage"),
    ({"marker": MISSING_ID}, MISSING_ID),
])
def test_list_bad_parameters(api, params, fragment):
    resp = api.get("/v2/images", params=params)
    assert_error(resp, 400, fragment)


def test_list_bare_time_filter_means_eq(api):
    # Glance reads an ISO 8601 time without an operator as `eq`.
    resp = api.get("/v2/images", params={"created_at": "2020-01-01T00:00:00Z"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["images"] == []


def test_list_marker_of_an_image_the_caller_cannot_see(spyglass_server, api):
    hidden = create_image(api, visibility="private")
    other = client(spyglass_server)
    # 403, as Glance answers it (tests/interop compares).
    assert_error(other.get("/v2/images", params={"marker": hidden["id"]}), 403, hidden["id"], "not visible")


def test_list_zero_and_huge_limits_are_not_errors(api):
    assert api.get("/v2/images", params={"limit": "0"}).json()["images"] == []
    image = create_image(api)
    # Owner filter: public images other tests made on the shared server are listed too.
    resp = api.get("/v2/images", params={"limit": str(10**12), "owner": api.headers["X-Project-Id"]})
    assert resp.status_code == 200, resp.text
    assert [i["id"] for i in resp.json()["images"]] == [image["id"]]


def test_list_limit_is_capped_at_api_limit_max(new_server):
    # Documented in the api_limit_max option: a larger limit is capped, not refused, as in Glance.
    server = new_server({"api_limit_max": 3, "limit_param_default": 2, "workers": 1})
    s = client(server)
    ids = {create_image(s)["id"] for _ in range(5)}
    assert len(s.get("/v2/images").json()["images"]) == 2
    page = s.get("/v2/images", params={"limit": "100000"}).json()
    assert len(page["images"]) == 3
    assert "next" in page
    rest = s.get(page["next"]).json()
    assert {i["id"] for i in page["images"]} | {i["id"] for i in rest["images"]} == ids


# -- PATCH -------------------------------------------------------------------------------------------

@pytest.fixture
def image(spyglass_server, api):
    img = create_image(api, disk_format="raw", container_format="bare", os_distro="ubuntu", tags=["t1"])
    return image_state(spyglass_server, api, img["id"])


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "application/json-patch+json",
                                          "application/openstack-images-v2.2-json-patch", None])
def test_patch_wrong_content_type(spyglass_server, api, image, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    resp = api.patch(f"/v2/images/{image.document['id']}", headers=headers,
                     data=json.dumps([{"op": "replace", "path": "/name", "value": "renamed"}]))
    assert_error(resp, 415)
    assert set(resp.headers.get("Accept-Patch", "").replace(" ", "").split(",")) == {PATCH_20, PATCH_21}
    assert_unchanged(spyglass_server, api, image)


BAD_PATCHES = [
    ("not a list", {"op": "add", "path": "/a", "value": "b"}, 400, "array"),
    ("string body", "add /a", 400, ""),
    ("op not an object", ["add"], 400, ""),
    ("unknown op", [{"op": "frobnicate", "path": "/a", "value": "b"}], 400, "frobnicate"),
    ("move op", [{"op": "move", "from": "/os_distro", "path": "/a"}], 400, "move"),
    ("test op", [{"op": "test", "path": "/os_distro", "value": "ubuntu"}], 400, "test"),
    ("missing op", [{"path": "/a", "value": "b"}], 400, ""),
    ("missing path", [{"op": "add", "value": "b"}], 400, ""),
    ("add without value", [{"op": "add", "path": "/a"}], 400, "value"),
    ("replace without value", [{"op": "replace", "path": "/name"}], 400, "value"),
    # A value given to remove is ignored, as Glance does: here the property is missing.
    ("remove with value", [{"op": "remove", "path": "/nope", "value": "x"}], 409, "nope"),
    ("lone surrogate", [{"op": "replace", "path": "/name", "value": "\ud800"}], 400, "Malformed JSON"),
    ("path without slash", [{"op": "add", "path": "a", "value": "b"}], 400, "a"),
    ("empty path", [{"op": "add", "path": "", "value": "b"}], 400, ""),
    ("root path", [{"op": "add", "path": "/", "value": "b"}], 400, ""),
    ("path not a string", [{"op": "add", "path": 5, "value": "b"}], 400, ""),
    ("nested path", [{"op": "add", "path": "/a/b", "value": "b"}], 400, "/a/b"),
    ("nested tags path", [{"op": "add", "path": "/tags/-", "value": "t2"}], 400, "/tags/-"),
    ("unknown escape in path", [{"op": "add", "path": "/a~2", "value": "b"}], 400, "~"),
    ("escape cut short", [{"op": "add", "path": "/a~", "value": "b"}], 400, "~"),
    ("adjacent slashes", [{"op": "add", "path": "/a/ /b", "value": "b"}], 400, "empty step"),
    ("final slash", [{"op": "add", "path": "/a/", "value": "b"}], 400, "empty step"),
    ("replace missing property", [{"op": "replace", "path": "/nope", "value": "x"}], 409,
     "Property nope does not exist"),
    ("remove missing property", [{"op": "remove", "path": "/nope"}], 409, "Property nope does not exist"),
    ("min_ram not an integer", [{"op": "replace", "path": "/min_ram", "value": "x"}], 400, ""),
    ("negative min_disk", [{"op": "replace", "path": "/min_disk", "value": -1}], 400, "min_disk"),
    ("protected not a boolean", [{"op": "replace", "path": "/protected", "value": "yes"}], 400, ""),
    ("name too long", [{"op": "replace", "path": "/name", "value": "n" * 300}], 400, "too long"),
    ("visibility bogus", [{"op": "replace", "path": "/visibility", "value": "bogus"}], 400, "bogus"),
    ("disk_format bogus", [{"op": "replace", "path": "/disk_format", "value": "bogus"}], 400, "bogus"),
    ("tags not a list", [{"op": "replace", "path": "/tags", "value": "t2"}], 400, ""),
    ("tag too long", [{"op": "replace", "path": "/tags", "value": ["t" * 256]}], 400, ""),
    ("property not a string", [{"op": "add", "path": "/foo", "value": 1}], 400, "string"),
    ("property null", [{"op": "add", "path": "/foo", "value": None}], 400, ""),
    ("property an object", [{"op": "add", "path": "/foo", "value": {"a": "b"}}], 400, ""),
    ("property name too long", [{"op": "add", "path": "/" + "p" * 256, "value": "v"}], 400, ""),
    # The image schema publishes the well-known properties with a length of 255.
    ("os_distro too long", [{"op": "add", "path": "/os_distro", "value": "d" * 256}], 400, "os_distro"),
    ("remove core name", [{"op": "remove", "path": "/name"}], 403, "name"),
    ("remove core min_ram", [{"op": "remove", "path": "/min_ram"}], 403, "min_ram"),
    ("remove core visibility", [{"op": "remove", "path": "/visibility"}], 403, "visibility"),
    ("remove core protected", [{"op": "remove", "path": "/protected"}], 403, "protected"),
    ("remove core disk_format", [{"op": "remove", "path": "/disk_format"}], 403, "disk_format"),
    ("owner to another project", [{"op": "replace", "path": "/owner", "value": "someone-else"}], 403, ""),
    ("publicize as member", [{"op": "replace", "path": "/visibility", "value": "public"}], 403,
     "publicize_image"),
    # A good operation before a bad one must not be applied either.
    ("good then bad", [{"op": "add", "path": "/good", "value": "v"},
                       {"op": "replace", "path": "/name", "value": "renamed"},
                       {"op": "replace", "path": "/min_ram", "value": "x"}], 400, ""),
    ("good then conflict", [{"op": "add", "path": "/good", "value": "v"},
                            {"op": "remove", "path": "/os_distro"},
                            {"op": "remove", "path": "/nope"}], 409, "nope"),
    ("good then read-only", [{"op": "replace", "path": "/name", "value": "renamed"},
                             {"op": "replace", "path": "/status", "value": "active"}], 403, "read-only"),
    # Operations are checked in order, each whole (form, path, value): the first faulty one decides.
    ("bad value then read-only", [{"op": "replace", "path": "/name", "value": 5},
                                  {"op": "replace", "path": "/status", "value": "active"}], 400, "string"),
    ("bad value then unknown op", [{"op": "replace", "path": "/name", "value": 5}, {"op": "jump"}], 400, "string"),
    ("bad value then missing property", [{"op": "replace", "path": "/nope", "value": 5},
                                         {"op": "remove", "path": "/owner"}], 400, "string"),
    # Locations: a place in the list to add, an index to remove, the whole list to replace; the
    # value's shape is checked before the 403 of a deployment that shows no locations.
    ("add locations without index", [{"op": "add", "path": "/locations", "value": []}], 400, "/locations"),
    ("remove locations without index", [{"op": "remove", "path": "/locations"}], 400, "/locations"),
    ("location field path", [{"op": "replace", "path": "/locations/0/url", "value": "x"}], 400, "/locations/0/url"),
    ("location not an object", [{"op": "add", "path": "/locations/-", "value": "x"}], 400, "location"),
    ("locations not a list", [{"op": "replace", "path": "/locations", "value": "x"}], 400, "locations"),
    ("add a location", [{"op": "add", "path": "/locations/-",
                         "value": {"url": "file:///etc/hosts", "metadata": {}}}], 403, "locations"),
    ("replace the locations", [{"op": "replace", "path": "/locations", "value": []}], 403, "locations"),
    ("remove a location", [{"op": "remove", "path": "/locations/0"}], 403, "locations"),
]


@pytest.mark.parametrize(("ops", "status", "fragment"), [b[1:] for b in BAD_PATCHES],
                         ids=[b[0] for b in BAD_PATCHES])
def test_patch_bad_operations(spyglass_server, api, image, ops, status, fragment):
    resp = patch(api, image.document["id"], ops)
    assert_error(resp, status, fragment)
    assert_unchanged(spyglass_server, api, image)


@pytest.mark.parametrize("key", [*READ_ONLY, "id"])
@pytest.mark.parametrize("op", ["add", "replace", "remove"])
def test_patch_read_only_attribute(spyglass_server, api, image, key, op):
    operation = {"op": op, "path": f"/{key}"}
    if op != "remove":
        operation["value"] = image.document.get(key) or "x"
    resp = patch(api, image.document["id"], [operation])
    assert_error(resp, 403, f"'{key}'", "read-only")
    assert_unchanged(spyglass_server, api, image)


@pytest.mark.parametrize("key", RESERVED)  # locations: in BAD_PATCHES
@pytest.mark.parametrize("op", ["add", "replace", "remove"])
def test_patch_reserved_attribute(spyglass_server, api, image, key, op):
    operation = {"op": op, "path": f"/{key}"}
    if op != "remove":
        operation["value"] = "x"
    resp = patch(api, image.document["id"], [operation])
    assert_error(resp, 403, "reserved")
    assert_unchanged(spyglass_server, api, image)


@pytest.mark.parametrize(("ops", "status"), [
    ([{"add": "/os_distro", "value": "fedora"}], 409),           # add of an existing property
    ([{"add": "/name", "value": "x"}], 409),                     # a core attribute always exists
    ([{"add": "/min_ram", "value": 5}], 409),
    ([{"add": "/a", "replace": "/b", "value": "v"}], 400),        # two operations in one object
    ([{"frobnicate": "/a", "value": "v"}], 400),
    ([{"op": "add", "path": "/a", "value": "v"}], 400),           # the 2.1 shape in a 2.0 document
    ([{"remove": "/nope"}], 409),
    ([{"replace": "/status", "value": "active"}], 403),
    ([{"add": "/a"}], 400),
])
def test_patch_bad_operations_v20(spyglass_server, api, image, ops, status):
    assert_error(patch(api, image.document["id"], ops, PATCH_20), status)
    assert_unchanged(spyglass_server, api, image)


def test_patch_malformed_json(spyglass_server, api, image):
    assert_error(patch_raw(api, image.document["id"], b"[{\"op\": "), 400, "Malformed JSON")
    assert_unchanged(spyglass_server, api, image)


def patch_raw(session: requests.Session, image_id: str, body: bytes) -> requests.Response:
    return session.patch(f"/v2/images/{image_id}", data=body, headers={"Content-Type": PATCH_21})


def test_patch_by_another_project(spyglass_server, api, image):
    image_id = image.document["id"]
    other = client(spyglass_server)
    # A shared image without membership is invisible: 404, as Glance answers.
    assert_error(patch(other, image_id, [{"op": "replace", "path": "/name", "value": "x"}]), 404)
    assert_error(other.delete(f"/v2/images/{image_id}"), 404)
    assert_unchanged(spyglass_server, api, image)


def test_a_bad_body_is_refused_before_the_image_is_looked_up(spyglass_server, api, image):
    """As Glance: what is wrong with the request itself is 400 whoever asks, without saying
    whether the image exists; only a well-formed request goes on to find it invisible (404)."""
    image_id = image.document["id"]
    other = client(spyglass_server)
    assert_error(patch(other, image_id, [{"op": "replace", "path": "/name", "value": 5}]), 400, "string")
    assert_error(other.put(f"/v2/images/{image_id}/tags/{'t' * 256}"), 400)
    assert_error(other.post(f"/v2/images/{image_id}/members", json={"member": ""}), 400, "member")
    assert_error(other.put(f"/v2/images/{image_id}/tags/fine"), 404)
    assert_error(other.post(f"/v2/images/{image_id}/members", json={"member": "someone"}), 404)
    assert_unchanged(spyglass_server, api, image)


# -- characters MySQL's utf8 cannot store ----------------------------------------------------------------

EMOJI = "\U0001F600"


@pytest.mark.parametrize("doc", [{"name": f"smile {EMOJI}"}, {"os_distro": EMOJI}, {f"key{EMOJI}": "v"},
                                 {"tags": ["fine", EMOJI]}])
def test_create_refuses_four_byte_characters(spyglass_server, api, project, doc):
    """Glance refuses characters outside the Basic Multilingual Plane (its schema's utf8 columns on
    MySQL/MariaDB hold 3 bytes a character); Spyglass too, on every database."""
    assert_error(api.post("/v2/images", json=doc), 400, "4 byte unicode")
    assert_no_images(spyglass_server, api, project)


def test_changes_refuse_four_byte_characters(spyglass_server, api, image):
    image_id = image.document["id"]
    for ops in ([{"op": "replace", "path": "/name", "value": EMOJI}], [{"op": "add", "path": "/k", "value": EMOJI}],
                [{"op": "add", "path": f"/{EMOJI}", "value": "v"}], [{"op": "replace", "path": "/tags", "value": [EMOJI]}]):
        assert_error(patch(api, image_id, ops), 400, "4 byte unicode")
    assert_error(api.put(f"/v2/images/{image_id}/tags/{EMOJI}"), 400, "4 byte unicode")
    assert_unchanged(spyglass_server, api, image)
    # Three-byte characters are stored as they are.
    resp = patch(api, image_id, [{"op": "replace", "path": "/name", "value": "日本 ✓"}])
    assert resp.status_code == 200 and resp.json()["name"] == "日本 ✓"


# -- tags ----------------------------------------------------------------------------------------------

def test_tag_too_long(spyglass_server, api, image):
    assert_error(api.put(f"/v2/images/{image.document['id']}/tags/{'t' * 256}"), 400)
    assert_error(api.delete(f"/v2/images/{image.document['id']}/tags/nosuchtag"), 404)
    assert_unchanged(spyglass_server, api, image)


# -- uploads -------------------------------------------------------------------------------------------

def assert_still_queued(server, session, before, *, streamed: bool = False) -> None:
    """streamed: the fault showed only in the body, after the upload had claimed the image (queued
    to saving, and back): updated_at may then move on, nothing else."""
    assert_unchanged(server, session, before, except_updated_at=streamed)
    assert before.document["status"] == "queued"
    assert before.document["checksum"] is None and before.document["size"] is None
    assert stored_files(server, before.document["id"]) == []
    assert session.get(f"/v2/images/{before.document['id']}/file").status_code == 204


@pytest.fixture
def queued(spyglass_server, api):
    img = create_image(api, disk_format="raw", container_format="bare")
    return image_state(spyglass_server, api, img["id"])


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", PATCH_21, None])
def test_upload_wrong_content_type(spyglass_server, api, queued, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    resp = api.put(f"/v2/images/{queued.document['id']}/file", data=b"x" * 100, headers=headers)
    assert_error(resp, 415)
    assert_still_queued(spyglass_server, api, queued)


def test_upload_to_an_active_image(spyglass_server, api):
    img = create_image(api, disk_format="raw", container_format="bare")
    upload(api, img["id"], b"a" * 100)
    before = image_state(spyglass_server, api, img["id"])
    assert before.document["status"] == "active" and len(before.files) == 1
    resp = api.put(f"/v2/images/{img['id']}/file", data=b"b" * 50, headers=OCTET)
    assert_error(resp, 409)
    assert_unchanged(spyglass_server, api, before)
    assert api.get(f"/v2/images/{img['id']}/file").content == b"a" * 100


@pytest.mark.parametrize(("key", "value"), [("disk_format", "qcow2"), ("disk_format", "raw"),
                                            ("container_format", "bare"), ("container_format", "ovf")])
@pytest.mark.parametrize("op", ["add", "replace"])
def test_formats_of_an_image_with_data_are_fixed(spyglass_server, api, key, value, op):
    """Its content was inspected as its disk_format: as Glance, neither format may be set again,
    not even to the value it has."""
    img = create_image(api, disk_format="raw", container_format="bare")
    upload(api, img["id"], b"a" * 100)
    before = image_state(spyglass_server, api, img["id"])
    resp = patch(api, img["id"], [{"op": "add", "path": "/name", "value": "renamed"},
                                  {"op": op, "path": f"/{key}", "value": value}])
    assert_error(resp, 403, f"Attribute {key} can be only replaced for a queued image.")
    assert_unchanged(spyglass_server, api, before)


def test_upload_to_a_deactivated_image(spyglass_server, api):
    admin = spyglass_server.session()
    admin.headers["Accept"] = "application/json"
    img = create_image(api, disk_format="raw", container_format="bare")
    upload(api, img["id"], b"a" * 100)
    assert api.post(f"/v2/images/{img['id']}/actions/deactivate").status_code == 204
    before = image_state(spyglass_server, admin, img["id"])
    assert_error(admin.put(f"/v2/images/{img['id']}/file", data=b"b" * 50, headers=OCTET), 409)
    assert_unchanged(spyglass_server, admin, before)


@pytest.mark.parametrize("formats", [{}, {"disk_format": "raw"}, {"container_format": "bare"}])
def test_upload_without_formats(spyglass_server, api, formats):
    img = create_image(api, **formats)
    before = image_state(spyglass_server, api, img["id"])
    resp = api.put(f"/v2/images/{img['id']}/file", data=b"x" * 100, headers=OCTET)
    assert_error(resp, 400, "disk_format", "container_format")
    assert_still_queued(spyglass_server, api, before)


def _chunks(data: bytes, size: int = 7):
    for i in range(0, len(data), size):
        yield data[i:i + size]


@pytest.mark.parametrize(("body", "headers"), [
    # Content-Length and the size hint disagree.
    (b"x" * 100, {"X-OpenStack-Image-Size": "99"}),
    (b"x" * 100, {"X-OpenStack-Image-Size": "101"}),
    (b"x" * 100, {"X-OpenStack-Image-Size": "abc"}),
    (b"x" * 100, {"X-OpenStack-Image-Size": "-100"}),
    # A chunked body shorter or longer than the size hint.
    (_chunks(b"x" * 100), {"X-OpenStack-Image-Size": "101"}),
    (_chunks(b"x" * 100), {"X-OpenStack-Image-Size": "99"}),
    (_chunks(b"x" * 100), {"X-OpenStack-Image-Size": "0"}),
], ids=["cl-gt-size", "cl-lt-size", "size-nan", "size-negative", "chunked-short", "chunked-long", "chunked-zero"])
def test_upload_size_mismatch(spyglass_server, api, queued, body, headers):
    resp = api.put(f"/v2/images/{queued.document['id']}/file", data=body, headers={**OCTET, **headers})
    assert_error(resp, 400)
    assert_still_queued(spyglass_server, api, queued, streamed=not isinstance(body, bytes))


def test_upload_larger_than_image_size_cap(new_server):
    server = new_server({"image_size_cap": 1000, "workers": 1})
    s = client(server)
    cases = [
        (b"x" * 1001, {}, False),                                            # Content-Length over the cap
        (_chunks(b"x" * 2000, 100), {}, True),                               # chunked, no size given
        (_chunks(b"x" * 10, 5), {"X-OpenStack-Image-Size": "5000"}, False),  # the hint over the cap
    ]
    for body, headers, streamed in cases:
        img = create_image(s, disk_format="raw", container_format="bare")
        before = image_state(server, s, img["id"])
        resp = s.put(f"/v2/images/{img['id']}/file", data=body, headers={**OCTET, **headers})
        assert_error(resp, 413)
        assert_still_queued(server, s, before, streamed=streamed)
    assert list((server.data_dir / "images").iterdir()) == []
    # Exactly at the cap is allowed.
    img = create_image(s, disk_format="raw", container_format="bare")
    upload(s, img["id"], b"y" * 1000)
    assert s.get(f"/v2/images/{img['id']}").json()["size"] == 1000


# -- downloads -----------------------------------------------------------------------------------------

DATA = bytes(range(100))


@pytest.fixture
def active(spyglass_server, api):
    img = create_image(api, disk_format="raw", container_format="bare")
    upload(api, img["id"], DATA)
    return image_state(spyglass_server, api, img["id"])


@pytest.mark.parametrize("header", ["bytes=0-9,20-29", "bytes=0-9, 20-29", "bytes=-5,-5"])
def test_download_several_ranges(spyglass_server, api, active, header):
    resp = api.get(f"/v2/images/{active.document['id']}/file", headers={"Range": header})
    assert_error(resp, 400, "range")
    assert_unchanged(spyglass_server, api, active)


# Malformed ranges are 416, as Glance answers them (tests/interop compares).
@pytest.mark.parametrize("header", ["bytes=100-", "bytes=100-200", "bytes=1000-2000", "bytes=-0", "bytes=abc",
                                    "bytes=5", "items=0-5", "bytes=-", "bytes=10-5", "0-5", "bytes=1-2-3",
                                    "bytes=0x10-20"])
def test_download_unsatisfiable_range(spyglass_server, api, active, header):
    resp = api.get(f"/v2/images/{active.document['id']}/file", headers={"Range": header})
    assert_error(resp, 416)
    assert resp.headers["Content-Range"] == "bytes */100"
    assert_unchanged(spyglass_server, api, active)


# -- unknown images and wrong methods -------------------------------------------------------------------

def endpoints(image_id: str) -> list[tuple[str, str, dict[str, object]]]:
    patch_body = {"data": json.dumps([{"op": "replace", "path": "/name", "value": "x"}]),
                  "headers": {"Content-Type": PATCH_21}}
    return [
        ("GET", f"/v2/images/{image_id}", {}),
        ("PATCH", f"/v2/images/{image_id}", patch_body),
        ("DELETE", f"/v2/images/{image_id}", {}),
        ("GET", f"/v2/images/{image_id}/file", {}),
        ("PUT", f"/v2/images/{image_id}/file", {"data": b"x" * 10, "headers": OCTET}),
        ("PUT", f"/v2/images/{image_id}/tags/t1", {}),
        ("DELETE", f"/v2/images/{image_id}/tags/t1", {}),
        ("GET", f"/v2/images/{image_id}/members", {}),
        ("POST", f"/v2/images/{image_id}/members", {"json": {"member": "p-x"}}),
        ("GET", f"/v2/images/{image_id}/members/p-x", {}),
        ("PUT", f"/v2/images/{image_id}/members/p-x", {"json": {"status": "accepted"}}),
        ("DELETE", f"/v2/images/{image_id}/members/p-x", {}),
        ("POST", f"/v2/images/{image_id}/actions/deactivate", {}),
        ("POST", f"/v2/images/{image_id}/actions/reactivate", {}),
    ]


@pytest.mark.parametrize("image_id", [MISSING_ID, "not-a-uuid", "DEADBEEF-0000-4000-8000-000000000000"])
@pytest.mark.parametrize(("method", "index"), [(e[0], i) for i, e in enumerate(endpoints("x"))],
                         ids=[f"{e[0]}-{e[1][12:] or 'image'}" for e in endpoints("")])
def test_unknown_image_is_404_everywhere(spyglass_server, api, project, image_id, method, index):
    _, path, kwargs = endpoints(image_id)[index]
    resp = api.request(method, path, **kwargs)
    assert_error(resp, 404)
    assert_no_images(spyglass_server, api, project)
    assert stored_files(spyglass_server, image_id) == []


def test_deleted_and_invisible_images_are_404_everywhere(spyglass_server, api):
    deleted = create_image(api, disk_format="raw", container_format="bare")
    upload(api, deleted["id"], b"d" * 10)
    assert api.delete(f"/v2/images/{deleted['id']}").status_code == 204
    backdate(spyglass_server, deleted["id"])
    deleted_rows = db_rows(spyglass_server, deleted["id"])
    private = create_image(api, visibility="private", disk_format="raw", container_format="bare")
    upload(api, private["id"], b"p" * 10)
    private_state = image_state(spyglass_server, api, private["id"])
    other = client(spyglass_server)
    for session, image_id in ((api, deleted["id"]), (other, private["id"])):
        for method, path, kwargs in endpoints(image_id):
            resp = session.request(method, path, **kwargs)
            assert resp.status_code == 404, (method, path, resp.status_code, resp.text)
            assert_error(resp, 404)
    assert db_rows(spyglass_server, deleted["id"]) == deleted_rows
    assert stored_files(spyglass_server, deleted["id"]) == []
    assert_unchanged(spyglass_server, api, private_state)


def test_unknown_path_is_404(api):
    assert_error(api.get("/v2/nothing-here"), 404)
    assert_error(api.get("/v2/images/x/y/z"), 404)


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("POST", "/v2/images/{id}", {"GET", "PATCH", "DELETE"}),
    ("PUT", "/v2/images/{id}", {"GET", "PATCH", "DELETE"}),
    ("PUT", "/v2/images", {"GET", "POST"}),
    ("PATCH", "/v2/images", {"GET", "POST"}),
    ("DELETE", "/v2/images", {"GET", "POST"}),
    ("POST", "/v2/images/{id}/file", {"GET", "PUT"}),
    ("DELETE", "/v2/images/{id}/file", {"GET", "PUT"}),
    ("PATCH", "/v2/images/{id}/file", {"GET", "PUT"}),
    ("GET", "/v2/images/{id}/tags/t1", {"PUT", "DELETE"}),
    ("POST", "/v2/images/{id}/tags/t1", {"PUT", "DELETE"}),
    ("GET", "/v2/images/{id}/actions/deactivate", {"POST"}),
    ("DELETE", "/v2/images/{id}/actions/reactivate", {"POST"}),
    ("PATCH", "/v2/images/{id}/members", {"GET", "POST"}),
    ("POST", "/v2/images/{id}/members/p-x", {"GET", "PUT", "DELETE"}),
    ("POST", "/v2/schemas/image", {"GET"}),
    ("PUT", "/v2/info/import", {"GET"}),
])
def test_wrong_method_is_405(spyglass_server, api, image, method, path, allowed):
    image_id = image.document["id"]
    resp = api.request(method, path.format(id=image_id), json={})
    assert_error(resp, 405, method)
    assert {m.strip() for m in resp.headers["Allow"].split(",")} >= allowed
    assert_unchanged(spyglass_server, api, image)


def test_plain_text_errors_for_clients_without_accept(spyglass_server, api, image):
    no_accept = {"Accept": None}
    image_id = image.document["id"]
    assert_plain_error(api.post("/v2/images", data="[1]", headers={**no_accept, "Content-Type": "application/json"}),
                       400)
    assert_plain_error(api.patch(f"/v2/images/{image_id}", headers={**no_accept, "Content-Type": PATCH_21},
                                 data=json.dumps([{"op": "remove", "path": "/nope"}])),
                       409, "Property nope does not exist.")
    assert_plain_error(api.patch(f"/v2/images/{image_id}", headers={**no_accept, "Content-Type": PATCH_21},
                                 data=json.dumps([{"op": "replace", "path": "/status", "value": "x"}])),
                       403, "Attribute 'status' is read-only.")
    assert_plain_error(api.put(f"/v2/images/{image_id}/file", data=b"x", headers={**no_accept,
                                                                                  "Content-Type": "text/plain"}),
                       415)
    assert_unchanged(spyglass_server, api, image)
