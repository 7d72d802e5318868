"""Random steps on one image through both services at the same time, as while Glance nodes and
Spyglass nodes serve one cloud: a thread drives each service with its own draw of the steps of
test_random_lives. Their answers cannot be compared one by one (who wins a race decides them), so
what is checked is what must hold whoever wins: Spyglass never fails with a 5xx, and afterwards
both show the same image to each caller, with tags listed once, and, if it has data, the bytes
whose size and hashes it records.

On PostgreSQL and MariaDB only: Glance 33 fails concurrent writes on SQLite itself. The same
draws with a Spyglass session in both threads run on every database, SQLite included, and check
one thing more: an active qcow2 image holds a qcow2 (its format cannot change under an upload).

A swarm then sends several threads through each service at one image, all aiming their writes at
the same few targets (one member, one tag, one property, the formats, the data, the image itself),
so that Glance's unlocked look-then-write races with Spyglass's and with itself: Spyglass never
answers 5xx, and whatever rows the races leave, it lists each membership once and can still
delete the image. As in test_random_lives, fixed seeds unless SPYGLASS_RANDOM_TOGETHER=N asks for
N fresh draws (of each test)."""
from __future__ import annotations

import hashlib
import json
import os
import random
import threading
import time
from typing import Any

import pytest
from glance_pair import ADMIN_ROLES, Pair, identity
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_random_lives import PATCH, STEPS, UPLOADS, Life, Step

TOGETHER = int(os.environ.get("SPYGLASS_RANDOM_TOGETHER", "0"))
QCOW2_MAGIC = b"QFI\xfb"
SWARM = 4  # threads through each service
SWARM_ROUNDS = TOGETHER or 15  # each of _swarm_steps opens a round
SWARM_SEED = random.randrange(1 << 32) if TOGETHER else 20261127
JSON = (("Content-Type", "application/json"),)


