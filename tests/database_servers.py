"""Scratch databases on the PostgreSQL and MariaDB servers that scripts/services start; scripts/test
exports their URLs (POSTGRES_URL, MARIADB_URL) and SPYGLASS_TEST_STRICT, which makes a test that
lacks a server (or real Glance) fail instead of skipping."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, make_url, text

URL_VARIABLES = {"postgresql": "POSTGRES_URL", "mariadb": "MARIADB_URL"}


def missing(what: str) -> None:
    """Skip, or fail when the suite runs through scripts/test, which provides everything."""
    if os.environ.get("SPYGLASS_TEST_STRICT"):
        pytest.fail(f"{what} (scripts/test should have provided it)")
    pytest.skip(what)


@contextmanager
def scratch_database(kind: str, prefix: str = "spyglass") -> Iterator[str]:
    """A new, empty database on the `kind` server, dropped afterwards; yields its URL."""
    variable = URL_VARIABLES[kind]
    server = os.environ.get(variable)
    if not server:
        missing(f"{variable} is not set: start the server with scripts/services/{kind}")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}" + (" CHARACTER SET utf8mb4" if kind == "mariadb" else "")))
        try:
            yield make_url(server).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                # FORCE: a connection a stopped server left in the pool must not keep it alive.
                conn.execute(text(f"DROP DATABASE {name}" + (" WITH (FORCE)" if kind == "postgresql" else "")))
    finally:
        admin.dispose()
