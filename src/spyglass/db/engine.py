"""Engine creation, with the SQLite settings that let several worker processes share one file."""
from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

# Execution option marking a transaction that will write: on SQLite it takes the write lock at BEGIN
# (BEGIN IMMEDIATE), so concurrent writers queue on busy_timeout instead of failing with
# "database is locked" when a read transaction later tries to upgrade to a write.
WRITE = "spyglass_write"


def create_engine(url: str, *, sqlite_busy_timeout: int = 30, **kwargs: Any) -> sa.Engine:
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True, **kwargs)

    engine = sa.create_engine(
        url, connect_args={"timeout": sqlite_busy_timeout, "check_same_thread": False}, **kwargs
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see _on_begin).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(sqlite_busy_timeout * 1000)}")
        if parsed.database not in (None, "", ":memory:"):
            # WAL: readers never block the writer nor each other.
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        if conn.get_execution_options().get(WRITE):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


@contextlib.contextmanager
def raw_write_transaction(engine: sa.Engine) -> Iterator[Any]:
    """A DBAPI cursor in a write transaction, committed when the block ends (rolled back on an
    exception), for spyglass.db.compiled statements. The caller holds the write lock."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        try:
            if engine.dialect.name == "sqlite":
                # As _on_begin does for SQLAlchemy's transactions; other drivers begin implicitly.
                cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                raw.rollback()
                raise
            raw.commit()
        finally:
            cursor.close()
    finally:
        raw.close()


class SqliteWriteLock:
    """Writers of one SQLite file take turns here before BEGIN IMMEDIATE.

    SQLite's own busy handler polls with sleeps of up to 100 ms, so under contention a writer can
    wait seconds while the lock sits free. A thread lock (this process) and flock(2) on a file next
    to the database (other processes) queue writers instead, and hand over the moment it is free.
    """

    def __init__(self, database: str) -> None:
        self._threads = threading.Lock()
        self._path = database + ".write-lock"
        self._fd: int | None = None

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._threads:
            if self._fd is None:
                # Opened on first use, so each worker process (forked after start) has its own.
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)


class NoWriteLock:
    """Server databases queue writers themselves (row locks, lock waits)."""

    def held(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


def write_lock(engine: sa.Engine) -> SqliteWriteLock | NoWriteLock:
    """What a write transaction on this engine holds first."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return SqliteWriteLock(url.database)
    return NoWriteLock()
