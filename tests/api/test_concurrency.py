"""Requests racing on one image through the server's worker processes and threads: each race must
end as if the requests had come one after the other (one winner where only one can win, nothing
lost where all can), and never with a 5xx. CI runs these on SQLite, PostgreSQL and MariaDB."""
from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest
import requests

from imagecheck import db_rows

from spyglass_testing import SpyglassServer, create_image, make_server, new_project

PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
OCTETS = {"Content-Type": "application/octet-stream"}
QUOTA = 3
RACERS = 8  # more than the server's workers × a few threads: requests queue and interleave
ROUNDS = 5  # races are won by timing: each is run a few times

T = TypeVar("T")


def at_once(server: SpyglassServer, project: str, request: Callable[[requests.Session, int], T]) -> list[T]:
    """Run request(session, i) for i in range(RACERS) on as many threads, each with a session of
    its own (as the given project), released together."""
    sessions = [server.session(project_id=project) for _ in range(RACERS)]
    start = threading.Barrier(RACERS)

    def run(i: int) -> T:
        start.wait()
        return request(sessions[i], i)

    with ThreadPoolExecutor(RACERS) as pool:
        return list(pool.map(run, range(RACERS)))


def statuses(responses: list[requests.Response]) -> Counter[int]:
    found = Counter(resp.status_code for resp in responses)
    assert not [code for code in found if code >= 500], [r.text for r in responses if r.status_code >= 500]
    return found


@pytest.fixture(scope="module")
def small_quotas(spyglass_server: SpyglassServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SpyglassServer]:
    """A second server on the shared server's database, allowing QUOTA properties, tags and
    members per image."""
    server = make_server(tmp_path_factory.mktemp("small-quotas"), {
        "workers": 2, "threads": 8, "database.connection": spyglass_server.database_url,
        "image_property_quota": QUOTA, "image_tag_quota": QUOTA, "image_member_quota": QUOTA})
    server.start()
    yield server
    server.stop()


