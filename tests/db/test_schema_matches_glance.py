"""spyglass.db.tables must create exactly the schema that Glance 33's `glance-manage db sync` does.

SQLite is compared with tests/fixtures/glance33/glance.sqlite (made by real Glance). PostgreSQL
and MariaDB are compared with descriptions of Glance-made databases stored next to it
(schema-postgresql.json, schema-mariadb.json), on the servers scripts/services start (their URLs in
POSTGRES_URL / MARIADB_URL). To refresh a description from a database Glance created:

    python tests/db/test_schema_matches_glance.py URL > tests/fixtures/glance33/schema-NAME.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from database_servers import scratch_database
from sqlalchemy import Engine, create_engine, inspect, text

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "glance33"
IGNORED_TABLES = {"alembic_version"}  # Alembic's, not the application's


def _norm_sql(sql: str | None) -> str | None:
    if sql is None:
        return None
    return " ".join(str(sql).replace("`", "").lower().split())


def describe(engine: Engine) -> dict[str, Any]:
    """Everything about a schema that a client of the database could notice, as plain data."""
    insp = inspect(engine)
    dialect = engine.dialect
    tables: dict[str, Any] = {}
    for name in sorted(set(insp.get_table_names()) - IGNORED_TABLES):
        columns = []
        for col in insp.get_columns(name):
            entry = {
                "name": col["name"],
                "type": col["type"].compile(dialect=dialect),
                "nullable": col["nullable"],
                "default": _norm_sql(col.get("default")),
            }
            if dialect.name != "sqlite":  # SQLite reports autoincrement for no column
                entry["autoincrement"] = bool(col.get("autoincrement"))
            columns.append(entry)
        pk = insp.get_pk_constraint(name)
        table: dict[str, Any] = {
            "columns": columns,  # order matters: SELECT * and positional inserts see it
            "primary_key": pk["constrained_columns"],
            "foreign_keys": sorted(
                (
                    {
                        "name": fk.get("name"),  # None on SQLite; the server's name elsewhere
                        "columns": fk["constrained_columns"],
                        "referred_table": fk["referred_table"],
                        "referred_columns": fk["referred_columns"],
                        "options": fk.get("options") or {},
                    }
                    for fk in insp.get_foreign_keys(name)
                ),
                key=json.dumps,
            ),
            "indexes": sorted(
                (
                    {
                        "name": ix["name"],
                        "columns": ix["column_names"],
                        "unique": bool(ix["unique"]),
                    }
                    for ix in insp.get_indexes(name)
                    # SQLite/MySQL report a unique constraint's backing index here as well;
                    # it is compared under unique_constraints.
                    if not ix.get("duplicates_constraint")
                ),
                key=lambda ix: ix["name"] or "",
            ),
            "unique_constraints": sorted(
                (
                    {"name": uc["name"], "columns": uc["column_names"]}
                    for uc in insp.get_unique_constraints(name)
                ),
                key=lambda uc: uc["name"] or "",
            ),
            "check_constraints": sorted(
                _norm_sql(ck["sqltext"]) or "" for ck in insp.get_check_constraints(name)
            ),
        }
        if dialect.name == "mysql":
            opts = insp.get_table_options(name)
            table["options"] = {
                k: v for k, v in opts.items() if k in ("mysql_engine", "mysql_default charset")
            }
            # MariaDB names unnamed checks CONSTRAINT_n; a later migration may need the name.
            table["check_names"] = sorted(
                ck["name"] or "" for ck in insp.get_check_constraints(name)
            )
        tables[name] = table
    result: dict[str, Any] = {"dialect": dialect.name, "tables": tables}
    if dialect.name == "postgresql":
        enums = insp.get_enums()  # type: ignore[attr-defined]
        result["enums"] = sorted(
            ({"name": e["name"], "labels": e["labels"]} for e in enums), key=lambda e: e["name"]
        )
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT sequence_name, data_type FROM information_schema.sequences")
            ).all()
        result["sequences"] = sorted(list(row) for row in rows)
    return result


def _spyglass_schema(url: str) -> dict[str, Any]:
    from spyglass.db.tables import metadata

    engine = create_engine(url)
    try:
        metadata.create_all(engine)
        return describe(engine)
    finally:
        engine.dispose()


def _assert_same(expected: dict[str, Any], actual: dict[str, Any]) -> None:
    assert sorted(actual["tables"]) == sorted(expected["tables"]), "table sets differ"
    for name, want in expected["tables"].items():
        got = actual["tables"][name]
        for key in want:
            assert got.get(key) == want[key], f"{name}.{key} differs from Glance's"
    for key in expected:
        if key != "tables":
            assert actual.get(key) == expected[key], f"{key} differ from Glance's"


def test_sqlite_schema_matches_glance(tmp_path: Path) -> None:
    fixture = FIXTURES / "glance.sqlite"
    glance = create_engine(f"sqlite:///{fixture}")
    try:
        expected = describe(glance)
    finally:
        glance.dispose()
    actual = _spyglass_schema(f"sqlite:///{tmp_path / 'spyglass.sqlite'}")
    assert len(expected["tables"]) == 15  # a truncated fixture would make this pass vacuously
    _assert_same(expected, actual)


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ("DROP INDEX ix_tasks_owner", "tasks.indexes"),
        ("ALTER TABLE image_tags ADD COLUMN extra INTEGER", "image_tags.columns"),
        ("CREATE INDEX ix_extra ON images (name)", "images.indexes"),
    ],
)
def test_comparison_detects_a_difference(tmp_path: Path, change: str, complaint: str) -> None:
    url = f"sqlite:///{tmp_path / 'changed.sqlite'}"
    base = _spyglass_schema(url)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(change))
        changed = describe(engine)
    finally:
        engine.dispose()
    with pytest.raises(AssertionError, match=complaint):
        _assert_same(base, changed)


def _server_test(kind: str, snapshot: str) -> None:
    expected = json.loads((FIXTURES / snapshot).read_text())
    # A scratch database on the server, so that nothing else's tables get in the way.
    with scratch_database(kind, "schema") as url:
        actual = _spyglass_schema(url)
    _assert_same(expected, actual)


def test_postgresql_schema_matches_glance() -> None:
    _server_test("postgresql", "schema-postgresql.json")


def test_mariadb_schema_matches_glance() -> None:
    _server_test("mariadb", "schema-mariadb.json")


if __name__ == "__main__":
    engine = create_engine(sys.argv[1])
    json.dump(describe(engine), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
