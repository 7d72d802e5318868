"""GET /v2/images against the real server: filters, sorting, limits, marker pagination and links.

Every test works in projects of its own (fresh UUIDs) and filters its listings by them, so the
tests stay independent of each other's images on the shared server.
"""
from __future__ import annotations

import time
import uuid
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests

from spyglass_testing import create_image, new_project

Params = list[tuple[str, str]]


def _uid() -> str:
    return uuid.uuid4().hex


_project = new_project


_create = create_image


def _upload(session: requests.Session, image_id: str, size: int) -> dict:
    resp = session.put(f"/v2/images/{image_id}/file", data=b"x" * size,
                       headers={"Content-Type": "application/octet-stream"})
    assert resp.status_code == 204, resp.text
    image = session.get(f"/v2/images/{image_id}").json()
    assert image["status"] == "active" and image["size"] == size
    return image


def _list(session: requests.Session, params: Params | dict[str, str] = ()) -> dict:
    resp = session.get("/v2/images", params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _ids(session: requests.Session, params: Params | dict[str, str]) -> list[str]:
    return [image["id"] for image in _list(session, params)["images"]]


def _pages(session: requests.Session, params: Params) -> list[dict]:
    """Follow `next` links from the first page to the last; every page's images, in order."""
    doc = _list(session, params)
    images = list(doc["images"])
    seen_links = set()
    while "next" in doc:
        assert doc["next"] not in seen_links, "pagination loops"
        seen_links.add(doc["next"])
        resp = session.get(doc["next"])
        assert resp.status_code == 200, resp.text
        doc = resp.json()
        images += doc["images"]
    return images


def _created_order_desc(images: list[dict]) -> list[str]:
    """Glance's default order: created_at descending, then id descending."""
    return [i["id"] for i in sorted(images, key=lambda i: (i["created_at"], i["id"]), reverse=True)]


# -- filters ----------------------------------------------------------------------------------------

def test_filter_by_name_exact_and_in_list(spyglass_server):
    project, s = _project(spyglass_server)
    prefix = _uid()[:10]
    a = _create(s, name=f"{prefix}-a")
    b = _create(s, name=f"{prefix}-b")
    c = _create(s, name=f"{prefix}-c")
    comma = _create(s, name=f"{prefix}-x,y")
    mine = [("owner", project)]

    assert _ids(s, [*mine, ("name", f"{prefix}-a")]) == [a["id"]]
    assert _ids(s, [("name", f"{prefix}-b")]) == [b["id"]]
    assert _ids(s, [("name", prefix)]) == []  # exact match, no prefix search
    assert set(_ids(s, [*mine, ("name", f'in:"{prefix}-a","{prefix}-c"')])) == {a["id"], c["id"]}
    assert set(_ids(s, [*mine, ("name", f"in:{prefix}-a,{prefix}-b")])) == {a["id"], b["id"]}
    # A quoted value keeps its comma.
    assert set(_ids(s, [*mine, ("name", f'in:"{prefix}-x,y",{prefix}-c')])) == {comma["id"], c["id"]}
    assert _ids(s, [*mine, ("name", f'in:"{prefix}-zzz"')]) == []
    # An empty list selects nothing, even an image named ""; a final comma adds no value.
    unnamed = _create(s, name="")
    assert _ids(s, [*mine, ("name", "in:")]) == []
    assert _ids(s, [*mine, ("name", f"in:{prefix}-a,")]) == [a["id"]]
    assert set(_ids(s, [*mine, ("name", f"in:,{prefix}-a")])) == {a["id"], unnamed["id"]}


def test_filter_by_id_in_list(spyglass_server):
    _, s = _project(spyglass_server)
    images = [_create(s, name=f"idin-{_uid()}") for _ in range(3)]
    wanted = [images[0]["id"], images[2]["id"]]
    assert set(_ids(s, [("id", "in:" + ",".join(wanted))])) == set(wanted)
    assert _ids(s, [("id", images[1]["id"])]) == [images[1]["id"]]
    # Another project's private image stays out even when asked for by ID.
    _, other = _project(spyglass_server)
    hidden = _create(other, name=f"idin-{_uid()}", visibility="private")
    assert set(_ids(s, [("id", f"in:{images[0]['id']},{hidden['id']}")])) == {images[0]["id"]}


def test_filter_by_status(spyglass_server):
    project, s = _project(spyglass_server)
    active = _create(s, name=f"st-{_uid()}")
    _upload(s, active["id"], 64)
    queued = _create(s, name=f"st-{_uid()}")
    mine = [("owner", project)]
    assert _ids(s, [*mine, ("status", "active")]) == [active["id"]]
    assert _ids(s, [*mine, ("status", "queued")]) == [queued["id"]]
    assert set(_ids(s, [*mine, ("status", "in:active,queued")])) == {active["id"], queued["id"]}
    assert _ids(s, [*mine, ("status", "saving")]) == []


def test_filter_by_owner(spyglass_server):
    admin = spyglass_server.session()
    p1, s1 = _project(spyglass_server)
    p2, s2 = _project(spyglass_server)
    one = _create(s1, name=f"own-{_uid()}", visibility="private")
    two = _create(s2, name=f"own-{_uid()}", visibility="private")
    assert _ids(admin, {"owner": p1}) == [one["id"]]
    assert _ids(admin, {"owner": p2}) == [two["id"]]
    assert _ids(s1, {"owner": p1}) == [one["id"]]
    # A project filtering on someone else's private images finds nothing.
    assert _ids(s1, {"owner": p2}) == []


def test_filter_by_visibility_as_owner_and_as_other_project(spyglass_server):
    admin = spyglass_server.session()
    owner, s = _project(spyglass_server)
    private = _create(s, name=f"vis-{_uid()}", visibility="private")
    shared = _create(s, name=f"vis-{_uid()}", visibility="shared")
    community = _create(s, name=f"vis-{_uid()}", visibility="community")
    public = _create(s, name=f"vis-{_uid()}", visibility="private")
    resp = admin.patch(f"/v2/images/{public['id']}", json=[{"op": "replace", "path": "/visibility", "value": "public"}],
                       headers={"Content-Type": "application/openstack-images-v2.1-json-patch"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["visibility"] == "public"
    mine = [("owner", owner)]

    assert _ids(s, [*mine, ("visibility", "private")]) == [private["id"]]
    assert _ids(s, [*mine, ("visibility", "shared")]) == [shared["id"]]
    assert _ids(s, [*mine, ("visibility", "community")]) == [community["id"]]
    assert _ids(s, [*mine, ("visibility", "public")]) == [public["id"]]
    everything = {private["id"], shared["id"], community["id"], public["id"]}
    assert set(_ids(s, [*mine, ("visibility", "all")])) == everything
    # The owner's default listing includes its own community image (as Glance's does).
    assert set(_ids(s, mine)) == everything

    _, other = _project(spyglass_server)
    assert _ids(other, mine) == [public["id"]]
    assert _ids(other, [*mine, ("visibility", "community")]) == [community["id"]]
    assert set(_ids(other, [*mine, ("visibility", "all")])) == {public["id"], community["id"]}
    assert _ids(other, [*mine, ("visibility", "private")]) == []
    assert _ids(other, [*mine, ("visibility", "shared")]) == []


@pytest.mark.parametrize("value", ["bogus", "PUBLIC"])
def test_bad_visibility_filter_is_400(spyglass_server, value):
    _, s = _project(spyglass_server)
    resp = s.get("/v2/images", params={"visibility": value})
    assert resp.status_code == 400
    assert f"Invalid visibility value: {value}" in resp.text


def test_tag_filters_and_repeated_tags_mean_all_of_them(spyglass_server):
    project, s = _project(spyglass_server)
    red, blue = f"red-{_uid()}", f"blue-{_uid()}"
    both = _create(s, name=f"tag-{_uid()}", tags=[red, blue])
    only_red = _create(s, name=f"tag-{_uid()}", tags=[red])
    only_blue = _create(s, name=f"tag-{_uid()}", tags=[blue])
    _create(s, name=f"tag-{_uid()}")

    assert set(_ids(s, [("tag", red)])) == {both["id"], only_red["id"]}
    assert set(_ids(s, [("tag", blue)])) == {both["id"], only_blue["id"]}
    assert _ids(s, [("tag", red), ("tag", blue)]) == [both["id"]]
    assert _ids(s, [("owner", project), ("tag", red), ("tag", f"green-{_uid()}")]) == []
    # Surrounding spaces are no part of the tag filtered on (as Glance strips them).
    assert set(_ids(s, [("tag", f" {red}  ")])) == {both["id"], only_red["id"]}
    # A tag added later is found; a removed one no longer matches.
    assert s.put(f"/v2/images/{only_blue['id']}/tags/{red}").status_code == 204
    assert set(_ids(s, [("tag", red), ("tag", blue)])) == {both["id"], only_blue["id"]}
    assert s.delete(f"/v2/images/{both['id']}/tags/{red}").status_code == 204
    assert _ids(s, [("tag", red), ("tag", blue)]) == [only_blue["id"]]


def test_size_min_and_size_max_are_inclusive(spyglass_server):
    project, s = _project(spyglass_server)
    by_size = {}
    for size in (10, 20, 30):
        image = _create(s, name=f"size-{_uid()}")
        _upload(s, image["id"], size)
        by_size[size] = image["id"]
    _create(s, name=f"size-{_uid()}")  # queued, no size: never matches a size filter
    mine = [("owner", project)]

    assert set(_ids(s, [*mine, ("size_min", "20")])) == {by_size[20], by_size[30]}
    assert set(_ids(s, [*mine, ("size_max", "20")])) == {by_size[10], by_size[20]}
    assert _ids(s, [*mine, ("size_min", "15"), ("size_max", "25")]) == [by_size[20]]
    assert _ids(s, [*mine, ("size_min", "20"), ("size_max", "20")]) == [by_size[20]]
    assert _ids(s, [*mine, ("size_min", "31")]) == []
    assert len(_ids(s, mine)) == 4


def test_filter_by_disk_and_container_format(spyglass_server):
    project, s = _project(spyglass_server)
    qcow = _create(s, name=f"fmt-{_uid()}", disk_format="qcow2", container_format="ovf")
    raw = _create(s, name=f"fmt-{_uid()}", disk_format="raw", container_format="bare")
    iso = _create(s, name=f"fmt-{_uid()}", disk_format="iso", container_format="bare")
    mine = [("owner", project)]
    assert _ids(s, [*mine, ("disk_format", "qcow2")]) == [qcow["id"]]
    assert _ids(s, [*mine, ("disk_format", "raw")]) == [raw["id"]]
    assert _ids(s, [*mine, ("container_format", "ovf")]) == [qcow["id"]]
    assert set(_ids(s, [*mine, ("container_format", "bare")])) == {raw["id"], iso["id"]}
    assert _ids(s, [*mine, ("container_format", "bare"), ("disk_format", "iso")]) == [iso["id"]]
    assert _ids(s, [*mine, ("disk_format", "vmdk")]) == []


def test_filter_by_protected(spyglass_server):
    project, s = _project(spyglass_server)
    guarded = _create(s, name=f"prot-{_uid()}", protected=True)
    loose = _create(s, name=f"prot-{_uid()}")
    mine = [("owner", project)]
    assert _ids(s, [*mine, ("protected", "true")]) == [guarded["id"]]
    assert _ids(s, [*mine, ("protected", "false")]) == [loose["id"]]


def test_hidden_images_are_left_out_unless_asked_for(spyglass_server):
    project, s = _project(spyglass_server)
    hidden = _create(s, name=f"hid-{_uid()}", os_hidden=True)
    shown = _create(s, name=f"hid-{_uid()}")
    mine = [("owner", project)]
    assert _ids(s, mine) == [shown["id"]]
    assert _ids(s, [*mine, ("os_hidden", "true")]) == [hidden["id"]]
    assert _ids(s, [*mine, ("os_hidden", "false")]) == [shown["id"]]
    assert _ids(s, [*mine, ("visibility", "all")]) == [shown["id"]]
    # Hidden from lists, not from those who ask for it by ID.
    assert s.get(f"/v2/images/{hidden['id']}").json()["os_hidden"] is True
    assert _ids(s, [("name", hidden["name"])]) == []


def test_bad_os_hidden_filter_is_400(spyglass_server):
    _, s = _project(spyglass_server)
    resp = s.get("/v2/images", params={"os_hidden": "maybe"})
    assert resp.status_code == 400


def test_created_at_and_updated_at_operators(spyglass_server):
    project, s = _project(spyglass_server)
    first = _create(s, name=f"time-{_uid()}")
    time.sleep(1.1)
    second = _create(s, name=f"time-{_uid()}")
    assert first["created_at"] < second["created_at"]
    mine = [("owner", project)]

    def created(op: str, image: dict) -> set[str]:
        return set(_ids(s, [*mine, ("created_at", f"{op}:{image['created_at']}")]))

    assert created("gt", first) == {second["id"]}
    assert created("gte", first) == {first["id"], second["id"]}
    assert created("lt", second) == {first["id"]}
    assert created("lte", second) == {first["id"], second["id"]}
    assert created("eq", first) == {first["id"]}
    assert created("neq", first) == {second["id"]}
    assert created("gt", second) == set()

    time.sleep(1.1)
    resp = s.patch(f"/v2/images/{first['id']}", json=[{"op": "replace", "path": "/name", "value": f"time-{_uid()}"}],
                   headers={"Content-Type": "application/openstack-images-v2.1-json-patch"})
    assert resp.status_code == 200, resp.text
    touched = resp.json()
    assert touched["updated_at"] > second["updated_at"]

    def updated(op: str, when: str) -> set[str]:
        return set(_ids(s, [*mine, ("updated_at", f"{op}:{when}")]))

    assert updated("gt", second["updated_at"]) == {first["id"]}
    assert updated("lte", second["updated_at"]) == {second["id"]}
    assert updated("eq", touched["updated_at"]) == {first["id"]}
    assert updated("neq", touched["updated_at"]) == {second["id"]}
    # Both operators at once: a range.
    assert set(_ids(s, [*mine, ("created_at", f"gte:{first['created_at']}"),
                        ("updated_at", f"lt:{touched['updated_at']}")])) == {second["id"]}


@pytest.mark.parametrize("value", ["bogus", "foo:2020-01-01T00:00:00Z", "gt:not-a-time"])
def test_bad_time_filter_is_400(spyglass_server, value):
    _, s = _project(spyglass_server)
    assert s.get("/v2/images", params={"created_at": value}).status_code == 400


def test_custom_property_filter(spyglass_server):
    project, s = _project(spyglass_server)
    distro = f"distro-{_uid()}"
    ubuntu = _create(s, name=f"prop-{_uid()}", os_distro=distro, os_version="24.04")
    older = _create(s, name=f"prop-{_uid()}", os_distro=distro, os_version="22.04")
    _create(s, name=f"prop-{_uid()}", os_distro=f"other-{_uid()}")
    _create(s, name=f"prop-{_uid()}")

    assert set(_ids(s, [("os_distro", distro)])) == {ubuntu["id"], older["id"]}
    assert _ids(s, [("os_distro", distro), ("os_version", "24.04")]) == [ubuntu["id"]]
    assert _ids(s, [("owner", project), ("os_version", "20.04")]) == []
    assert _ids(s, [("owner", project), (f"unset_{_uid()[:8]}", "x")]) == []


# -- sorting ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sortable(spyglass_server) -> tuple[str, requests.Session, list[dict]]:
    """Images with repeated names and sizes, created across several seconds."""
    project, s = _project(spyglass_server)
    images = []
    for index, (name, size) in enumerate([("b", 30), ("a", 10), ("c", 20), ("a", 30), ("b", 10), ("c", 40)]):
        if index in (2, 4):
            time.sleep(1.05)
        image = _create(s, name=f"sort-{project[:6]}-{name}")
        images.append(_upload(s, image["id"], size))
    return project, s, images


def test_default_sort_is_created_at_descending(sortable):
    project, s, images = sortable
    assert _ids(s, {"owner": project}) == _created_order_desc(images)


def _expected(images: list[dict], *keys: tuple[str, str]) -> list[str]:
    """Sort by keys with per-key directions (stable sorts from the last key to the first)."""
    ordered = list(images)
    for key, direction in reversed(keys):
        ordered.sort(key=lambda i: i[key], reverse=direction == "desc")
    return [i["id"] for i in ordered]


def test_sort_key_and_sort_dir_repeated(sortable):
    project, s, images = sortable
    got = _ids(s, [("owner", project), ("sort_key", "name"), ("sort_dir", "asc"), ("sort_key", "size"),
                   ("sort_dir", "desc")])
    assert got == _expected(images, ("name", "asc"), ("size", "desc"), ("created_at", "desc"), ("id", "desc"))
    # One sort_dir applies to every key (and to Glance's created_at, id tie-breakers).
    got = _ids(s, [("owner", project), ("sort_key", "name"), ("sort_key", "size"), ("sort_dir", "asc")])
    assert got == _expected(images, ("name", "asc"), ("size", "asc"), ("created_at", "asc"), ("id", "asc"))


def test_sort_parameter_with_directions(sortable):
    project, s, images = sortable
    got = _ids(s, [("owner", project), ("sort", "name:asc,size:desc")])
    assert got == _expected(images, ("name", "asc"), ("size", "desc"), ("created_at", "desc"), ("id", "desc"))
    got = _ids(s, [("owner", project), ("sort", "size:asc,name:desc")])
    assert got == _expected(images, ("size", "asc"), ("name", "desc"), ("created_at", "desc"), ("id", "desc"))


def test_a_sort_key_given_again_changes_nothing(sortable):
    """As Glance: the first direction of a key orders; a repeat (even the other way) is ignored."""
    project, s, images = sortable
    got = _ids(s, [("owner", project), ("sort", "name:asc,size:desc,name:desc")])
    assert got == _expected(images, ("name", "asc"), ("size", "desc"), ("created_at", "desc"), ("id", "desc"))
    got = _ids(s, [("owner", project), ("sort_key", "size"), ("sort_key", "size"), ("sort_dir", "asc")])
    assert got == _expected(images, ("size", "asc"), ("created_at", "asc"), ("id", "asc"))


def test_sort_ties_broken_by_created_at_then_id_in_glances_default_direction(spyglass_server):
    """Glance appends created_at and id to the sort keys, in the direction of a single given
    sort_dir (or descending), so images with equal keys come in a documented order."""
    project, s = _project(spyglass_server)
    name = f"tie-{_uid()}"
    # The older image gets the larger ID, so ordering by ID alone would give the opposite answer.
    older = _create(s, name=name, id=str(uuid.UUID("ffffffff" + _uid()[8:])))
    time.sleep(1.1)
    newer = _create(s, name=name, id=str(uuid.UUID("00000000" + _uid()[8:])))
    assert older["created_at"] < newer["created_at"]
    mine = [("owner", project)]
    assert _ids(s, [*mine, ("sort_key", "name"), ("sort_dir", "asc")]) == [older["id"], newer["id"]]
    assert _ids(s, [*mine, ("sort_key", "name")]) == [newer["id"], older["id"]]
    assert _ids(s, [*mine, ("sort", "name:asc")]) == [older["id"], newer["id"]]
    assert _ids(s, [*mine, ("sort", "name:asc,status:asc")]) == [newer["id"], older["id"]]
    # Pagination follows the same order.
    assert [i["id"] for i in _pages(s, [*mine, ("sort_key", "name"), ("sort_dir", "asc"), ("limit", "1")])] \
        == [older["id"], newer["id"]]


@pytest.mark.parametrize("params", [
    [("sort_key", "bogus")], [("sort", "bogus:asc")], [("sort_dir", "sideways")], [("sort", "name:sideways")],
    [("sort", "name"), ("sort_key", "name")],
    [("sort_key", "name"), ("sort_key", "size"), ("sort_key", "id"), ("sort_dir", "asc"), ("sort_dir", "desc")],
])
def test_bad_sort_is_400(spyglass_server, params):
    _, s = _project(spyglass_server)
    assert s.get("/v2/images", params=params).status_code == 400


# -- limits -----------------------------------------------------------------------------------------

def test_default_limit_is_25(spyglass_server):
    project, s = _project(spyglass_server)
    created = [_create(s, name=f"many-{_uid()}")["id"] for _ in range(27)]
    doc = _list(s, {"owner": project})
    assert len(doc["images"]) == 25
    assert doc["next"] == f"/v2/images?owner={project}&marker={doc['images'][-1]['id']}"
    rest = s.get(doc["next"]).json()
    assert len(rest["images"]) == 2
    assert "next" not in rest
    assert sorted(i["id"] for i in doc["images"] + rest["images"]) == sorted(created)
    assert len(_ids(s, {"owner": project, "limit": "27"})) == 27


def test_limit_is_capped_at_api_limit_max(new_server):
    server = new_server({"api_limit_max": 5})
    project, s = _project(server)
    created = [_create(s, name=f"cap-{_uid()}")["id"] for _ in range(8)]

    doc = _list(s, {"owner": project, "limit": "100"})
    assert len(doc["images"]) == 5
    assert doc["next"] == f"/v2/images?owner={project}&limit=100&marker={doc['images'][-1]['id']}"
    # The default page size (25) is capped too.
    default_page = _list(s, {"owner": project})
    assert len(default_page["images"]) == 5
    assert "next" in default_page
    # Paging through with the too-large limit still yields every image once.
    assert sorted(i["id"] for i in _pages(s, [("owner", project), ("limit", "100")])) == sorted(created)
    assert sorted(i["id"] for i in _pages(s, [("owner", project)])) == sorted(created)


@pytest.mark.parametrize("value", ["-1", "abc", "1.5"])
def test_bad_limit_is_400(spyglass_server, value):
    _, s = _project(spyglass_server)
    assert s.get("/v2/images", params={"limit": value}).status_code == 400


def test_limit_zero_gives_an_empty_page_without_next(spyglass_server):
    project, s = _project(spyglass_server)
    _create(s, name=f"zero-{_uid()}")
    doc = _list(s, {"owner": project, "limit": "0"})
    assert doc == {"images": [], "first": f"/v2/images?owner={project}&limit=0", "schema": "/v2/schemas/images"}


# -- marker pagination ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def paged(spyglass_server) -> tuple[str, requests.Session, list[dict]]:
    """23 images: some without a name, some without data (NULL size), repeated names and sizes."""
    project, s = _project(spyglass_server)
    images = []
    for index in range(23):
        attrs: dict[str, object] = {}
        if index % 4 != 0:
            attrs["name"] = f"page-{project[:6]}-{index % 5}"
        image = _create(s, **attrs)
        if index % 3 != 0:
            image = _upload(s, image["id"], 1 + index % 4)
        images.append(image)
        if index in (7, 15):
            time.sleep(1.05)
    names = [i["name"] for i in images]
    sizes = [i["size"] for i in images]
    assert None in names and None in sizes and len(set(names)) < len(names)
    return project, s, images


@pytest.mark.parametrize("sort", [
    [],
    [("sort", "name:asc")],
    [("sort", "name:desc")],
    [("sort", "size:asc")],
    [("sort", "size:desc")],
    [("sort_key", "name"), ("sort_dir", "asc"), ("sort_key", "size"), ("sort_dir", "desc")],
    [("sort_key", "size"), ("sort_key", "name")],
    [("sort", "status:asc,name:desc,size:asc")],
    [("sort", "id:asc")],
    [("sort", "updated_at:asc")],
])
@pytest.mark.parametrize("limit", ["1", "4", "7"])
def test_marker_pages_have_no_duplicates_and_no_gaps(paged, sort, limit):
    project, s, images = paged
    params = [("owner", project), *sort]
    whole = _ids(s, [*params, ("limit", "1000")])
    assert sorted(whole) == sorted(i["id"] for i in images)
    paged_ids = [i["id"] for i in _pages(s, [*params, ("limit", limit)])]
    assert paged_ids == whole


def test_nulls_sort_where_the_database_sorts_them(spyglass_server, paged):
    """As Glance, which leaves it to the database: NULL first ascending and last descending on
    SQLite and MariaDB, the other way round on PostgreSQL."""
    nulls_high = spyglass_server.database_url.startswith("postgresql")
    project, s, images = paged
    for key in ("name", "size"):
        nulls = sum(1 for i in images if i[key] is None)
        for direction in ("asc", "desc"):
            got = [i[key] for i in _list(s, [("owner", project), ("sort", f"{key}:{direction}"),
                                             ("limit", "100")])["images"]]
            values = sorted((v for v in got if v is not None), reverse=direction == "desc")
            nulls_first = (direction == "asc") != nulls_high
            assert got == ([None] * nulls + values if nulls_first else values + [None] * nulls), (key, direction)


def test_links_first_next_and_schema(spyglass_server):
    project, s = _project(spyglass_server)
    for _ in range(5):
        _create(s, name=f"link-{_uid()}")
    params = [("owner", project), ("limit", "2"), ("sort", "name:asc")]
    first = "/v2/images?" + urlencode(params)
    assert first == f"/v2/images?owner={project}&limit=2&sort=name%3Aasc"

    doc = _list(s, params)
    assert doc["first"] == first
    assert doc["schema"] == "/v2/schemas/images"
    assert doc["next"] == f"{first}&marker={doc['images'][-1]['id']}"
    assert set(doc) == {"images", "first", "next", "schema"}

    seen = [i["id"] for i in doc["images"]]
    page2 = s.get(doc["next"]).json()
    # `first` never carries the marker; `next` carries every other parameter plus the new marker.
    assert page2["first"] == first
    assert page2["next"] == f"{first}&marker={page2['images'][-1]['id']}"
    seen += [i["id"] for i in page2["images"]]
    page3 = s.get(page2["next"]).json()
    assert len(page3["images"]) == 1
    assert "next" not in page3
    assert page3["first"] == first
    seen += [i["id"] for i in page3["images"]]
    assert seen == _ids(s, [("owner", project), ("sort", "name:asc")])

    # A marker given before other parameters moves to the end of `next` and out of `first`.
    doc = _list(s, [("marker", seen[1]), ("owner", project), ("limit", "2"), ("sort", "name:asc")])
    assert [i["id"] for i in doc["images"]] == seen[2:4]
    assert doc["first"] == first
    assert doc["next"] == f"{first}&marker={seen[3]}"
    # Values are URL-encoded the way Glance encodes them (quote_plus).
    doc = _list(s, [("name", "in:a b,c"), ("limit", "3")])
    assert doc["first"] == "/v2/images?name=in%3Aa+b%2Cc&limit=3"


def test_links_without_parameters(spyglass_server):
    doc = _list(spyglass_server.session(), {})
    assert doc["first"] == "/v2/images"
    assert doc["schema"] == "/v2/schemas/images"


def test_a_full_last_page_still_has_next_and_the_page_after_is_empty(spyglass_server):
    """Glance offers `next` whenever a page is full, so the page after an exact multiple is empty."""
    project, s = _project(spyglass_server)
    for _ in range(4):
        _create(s, name=f"full-{_uid()}")
    page1 = _list(s, {"owner": project, "limit": "2"})
    page2 = s.get(page1["next"]).json()
    assert len(page2["images"]) == 2 and "next" in page2
    page3 = s.get(page2["next"]).json()
    assert page3["images"] == [] and "next" not in page3


def test_next_link_keeps_repeated_parameters(spyglass_server):
    project, s = _project(spyglass_server)
    red, blue = f"r-{_uid()}", f"b-{_uid()}"
    for _ in range(3):
        _create(s, name=f"rep-{_uid()}", tags=[red, blue])
    doc = _list(s, [("tag", red), ("tag", blue), ("limit", "2")])
    assert len(doc["images"]) == 2
    query = parse_qsl(urlsplit(doc["next"]).query)
    assert query == [("tag", red), ("tag", blue), ("limit", "2"), ("marker", doc["images"][-1]["id"])]
    assert len(s.get(doc["next"]).json()["images"]) == 1


@pytest.mark.parametrize("marker", ["garbage", "deadbeef-0000-4000-8000-000000000000", "random"])
def test_unknown_marker_is_400(spyglass_server, marker):
    _, s = _project(spyglass_server)
    marker = str(uuid.uuid4()) if marker == "random" else marker
    resp = s.get("/v2/images", params={"marker": marker})
    assert resp.status_code == 400
    assert f"No image found with ID {marker}" in resp.text


def test_deleted_image_as_marker_is_400_except_for_an_admin(spyglass_server):
    """An admin pages on from where a deleted image stood, as Glance lets admins do."""
    project, s = _project(spyglass_server)
    images = [_create(s, name=f"gone-{_uid()}") for _ in range(3)]
    assert s.delete(f"/v2/images/{images[1]['id']}").status_code == 204
    resp = s.get("/v2/images", params={"marker": images[1]["id"]})
    assert resp.status_code == 400
    assert f"No image found with ID {images[1]['id']}" in resp.text
    admin = spyglass_server.session()
    after = _ids(admin, {"owner": project, "marker": images[1]["id"], "sort": "name:asc"})
    assert after == [i["id"] for i in sorted(images, key=lambda i: i["name"]) if i["name"] > images[1]["name"]]
