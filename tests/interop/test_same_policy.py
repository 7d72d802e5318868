"""The same policy decisions from both services: who may see and answer which membership, and what
each set of roles may do in its project."""
from __future__ import annotations

import uuid

import pytest
from glance_pair import (
    MEMBER_ROLES,
    OCTETS,
    PATCH,
    Identity,
    Pair,
    create,
    identity,
    patch,
    share,
    upload,
)
from sample_images import raw


def test_the_same_membership_answers(pair: Pair) -> None:
    """Who may see and answer which membership, as each service decides it."""
    owner, b, c, stranger = identity(), identity(), identity(), identity()
    answers: dict[str, list[tuple[str, int]]] = {}
    for name, open_session in (("spyglass", pair.spyglass), ("glance", pair.glance)):
        own = open_session(owner)
        image = create(own, name="shared", visibility="shared")["id"]
        share(own, image, b)
        share(own, image, c)
        steps = [
            ("owner accepts for b", own.put(f"/v2/images/{image}/members/{b.project}", json={"status": "accepted"})),
            ("b answers for c", open_session(b).put(f"/v2/images/{image}/members/{c.project}",
                                                     json={"status": "accepted"})),
            ("stranger answers for b", open_session(stranger).put(f"/v2/images/{image}/members/{b.project}",
                                                                   json={"status": "accepted"})),
            ("b answers nonsense", open_session(b).put(f"/v2/images/{image}/members/{b.project}",
                                                       json={"status": "maybe"})),
            ("b accepts", open_session(b).put(f"/v2/images/{image}/members/{b.project}",
                                              json={"status": "accepted"})),
            ("b reads c", open_session(b).get(f"/v2/images/{image}/members/{c.project}")),
            ("b lists", open_session(b).get(f"/v2/images/{image}/members")),
            ("b adds stranger", open_session(b).post(f"/v2/images/{image}/members",
                                                     json={"member": stranger.project})),
            ("b removes c", open_session(b).delete(f"/v2/images/{image}/members/{c.project}")),
            ("owner adds b again", own.post(f"/v2/images/{image}/members", json={"member": b.project})),
            ("stranger lists", open_session(stranger).get(f"/v2/images/{image}/members")),
            ("owner makes it private", own.patch(f"/v2/images/{image}", headers=PATCH, data='['
                                                 '{"op": "replace", "path": "/visibility", "value": "private"}]')),
            ("owner lists private", own.get(f"/v2/images/{image}/members")),
            ("b reads private", open_session(b).get(f"/v2/images/{image}")),
        ]
        answers[name] = [(step, resp.status_code) for step, resp in steps]
    assert answers["spyglass"] == answers["glance"]


@pytest.mark.parametrize("roles", ["reader", "member", "member,reader", "admin", "admin,member,reader",
                                   "somethingelse"])
def test_the_same_policy_decisions_for_each_role(pair: Pair, roles: str) -> None:
    """Glance's default rules (project scope, the reader and member roles, admin): a user with
    `roles` in a project whose images a member set up, asking for each kind of action."""
    answers: dict[str, list[tuple[str, int]]] = {}
    for name, open_session in (("spyglass", pair.spyglass), ("glance", pair.glance)):
        project = uuid.uuid4().hex
        setup = open_session(Identity(project, MEMBER_ROLES))
        queued = create(setup, name="queued")["id"]
        active = create(setup, name="active")["id"]
        upload(setup, active, raw(1000))
        shared = create(setup, name="shared", visibility="shared")["id"]
        doomed = create(setup, name="doomed")["id"]
        user = open_session(Identity(project, roles))
        steps = [
            ("list", user.get("/v2/images")),
            ("show", user.get(f"/v2/images/{queued}")),
            ("create", user.post("/v2/images", json={"name": "mine"})),
            ("patch", patch(user, queued, '{"op": "replace", "path": "/name", "value": "renamed"}')),
            ("publicize", patch(user, queued, '{"op": "replace", "path": "/visibility", "value": "public"}')),
            ("communitize", patch(user, queued, '{"op": "replace", "path": "/visibility", "value": "community"}')),
            ("tag", user.put(f"/v2/images/{queued}/tags/t")),
            ("untag", user.delete(f"/v2/images/{queued}/tags/t")),
            ("download", user.get(f"/v2/images/{active}/file")),
            ("upload", user.put(f"/v2/images/{queued}/file", data=raw(10), headers=OCTETS)),
            ("deactivate", user.post(f"/v2/images/{active}/actions/deactivate")),
            ("reactivate", user.post(f"/v2/images/{active}/actions/reactivate")),
            ("list members", user.get(f"/v2/images/{shared}/members")),
            ("add member", user.post(f"/v2/images/{shared}/members", json={"member": uuid.uuid4().hex})),
            ("delete", user.delete(f"/v2/images/{doomed}")),
            ("import info", user.get("/v2/info/import")),
        ]
        answers[name] = [(step, resp.status_code) for step, resp in steps]
    differing = [(step, spy, gl) for (step, spy), (_, gl) in zip(answers["spyglass"], answers["glance"]) if spy != gl]
    assert differing == POLICY_DIFFERENCES.get(roles, []), "(step, Spyglass, Glance)"


# Glance checks a change of visibility before it checks that the caller may see the image at all,
# so a caller without a role it knows learns from a 403 that the image exists; Spyglass answers
# such a caller 404 for every action on the image.
POLICY_DIFFERENCES = {"somethingelse": [("publicize", 404, 403), ("communitize", 404, 403)]}
