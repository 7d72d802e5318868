"""Data migrations, run between expand and contract (``spyglass db migrate``).

Each module here named ``NNNN_description.py`` defines ``migrate(engine) -> int``: it rewrites
the rows that an expand revision made room for and returns how many it changed. It runs while
other nodes keep serving, so it commits in batches of its own rather than in one long
transaction, and it must be idempotent: after a crash it is simply run again, and rows written
meanwhile by nodes still running older code must be picked up too. Once it returns, its name is
recorded in ``spyglass_data_migrations`` and it never runs again; contract refuses to run while
any is unrecorded. Modules run in name order.
"""
