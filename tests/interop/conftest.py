"""The `pair` fixture: real Glance 33 and Spyglass on one database, started once per test process
for each setup of glance_pair.SETUPS and shared by every test of this directory (the tests use
identities and names of their own)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from database_servers import missing, scratch_database
from glance_pair import GLANCE, SETUPS, Pair, serve_pair


@pytest.fixture(scope="session", params=SETUPS, ids=[f"{db}-made-by-{maker}" for db, maker in SETUPS])
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    if GLANCE is None:
        missing("Glance 33 is not installed: run `python tests/real_glance.py install`")
    kind, maker = request.param
    base = tmp_path_factory.mktemp(f"beside-glance-{kind}-{maker}")
    with ExitStack() as cleanup:
        db_url = f"sqlite:///{base / 'shared.sqlite'}" if kind == "sqlite" else \
            cleanup.enter_context(scratch_database(kind, "interop"))
        yield from serve_pair(base, db_url, maker, kind)
