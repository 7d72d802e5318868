"""Spyglass's schema migrations, laid out for rolling upgrades.

- ``versions/expand/``: additive changes only (new tables, columns, indexes). Applied while the
  previous Spyglass release (or Glance) still serves the database, so they must not break it.
- ``data/``: data migrations, plain functions run after expand and before contract.
- ``versions/contract/``: removals only (drop, rename, tighten). Applied once no node runs code
  that needs what is removed.

The two Alembic branches are labelled ``expand`` and ``contract`` and are recorded in Spyglass's
own version table (see ``spyglass.db.migrate.VERSION_TABLE``), never in Glance's
``alembic_version``, so that Glance and Spyglass can share one database.
tests/db/test_migration_rules.py enforces the split.

A new revision: ``spyglass.db.migrate.new_revision("expand", "add foo")`` writes the file into
the right directory with the next number and the right parent.
"""
