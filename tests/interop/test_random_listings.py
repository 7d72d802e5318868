"""Random listings, the same from both services: one set of images of every kind (written once
per setup), and Hypothesis drawing listing queries (filters, sorts, pages, markers, good values
and bad) and the caller. Both read the same rows, so each query must answer the same status and,
when it succeeds, the same images in the same order with the same links.

As in test_random_lives, the draws come from a fixed seed unless SPYGLASS_RANDOM_LISTINGS=N asks
for N fresh ones."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from glance_pair import NO_SUCH_IMAGE, Identity, Pair, fill_every_kind, normalized, people
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

LISTINGS = int(os.environ.get("SPYGLASS_RANDOM_LISTINGS", "0"))
KINDS = ["public", "private", "community", "hidden", "protected", "queued", "shared", "qcow2", "deactivated",
         "ownerless", "ownerless-shared", "edited", "deleted"]
TIMES = ["2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z", "2000-01-01", "yesterday", ""]


@dataclass(frozen=True)
class Population:
    tag: str
    ids: dict[str, str]
    callers: dict[str, Identity]


@pytest.fixture(scope="module")
def population(pair: Pair) -> Iterator[Population]:
    admin, owner, members = people()
    tag = f"listed-{uuid.uuid4().hex[:8]}"
    sessions = {"owner": pair.spyglass(owner), **{name: pair.spyglass(who) for name, who in members.items()}}
    ids = fill_every_kind(sessions, pair.spyglass(admin), members, tag, pair.database)
    yield Population(tag, ids, {"admin": admin, "owner": owner, **members, "stranger": Identity(uuid.uuid4().hex,
                                                                                                  "member,reader")})


def _values(population: Population) -> dict[str, st.SearchStrategy[str]]:
    """What each query parameter may be given: the values that select something, and the ones
    either service must refuse."""
    tag, ids = population.tag, population.ids
    some_ids = st.lists(st.sampled_from(list(ids.values()) + [NO_SUCH_IMAGE]), min_size=1, max_size=3)
    names = st.lists(st.sampled_from([f"{tag}-{kind}" for kind in KINDS] + ["none"]), min_size=1, max_size=3)
    time = st.builds(lambda op, at: f"{op}:{at}" if op else at,
                     st.sampled_from(["gt", "gte", "lt", "lte", "eq", "neq", "", "bogus"]), st.sampled_from(TIMES))
    sort_keys = ["name", "created_at", "updated_at", "size", "min_ram", "min_disk", "id", "status", "visibility",
                 "disk_format", "container_format", "owner", "virtual_size", "bogus", "tags", "os_distro"]
    sort = st.lists(st.builds(lambda key, direction: f"{key}:{direction}" if direction else key,
                              st.sampled_from(sort_keys), st.sampled_from(["asc", "desc", "", "up"])),
                    min_size=1, max_size=3).map(",".join)
    return {
        "limit": st.sampled_from(["0", "1", "2", "3", "25", "1001", "-1", "x", ""]),
        "marker": st.sampled_from([*ids.values(), NO_SUCH_IMAGE, "not-a-uuid", ""]),
        "sort_key": st.sampled_from(sort_keys),
        "sort_dir": st.sampled_from(["asc", "desc", "up"]),
        "sort": sort,
        "visibility": st.sampled_from(["public", "private", "shared", "community", "all", "bogus"]),
        "member_status": st.sampled_from(["accepted", "pending", "rejected", "all", "bogus"]),
        "status": st.sampled_from(["active", "queued", "deactivated", "deleted", "killed", "bogus"]),
        "os_hidden": st.sampled_from(["true", "false", "True", "1", "bogus"]),
        "protected": st.sampled_from(["true", "false", "bogus"]),
        # Not a negative size: Spyglass refuses it (test_same_answers.DIFFERENT_ON_PURPOSE).
        "size_min": st.sampled_from(["0", "1000", "5000", "x"]),
        "size_max": st.sampled_from(["0", "1000", "5000", "99999999", "x"]),
        "disk_format": st.sampled_from(["raw", "qcow2", "iso", "bogus"]),
        "container_format": st.sampled_from(["bare", "ovf", "bogus"]),
        "name": st.one_of(names.map(lambda n: n[0]), names.map(lambda n: "in:" + ",".join(n)), st.just("in:")),
        "id": st.one_of(some_ids.map(lambda i: i[0]), some_ids.map(lambda i: "in:" + ",".join(i))),
        "created_at": time,
        "updated_at": time,
        "owner": st.sampled_from([population.callers["owner"].project, "someone"]),
        "os_distro": st.just("cirros"),
        "keep": st.sampled_from(["1", "2"]),
    }


@settings(max_examples=LISTINGS or 150, derandomize=not LISTINGS, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_random_listings_answer_the_same(pair: Pair, population: Population, data: st.DataObject) -> None:
    values = _values(population)
    keys = data.draw(st.lists(st.sampled_from(sorted(values)), max_size=5, unique=True), label="parameters")
    params = [("tag", population.tag)] + [(key, data.draw(values[key], label=key)) for key in keys]
    who = population.callers[data.draw(st.sampled_from(sorted(population.callers)), label="caller")]
    path = "/v2/images?" + urlencode(params)
    answers = {name: session.get(path) for name, session in pair.both(who).items()}
    spyglass, glance = answers["spyglass"], answers["glance"]
    assert spyglass.status_code == glance.status_code, (path, spyglass.text[:300], glance.text[:300])
    if glance.status_code == 200:
        assert normalized(spyglass.json()) == normalized(glance.json()), path
        if "next" in glance.json():  # and the page after, from the marker each link gives
            pages = {name: session.get(answers[name].json()["next"]) for name, session in pair.both(who).items()}
            assert pages["spyglass"].status_code == pages["glance"].status_code == 200, path
            assert normalized(pages["spyglass"].json()) == normalized(pages["glance"].json()), path
