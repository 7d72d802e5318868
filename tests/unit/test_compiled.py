"""spyglass.db.compiled: statements compiled once and run on the DBAPI cursor must read and write
exactly what SQLAlchemy would, on SQLite here, and pass parameters in each driver's paramstyle."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from spyglass.db import tables as t
from spyglass.db.compiled import CompiledStatement
from spyglass.db.engine import create_engine, raw_write_transaction


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    engine = create_engine(f"sqlite:///{tmp_path / 'compiled.sqlite'}")
    t.metadata.create_all(engine)
    return engine


ROW = {"id": "3f1c9a52-8f4e-4c38-9b59-0d3c5a1e2f10", "name": "n", "status": "active", "visibility": "public",
       "protected": True, "os_hidden": False, "deleted": False, "min_disk": 1, "min_ram": 2, "size": 5,
       "created_at": datetime(2026, 11, 26, 12, 0, 1), "updated_at": datetime(2026, 11, 26, 12, 0, 2)}


def test_insert_and_select_match_sqlalchemy(engine):
    insert = CompiledStatement(engine, t.images.insert().values({k: sa.bindparam(k) for k in ROW}))
    with raw_write_transaction(engine) as cursor:
        insert.execute_many(cursor, [ROW])
    select = sa.select(t.images).where(t.images.c.id == sa.bindparam("id"))
    compiled_rows = CompiledStatement(engine, select).rows({"id": ROW["id"]})
    with engine.connect() as conn:
        expected = [tuple(row) for row in conn.execute(select, {"id": ROW["id"]})]
        stored = conn.exec_driver_sql("SELECT created_at, protected FROM images").one()
    assert compiled_rows == expected
    got = dict(zip(t.images.c.keys(), compiled_rows[0]))
    assert (got["protected"], got["os_hidden"], got["created_at"]) == (True, False, ROW["created_at"])
    # Stored as SQLAlchemy stores them, so that Glance and Spyglass read each other's rows.
    assert tuple(stored) == ("2026-11-26 12:00:01.000000", 1)


def test_a_failed_write_transaction_leaves_nothing(engine):
    insert = CompiledStatement(engine, t.images.insert().values({k: sa.bindparam(k) for k in ROW}))
    with pytest.raises(engine.dialect.dbapi.IntegrityError):
        with raw_write_transaction(engine) as cursor:
            insert.execute_many(cursor, [ROW, ROW])  # the second one repeats the primary key
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM images").scalar() == 0


@pytest.mark.parametrize(("url", "positional"), [
    ("sqlite://", True), ("postgresql://", False), ("mysql+pymysql://", True)])
def test_parameters_follow_the_driver_paramstyle(url, positional):
    engine = sa.create_mock_engine(url, lambda *args, **kwargs: None)
    stmt = sa.select(t.images.c.id).where(t.images.c.id == sa.bindparam("id"),
                                          t.images.c.updated_at > sa.bindparam("after"),
                                          t.images.c.name == sa.bindparam("id"))
    compiled = CompiledStatement(engine, stmt)  # type: ignore[arg-type]
    params = compiled._params({"id": "x", "after": datetime(2026, 1, 2, 3, 4, 5)})
    if positional:
        assert isinstance(params, tuple) and len(params) == 3
        assert params[0] == params[2] == "x"
    else:
        assert isinstance(params, dict) and params["id"] == "x"
