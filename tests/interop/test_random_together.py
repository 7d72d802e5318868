"""Random steps on one image through both services at the same time, as while Glance nodes and
Spyglass nodes serve one cloud: a thread drives each service with its own draw of the steps of
test_random_lives. Their answers cannot be compared one by one (who wins a race decides them), so
what is checked is what must hold whoever wins: Spyglass never fails with a 5xx, and afterwards
both show the same image to each caller, with tags listed once, and, if it has data, the bytes
whose size and hashes it records.

On PostgreSQL and MariaDB only: Glance 33 fails concurrent writes on SQLite itself. The same
draws with a Spyglass session in both threads run on every database, SQLite included, and check
one thing more: an active qcow2 image holds a qcow2 (its format cannot change under an upload). As in test_random_lives, a fixed seed unless SPYGLASS_RANDOM_TOGETHER=N asks
for N fresh draws."""
from __future__ import annotations

import hashlib
import os
import threading
from typing import Any

import pytest
from glance_pair import ADMIN_ROLES, Pair, identity
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_random_lives import STEPS, Life, Step

TOGETHER = int(os.environ.get("SPYGLASS_RANDOM_TOGETHER", "0"))
QCOW2_MAGIC = b"QFI\xfb"


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