@settings(max_examples=TOGETHER or 15, derandomize=not TOGETHER, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(attrs=st.fixed_dictionaries({}, optional={"visibility": st.sampled_from(["private", "shared"]),
                                                 "color": st.just("red"), "tags": st.just(["a"])}),
       spyglass_steps=st.lists(STEPS, min_size=2, max_size=8), glance_steps=st.lists(STEPS, min_size=2, max_size=8))
@pytest.mark.parametrize("partner", ["glance", "spyglass"])
def test_random_steps_through_both_at_once(pair: Pair, partner: str, attrs: dict[str, Any],
                                           spyglass_steps: list[Step], glance_steps: list[Step]) -> None:
    if pair.database == "sqlite" and partner == "glance":
        pytest.skip("Glance 33 itself fails concurrent writes on SQLite ('database is locked')")
    callers = {"owner": identity(), "admin": identity(ADMIN_ROLES), "other": identity()}
    first = Life(pair, "spyglass", callers, {"disk_format": "raw", "container_format": "bare", **attrs})
    # The second thread's life: through Glance, or through Spyglass as a second client (its
    # answers then count as Spyglass's too).
    lives = {"spyglass": first, "glance": Life(pair, partner, callers, {}, image=first.image)}
    steps = {"spyglass": spyglass_steps, "glance": glance_steps}
    statuses: dict[str, list[int]] = {}
    start = threading.Barrier(2)

    def drive(service: str) -> None:
        start.wait()
        statuses[service] = [lives[service].run(step)[0] for step in steps[service]]

    threads = [threading.Thread(target=drive, args=(service,)) for service in lives]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert set(statuses) == {"spyglass", "glance"}, "a driver failed"
    failed = [(number, step, status) for number, (step, status) in enumerate(zip(spyglass_steps, statuses["spyglass"]))
              if status >= 500]
    if partner == "spyglass":
        failed += [(number, step, status) for number, (step, status) in enumerate(zip(glance_steps, statuses["glance"]))
                   if status >= 500]
    assert not failed, failed

    views = {service: life.seen() for service, life in lives.items()}
    assert views["spyglass"] == views["glance"]
    status, doc = views["spyglass"]["admin"]
    if status == 200:
        assert len(doc["tags"]) == len(set(doc["tags"])), doc["tags"]
        if doc["status"] in ("active", "deactivated"):
            for service, life in lives.items():
                data = life.sessions["admin"].get(f"/v2/images/{life.image}/file").content
                assert (len(data), hashlib.md5(data).hexdigest()) == (doc["size"], doc["checksum"]), service
                if partner == "spyglass" and doc["disk_format"] == "qcow2":
                    assert data[:4] == QCOW2_MAGIC, doc  # (raw takes any content, as in Glance)


def _swarm_steps(rng: random.Random) -> list[Step]:
    """The writes the threads aim at the same targets, and two reads."""
    patch = tuple(PATCH.items())
    return [
        Step(rng.choice(["owner", "admin"]), "POST", "/members", '{"member": "' + rng.choice(["{other}", "{OTHER}"]) + '"}',
             JSON),
        Step("other", "PUT", "/members/{other}", json.dumps({"status": rng.choice(["accepted", "rejected"])}), JSON),
        Step("owner", "DELETE", "/members/{other}"),
        Step("owner", rng.choice(["PUT", "DELETE"]), f"/tags/{rng.choice(['x', 'X'])}"),
        Step("owner", "PATCH", "", json.dumps([{"op": "add", "path": rng.choice(["/color", "/Color"]),
                                               "value": str(rng.randrange(9))}]), patch),
        Step("owner", "PATCH", "", '[{"op": "remove", "path": "/color"}]', patch),
        Step("owner", "PATCH", "", json.dumps([{"op": "replace", "path": "/tags", "value": ["x", "z"]}]), patch),
        Step("owner", "PATCH", "", json.dumps([{"op": "replace", "path": "/visibility",
                                               "value": rng.choice(["shared", "private"])}]), patch),
        Step("owner", "PATCH", "", json.dumps([{"op": "replace", "path": "/protected",
                                               "value": rng.random() < 0.3}]), patch),
        Step("owner", "PATCH", "", json.dumps([{"op": "replace", "path": "/disk_format",
                                               "value": rng.choice(["raw", "qcow2"])}]), patch),
        Step("owner", "PUT", "/file", rng.choice(list(UPLOADS)[:3])),
        Step("admin", "POST", f"/actions/{rng.choice(['deactivate', 'reactivate'])}"),
        Step("other", "GET", "/members"),
        Step("owner", "GET", "/file"),
    ]


def _image_delete(rng: random.Random) -> Step:
    return Step(rng.choice(["owner", "admin"]), "DELETE", "")


def _swarm_step(rng: random.Random) -> Step:
    """Any of them, or now and then the image's delete (it ends the round's writes)."""
    return _image_delete(rng) if rng.random() < 0.04 else rng.choice(_swarm_steps(rng))


def test_a_swarm_through_both_on_one_image(pair: Pair) -> None:
    if pair.database == "sqlite":
        pytest.skip("Glance 33 itself fails concurrent writes on SQLite ('database is locked')")
    for round_ in range(SWARM_ROUNDS):
        _swarm_round(pair, round_)


def _swarm_round(pair: Pair, round_: int) -> None:
    rng = random.Random(SWARM_SEED + round_)
    callers = {"owner": identity(), "admin": identity(ADMIN_ROLES), "other": identity()}
    first = Life(pair, "spyglass", callers, {"disk_format": "raw", "container_format": "bare", "visibility": "shared"})
    # Every thread opens with the same step, released at once: the closest race there is.
    openings = [*_swarm_steps(rng), _image_delete(rng)]
    opening = openings[round_ % len(openings)]
    # Each thread waits 0-30 ms before it: a request through Glance spends milliseconds between
    # its look and its write, and a write through Spyglass must land in that window to find a race.
    plans = [(service, rng.random() * 0.03, [opening] + [_swarm_step(rng) for _ in range(rng.randint(2, 9))])
             for service in ["spyglass"] * SWARM + ["glance"] * SWARM]
    failed: list[tuple[Step, int]] = []
    start = threading.Barrier(len(plans))

    def drive(service: str, delay: float, steps: list[Step]) -> None:
        life = Life(pair, service, callers, {}, image=first.image)  # sessions of this thread's own
        start.wait()
        time.sleep(delay)
        for step in steps:
            status = life.run(step)[0]
            if service == "spyglass" and status >= 500:
                failed.append((step, status))

    threads = [threading.Thread(target=drive, args=plan) for plan in plans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not [thread for thread in threads if thread.is_alive()], "a driver is stuck"
    assert not failed, (SWARM_SEED, round_, failed)

    admin = first.sessions["admin"]
    members = admin.get(f"/v2/images/{first.image}/members")
    if members.status_code == 200:
        listed = [member["member_id"] for member in members.json()["members"]]
        assert len(listed) == len(set(listed)), listed
    admin.patch(f"/v2/images/{first.image}", data='[{"op": "replace", "path": "/protected", "value": false}]',
                headers=PATCH)
    assert admin.delete(f"/v2/images/{first.image}").status_code in (204, 404)
    assert admin.get(f"/v2/images/{first.image}").status_code == 404