@pytest.fixture
def owner(spyglass_server: SpyglassServer) -> tuple[str, requests.Session]:
    return new_project(spyglass_server)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_one_of_simultaneous_uploads_wins_and_its_bytes_are_stored(spyglass_server, owner, round_):
    project, session = owner
    image = create_image(session, name="raced-upload")
    bodies = [os.urandom(512 * 1024 + i) for i in range(RACERS)]
    answers = at_once(spyglass_server, project, lambda s, i: s.put(f"/v2/images/{image['id']}/file",
                                                                  data=bodies[i], headers=OCTETS))
    assert statuses(answers) == {204: 1, 409: RACERS - 1}
    winner = bodies[[resp.status_code for resp in answers].index(204)]
    shown = session.get(f"/v2/images/{image['id']}").json()
    assert (shown["status"], shown["size"], shown["checksum"], shown["os_hash_value"]) == \
        ("active", len(winner), hashlib.md5(winner).hexdigest(), hashlib.sha512(winner).hexdigest())
    assert session.get(f"/v2/images/{image['id']}/file").content == winner
    assert sorted(p.name for p in (spyglass_server.data_dir / "images").iterdir()
                  if p.name.startswith(image["id"])) == [image["id"]]


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_one_of_simultaneous_deletes_wins(spyglass_server, owner, round_):
    project, session = owner
    image = create_image(session, name="raced-delete", tags=["t"], color="red")
    assert session.put(f"/v2/images/{image['id']}/file", data=b"x" * 4096, headers=OCTETS).status_code == 204
    answers = at_once(spyglass_server, project, lambda s, i: s.delete(f"/v2/images/{image['id']}"))
    assert statuses(answers) == {204: 1, 404: RACERS - 1}
    assert session.get(f"/v2/images/{image['id']}").status_code == 404
    assert not (spyglass_server.data_dir / "images" / image["id"]).exists()


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_a_tag_added_at_once_is_kept_once(spyglass_server, owner, round_):
    project, session = owner
    image = create_image(session, name="raced-tag")
    answers = at_once(spyglass_server, project, lambda s, i: s.put(f"/v2/images/{image['id']}/tags/same"))
    assert statuses(answers) == {204: RACERS}
    assert session.get(f"/v2/images/{image['id']}").json()["tags"] == ["same"]
    listed = session.get(f"/v2/images?id={image['id']}").json()["images"]
    assert [found["tags"] for found in listed] == [["same"]]
    # One DELETE takes it away for good: no twin row left behind to bring it back.
    assert session.delete(f"/v2/images/{image['id']}/tags/same").status_code == 204
    assert session.get(f"/v2/images/{image['id']}").json()["tags"] == []


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_different_tags_and_properties_written_at_once_are_all_kept(spyglass_server, owner, round_):
    project, session = owner
    image = create_image(session, name="raced-edits")

    def edit(s: requests.Session, i: int) -> requests.Response:
        if i % 2:
            return s.put(f"/v2/images/{image['id']}/tags/tag-{i}")
        return s.patch(f"/v2/images/{image['id']}", headers=PATCH,
                       data=f'[{{"op": "add", "path": "/prop_{i}", "value": "v{i}"}}]')

    answers = at_once(spyglass_server, project, edit)
    assert statuses(answers) == {204: RACERS // 2, 200: RACERS // 2}
    shown = session.get(f"/v2/images/{image['id']}").json()
    assert sorted(shown["tags"]) == sorted(f"tag-{i}" for i in range(1, RACERS, 2))
    assert {key: shown.get(key) for key in (f"prop_{i}" for i in range(0, RACERS, 2))} == \
        {f"prop_{i}": f"v{i}" for i in range(0, RACERS, 2)}


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_a_property_added_at_once_ends_with_one_of_the_values(spyglass_server, owner, round_):
    project, session = owner
    image = create_image(session, name="raced-property")
    answers = at_once(spyglass_server, project, lambda s, i: s.patch(
        f"/v2/images/{image['id']}", headers=PATCH, data=f'[{{"op": "add", "path": "/same", "value": "v{i}"}}]'))
    # "add" of a property that exists replaces it (RFC 6902, and Glance): every request succeeds.
    assert statuses(answers) == {200: RACERS}
    assert session.get(f"/v2/images/{image['id']}").json()["same"] in {f"v{i}" for i in range(RACERS)}
    assert session.patch(f"/v2/images/{image['id']}", headers=PATCH,
                         data='[{"op": "remove", "path": "/same"}]').status_code == 200
    assert "same" not in session.get(f"/v2/images/{image['id']}").json()


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_a_member_added_at_once_is_added_once(spyglass_server, owner, round_):
    project, session = owner
    image = create_image(session, name="raced-member", visibility="shared")
    member = uuid.uuid4().hex
    answers = at_once(spyglass_server, project, lambda s, i: s.post(f"/v2/images/{image['id']}/members",
                                                                   json={"member": member}))
    assert statuses(answers) == {200: 1, 409: RACERS - 1}
    members = session.get(f"/v2/images/{image['id']}/members").json()["members"]
    assert [(m["member_id"], m["status"]) for m in members] == [(member, "pending")]
    # Removed once, it is gone: no twin membership left behind.
    assert session.delete(f"/v2/images/{image['id']}/members/{member}").status_code == 204
    assert session.get(f"/v2/images/{image['id']}/members").json()["members"] == []


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_an_id_created_at_once_is_taken_once(spyglass_server, owner, round_):
    project, _ = owner
    image_id = str(uuid.uuid4())
    answers = at_once(spyglass_server, project, lambda s, i: s.post(
        "/v2/images", json={"id": image_id, "name": f"racer-{i}", "disk_format": "raw", "container_format": "bare"}))
    assert statuses(answers) == {201: 1, 409: RACERS - 1}
    winner = [resp.json()["name"] for resp in answers if resp.status_code == 201]
    assert spyglass_server.session(project_id=project).get(f"/v2/images/{image_id}").json()["name"] == winner[0]


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_a_delete_racing_with_tags_and_members_leaves_nothing_live(spyglass_server, owner, round_):
    project, session = owner
    image = create_image(session, name="raced-away", visibility="shared", tags=["first"])
    url = f"/v2/images/{image['id']}"

    def write(s: requests.Session, i: int) -> requests.Response:
        if i == RACERS // 2:
            return s.delete(url)
        if i % 2:
            return s.put(f"{url}/tags/tag-{i}")
        return s.post(f"{url}/members", json={"member": uuid.uuid4().hex})

    answers = at_once(spyglass_server, project, write)
    assert answers[RACERS // 2].status_code == 204
    assert set(statuses(answers)) <= {200, 204, 404}
    # Whatever came after the delete found no image; what came before went with it.
    rows = db_rows(spyglass_server, image["id"])
    assert rows["images"][0]["status"] == "deleted"
    assert all(row[-1] for row in rows["tags"] + rows["members"]), rows
    assert session.get(url).status_code == 404


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_quotas_hold_against_additions_at_once(small_quotas, round_):
    """One place left under each quota, and RACERS requests each taking it with a different name:
    one wins, the others are refused, and the image ends at the quota, not past it."""
    project, session = new_project(small_quotas)
    image = create_image(session, name="raced-quota", visibility="shared", tags=["t0", "t1"], p0="0", p1="1")
    url = f"/v2/images/{image['id']}"
    for member in ("m0", "m1"):
        assert session.post(f"{url}/members", json={"member": member}).status_code == 200

    tags = at_once(small_quotas, project, lambda s, i: s.put(f"{url}/tags/r{i}"))
    members = at_once(small_quotas, project, lambda s, i: s.post(f"{url}/members", json={"member": f"r{i}"}))
    props = at_once(small_quotas, project, lambda s, i: s.patch(
        url, headers=PATCH, data=f'[{{"op": "add", "path": "/r{i}", "value": "x"}}]'))
    for answers, won in ((tags, 204), (members, 200), (props, 200)):
        assert statuses(answers) == {won: 1, 413: RACERS - 1}

    shown = session.get(url).json()
    assert len(shown["tags"]) == QUOTA
    assert len(session.get(f"{url}/members").json()["members"]) == QUOTA
    assert sorted(key for key in shown if key.startswith(("p", "r")) and key not in ("protected",)) == \
        ["p0", "p1", next(f"r{i}" for i, resp in enumerate(props) if resp.status_code == 200)]


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_formats_cannot_change_under_an_upload(spyglass_server, owner, round_):
    """The content is inspected against the image's disk_format: a change of format racing with
    the upload either comes first (and the upload is inspected against it, or refused) or is
    refused, so an active image always holds content of its own format."""
    project, session = owner
    image = create_image(session, name="raced-format")
    url = f"/v2/images/{image['id']}"
    data = os.urandom(2 * 1024 * 1024)  # raw content: not a valid qcow2

    def write(s: requests.Session, i: int) -> requests.Response:
        if i == 0:
            return s.put(f"{url}/file", data=data, headers=OCTETS)
        time.sleep(i * 0.003)  # spread over the upload's few milliseconds: before, during, after
        return s.patch(url, headers=PATCH, data='[{"op": "replace", "path": "/disk_format", "value": "qcow2"}]')

    answers = at_once(spyglass_server, project, write)
    statuses(answers)
    shown = session.get(url).json()
    if shown["status"] == "active":
        assert answers[0].status_code == 204
        assert shown["disk_format"] == "raw", [resp.status_code for resp in answers]
    else:
        assert (shown["status"], shown["disk_format"]) == ("queued", "qcow2")
        assert answers[0].status_code in (400, 409), answers[0].text


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_a_delete_racing_with_protection_is_refused_or_first(spyglass_server, owner, round_):
    project, session = owner
    image = create_image(session, name="raced-protection")
    url = f"/v2/images/{image['id']}"

    def write(s: requests.Session, i: int) -> requests.Response:
        if i == 0:
            return s.delete(url)
        time.sleep(i * 0.0005)
        return s.patch(url, headers=PATCH, data='[{"op": "replace", "path": "/protected", "value": true}]')

    answers = at_once(spyglass_server, project, write)
    statuses(answers)
    protections = {resp.status_code for resp in answers[1:]}
    if answers[0].status_code == 204:  # the delete came first: nothing was protected
        assert protections == {404}
        assert session.get(url).status_code == 404
    else:  # a protection came first, and it holds
        assert answers[0].status_code == 403, answers[0].text
        assert 200 in protections and protections <= {200}
        assert session.get(url).json()["protected"] is True
