"""Real Glance 33 and Spyglass on one database and one file store (the `pair` fixture in
conftest.py starts them), and what the tests of this directory do with both: sessions speaking as an
identity, request helpers, and the comparison of their answers."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import real_glance
import requests
from sample_images import qcow2, raw
from spyglass_testing import SpyglassServer, make_server

GLANCE = real_glance.installed()

ADMIN_ROLES = "admin,member,reader"
MEMBER_ROLES = "member,reader"
OCTETS = {"Content-Type": "application/octet-stream"}
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}


@dataclass(frozen=True)
class Identity:
    project: str
    roles: str

    def headers(self) -> dict[str, str]:
        return {"X-Identity-Status": "Confirmed", "X-Project-Id": self.project,
                "X-Tenant-Id": self.project, "X-User-Id": f"user-of-{self.project}", "X-Roles": self.roles}


def identity(roles: str = MEMBER_ROLES) -> Identity:
    return Identity(uuid.uuid4().hex, roles)


class Pair:
    """The two services on one database and store; `spyglass(who)` and `glance(who)` are sessions
    speaking to each as the given identity."""

    def __init__(self, spyglass: SpyglassServer, glance: real_glance.GlanceApi, store: Path, database: str) -> None:
        self.spyglass_server, self.glance_server, self.store, self.database = spyglass, glance, store, database

    def spyglass(self, who: Identity) -> requests.Session:
        return _session(self.spyglass_server.url, who)

    def glance(self, who: Identity) -> requests.Session:
        session = _session(self.glance_server.url, who)
        # A connection each: after some of Glance's failures (a TypeError on a ranged download of an
        # image without data) its server closes the connection just after answering, and the next
        # request sent on it finds it closed ("Remote end closed connection without response").
        session.headers["Connection"] = "close"
        return session

    def both(self, who: Identity) -> dict[str, requests.Session]:
        return {"spyglass": self.spyglass(who), "glance": self.glance(who)}


def _session(base: str, who: Identity) -> requests.Session:
    s = requests.Session()
    s.headers.update(who.headers())
    original = s.request

    def request(method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 60)
        try:
            return original(method, base + url, *args, **kwargs)
        except requests.ConnectionError as e:  # say which service, which the error does not
            raise requests.ConnectionError(f"{method} {base}{url}: {e}") from e

    s.request = request  # type: ignore[method-assign]
    return s


def normalized(doc: Any) -> Any:
    """The order of tags and of members is not part of the contract: Glance asks the database for
    both without an ORDER BY (on PostgreSQL, a membership just answered comes last); Spyglass
    lists members in the order they were added."""
    if isinstance(doc, dict):
        return {k: (sorted(v) if k == "tags" else
                    sorted(normalized(v), key=lambda m: m["member_id"]) if k == "members" else
                    normalized(v)) for k, v in doc.items()}
    if isinstance(doc, list):
        return [normalized(item) for item in doc]
    return doc


def assert_same_answers(pair: Pair, who: Identity, paths: list[str]) -> None:
    """Each GET answers the same status and the same JSON (or the same bytes) from both."""
    sessions = pair.both(who)
    for path in paths:
        answers = {name: s.get(path) for name, s in sessions.items()}
        spy, gl = answers["spyglass"], answers["glance"]
        assert spy.status_code == gl.status_code, (path, who, spy.text, gl.text)
        if gl.headers.get("Content-Type", "").startswith("application/json") and gl.status_code < 300:
            assert normalized(spy.json()) == normalized(gl.json()), (path, who)
        elif path.endswith("/file") and gl.status_code == 200:
            assert spy.content == gl.content, path
            assert spy.headers["Content-MD5"] == gl.headers["Content-MD5"], path


def create(session: requests.Session, **attrs: Any) -> dict[str, Any]:
    resp = session.post("/v2/images", json={"disk_format": "raw", "container_format": "bare", **attrs})
    assert resp.status_code == 201, resp.text
    return resp.json()


def upload(session: requests.Session, image_id: str, data: bytes) -> None:
    resp = session.put(f"/v2/images/{image_id}/file", data=data, headers=OCTETS)
    assert resp.status_code == 204, resp.text


def share(session: requests.Session, image_id: str, member: Identity) -> None:
    resp = session.post(f"/v2/images/{image_id}/members", json={"member": member.project})
    assert resp.status_code == 200, resp.text


def answer(session: requests.Session, image_id: str, member: Identity, status: str) -> None:
    resp = session.put(f"/v2/images/{image_id}/members/{member.project}", json={"status": status})
    assert resp.status_code == 200, resp.text


NO_SUCH_IMAGE = "00000000-0000-4000-8000-00000000dead"


# Where the shared database lives and who creates it: Spyglass (`spyglass db sync`), or Glance
# (`glance-manage db sync`, then `spyglass db sync` adds Spyglass's own tables), as when Spyglass
# joins a running Glance cluster, on each database Glance deployments use.
SETUPS = [("sqlite", "spyglass"), ("sqlite", "glance"), ("postgresql", "glance"), ("mariadb", "glance")]


def serve_pair(base: Path, db_url: str, maker: str, kind: str) -> Iterator[Pair]:
    assert GLANCE is not None
    store = base / "store"
    glance = real_glance.GlanceApi(GLANCE, base / "glance", db_url, store)
    if maker == "glance":
        glance.db_sync()
    spyglass = make_server(base / "spyglass", {"workers": 1, "threads": 4, "database.connection": db_url,
                                               "glance_store.filesystem_store_datadir": store})
    spyglass.start()
    try:
        # Glance configured with the optional image properties Spyglass describes, as deployments
        # give Glance a schema-image.json; the schema test then compares everything else.
        published = requests.get(f"{spyglass.url}/v2/schemas/image", timeout=30).json()["properties"]
        glance.set_image_properties({name: {k: v for k, v in prop.items() if k != "is_base"}
                                     for name, prop in published.items() if prop.get("is_base") is False})
        glance.start(identity(ADMIN_ROLES).headers())
        yield Pair(spyglass, glance, store, kind)
    finally:
        glance.stop()
        spyglass.stop()
    log = spyglass.log()
    assert "Traceback" not in log, log[max(0, log.index("Traceback") - 500):][:6000]
    assert glance.log_count("database is locked") == 0


def patch(session: requests.Session, image_id: str, *ops: str) -> requests.Response:
    return session.patch(f"/v2/images/{image_id}", headers=PATCH, data="[" + ",".join(ops) + "]")


def statuses_of_both(pair: Pair, method: str, path: str, body: Any, headers: dict[str, str]) -> dict[str, int]:
    owner = identity()
    statuses = {}
    for name, session in pair.both(owner).items():
        queued = [create(session, name="target")["id"], create(session, name="q", disk_format="qcow2")["id"]]
        active = create(session, name="with-data")
        upload(session, active["id"], raw(1000))
        resp = session.request(method, path.format(image=queued[0], qcow2=queued[1], active=active["id"]),
                               data=body, headers=headers)
        statuses[name] = resp.status_code
        for image_id in queued:
            after = session.get(f"/v2/images/{image_id}").json()
            assert (after["status"], after["tags"], after["size"]) == ("queued", [], None), (name, after)
            # Glance 33 leaves the bytes of an upload its format inspection refused in the store
            # (an orphan file no row points to); Spyglass removes them.
            assert name == "glance" or not (pair.store / image_id).exists(), "bytes left in the store"
    return statuses


def fill_every_kind(writer: dict[str, requests.Session], admin: requests.Session, members: dict[str, Identity],
                    tag: str, database: str) -> dict[str, str]:
    """One image of each kind, written through one service: `writer` holds its sessions as the
    owner and as each member by name, `admin` its session as an admin. Returns the IDs by kind."""
    own = writer["owner"]
    ids: dict[str, str] = {}
    public = create(admin, name=f"{tag}-public", visibility="public", tags=[tag, "cirros"],
                     os_distro="cirros", description="ünïcode ✓", min_disk=1, min_ram=64)
    upload(admin, public["id"], os.urandom(3 * 1024 * 1024 + 5))  # whole chunks and a tail
    ids["public"] = public["id"]
    for kind, attrs in (("private", {"visibility": "private"}), ("community", {"visibility": "community"}),
                        ("hidden", {"os_hidden": True}), ("protected", {"protected": True}),
                        ("queued", {"disk_format": "qcow2", "min_disk": 2})):
        ids[kind] = create(own, name=f"{tag}-{kind}", tags=[tag], **attrs)["id"]
    for kind in ("private", "community", "hidden", "protected"):
        upload(own, ids[kind], raw(4096 + len(kind), fill=kind[:1].encode()))

    shared = create(own, name=f"{tag}-shared", visibility="shared", tags=[tag, "shared"])
    ids["shared"] = shared["id"]
    upload(own, shared["id"], raw(8192, fill=b"s"))
    for name, status in (("accepted", "accepted"), ("pending", None), ("rejected", "rejected")):
        share(own, shared["id"], members[name])
        if status:
            answer(writer[name], shared["id"], members[name], status)
    # A member added by its ID in capitals, then accepting by the ID it has: only MariaDB, whose
    # collation calls the two equal, takes them for one project, and so do both services there.
    capitals = members["capitals"]
    share(own, shared["id"], Identity(capitals.project.upper(), capitals.roles))
    resp = writer["capitals"].put(f"/v2/images/{shared['id']}/members/{capitals.project}",
                                  json={"status": "accepted"})
    assert resp.status_code == (200 if database == "mariadb" else 404), resp.text

    compressed = create(own, name=f"{tag}-qcow2", disk_format="qcow2", tags=[tag])
    upload(own, compressed["id"], qcow2(virtual_size=1 << 30))
    ids["qcow2"] = compressed["id"]

    deactivated = create(own, name=f"{tag}-deactivated", tags=[tag])
    upload(own, deactivated["id"], raw(1000))
    assert admin.post(f"/v2/images/{deactivated['id']}/actions/deactivate").status_code == 204
    ids["deactivated"] = deactivated["id"]

    edited = create(own, name=f"{tag}-before", tags=[tag, "drop-me"], keep="1", drop="2")
    resp = own.patch(f"/v2/images/{edited['id']}", headers=PATCH, data='['
                     '{"op": "replace", "path": "/name", "value": "' + f"{tag}-edited" + '"},'
                     '{"op": "add", "path": "/added", "value": "3"},'
                     '{"op": "remove", "path": "/drop"},'
                     '{"op": "replace", "path": "/min_ram", "value": 512}]')
    assert resp.status_code == 200, resp.text
    assert own.delete(f"/v2/images/{edited['id']}/tags/drop-me").status_code == 204
    assert own.put(f"/v2/images/{edited['id']}/tags/added-tag").status_code == 204
    ids["edited"] = edited["id"]

    # Images an admin has taken the owner from: what others see of them follows their visibility.
    for kind, visibility in (("ownerless", "private"), ("ownerless-shared", "shared")):
        ids[kind] = create(own, name=f"{tag}-{kind}", tags=[tag], visibility=visibility)["id"]
        resp = admin.patch(f"/v2/images/{ids[kind]}", headers=PATCH,
                           data='[{"op": "replace", "path": "/owner", "value": null}]')
        assert resp.status_code == 200, resp.text

    gone = create(own, name=f"{tag}-deleted", tags=[tag], prop="x")
    upload(own, gone["id"], raw(2048))
    assert own.delete(f"/v2/images/{gone['id']}").status_code == 204
    ids["deleted"] = gone["id"]
    return ids


def people() -> tuple[Identity, Identity, dict[str, Identity]]:
    admin, owner = identity(ADMIN_ROLES), identity()
    return admin, owner, {"accepted": identity(), "pending": identity(), "rejected": identity(),
                          "capitals": identity()}
