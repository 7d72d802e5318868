"""Alembic environment: spyglass.db.migrate hands over an open connection already inside a
transaction, so that every revision of one run, and the version-table update, commit together
(where the database has transactional DDL)."""
from __future__ import annotations

from alembic import context

from spyglass.db.migrate import VERSION_TABLE
from spyglass.db.tables import metadata

# Tables that autogenerate must leave alone: Alembic's own and Spyglass's bookkeeping.
_NOT_MODELLED = {"alembic_version", VERSION_TABLE, "spyglass_data_migrations"}


def _include_object(obj: object, name: str | None, type_: str, reflected: bool,
                    compare_to: object) -> bool:
    return not (type_ == "table" and name in _NOT_MODELLED)


def run_migrations() -> None:
    if context.is_offline_mode():
        # Revision 0001 inspects the database to adopt a Glance-created one; a SQL script
        # written without a database cannot do that.
        raise RuntimeError("Spyglass migrations run against a live database only")
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through spyglass.db.migrate, which opens the connection")
    context.configure(
        connection=connection,
        version_table=VERSION_TABLE,
        # engine.create_engine makes SQLite's DDL transactional too (explicit BEGIN).
        transactional_ddl=True,
        target_metadata=metadata,  # for autogenerate only: revisions never import tables.py
        include_object=_include_object,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
