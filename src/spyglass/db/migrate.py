"""Schema and data migrations, in the three phases of a rolling upgrade.

    expand        additive schema changes; nodes of the previous release keep working
    migrate_data  data migrations (spyglass/db/migrations/data/), run once every node is upgraded
    contract      removals; refused until expand is at head and no data migration is pending

``sync`` runs all three, for a new database or one that no older node is serving.

``check`` answers with the exit codes of ``glance-manage db check`` where Glance has one
(0, 3, 4, 5), so scripts written for Glance keep working:

    0  up to date
    1  the database cannot be reached (no such SQLite file, connection or login refused...)
    3  expand pending                 (`spyglass db expand`)
    4  data migrations pending        (`spyglass db migrate`)
    5  contract pending               (`spyglass db contract`)
    6  the database holds revisions this Spyglass does not know: a newer release migrated it

A database with no tables, or one Glance created, is "expand pending": expand adopts it.
Spyglass records its revisions in its own table, VERSION_TABLE; Glance's ``alembic_version``
is only ever created (stamped with Glance 33's head, on a database Spyglass creates), never
changed, so that Glance and Spyglass nodes can share one database.
"""
from __future__ import annotations

import enum
import importlib
import os
import pkgutil
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, TextIO

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import event

from spyglass.db.engine import WRITE, create_engine

VERSION_TABLE = "spyglass_alembic_version"
DATA_TABLE = "spyglass_data_migrations"
GLANCE_VERSION_TABLE = "alembic_version"
BRANCHES = ("expand", "contract")
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
DATA_PACKAGE = "spyglass.db.migrations.data"

# Seconds a schema change waits for a table lock that serving nodes hold, before it fails
# (to be run again) rather than queueing every other query behind it. SQLite waits for
# the database lock for engine.create_engine's busy timeout instead.
LOCK_TIMEOUT = 10

_data_table = sa.Table(
    DATA_TABLE,
    sa.MetaData(),
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("applied_at", sa.DateTime(), nullable=False),
    sa.Column("rows_migrated", sa.BigInteger(), nullable=False),
)


class Status(enum.IntEnum):
    CURRENT = 0
    UNREACHABLE = 1
    EXPAND_PENDING = 3
    MIGRATE_PENDING = 4
    CONTRACT_PENDING = 5
    UNKNOWN_REVISION = 6


class MigrationError(Exception):
    """A migration refused or failed; the message says what to do."""


class DatabaseUnreachable(MigrationError):
    pass


@dataclass(frozen=True)
class DataMigration:
    name: str
    run: Callable[[sa.Engine], int]


@dataclass(frozen=True)
class _State:
    expand: str | None
    contract: str | None
    glance: str | None
    unknown: tuple[str, ...]
    data_done: frozenset[str]


# --- Alembic plumbing -------------------------------------------------------------------------


def _ini_escape(value: str) -> str:
    return value.replace("%", "%%")


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """Alembic's configuration, built in code: no alembic.ini is needed or read."""
    cfg = Config()
    cfg.set_main_option("script_location", _ini_escape(str(MIGRATIONS_DIR)))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option(
        "version_locations",
        os.pathsep.join(_ini_escape(str(_branch_dir(b))) for b in BRANCHES),
    )
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    cfg.attributes["connection"] = connection
    return cfg


def _branch_dir(branch: str) -> Path:
    return MIGRATIONS_DIR / "versions" / branch


@cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def _revs(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _applied(script: ScriptDirectory, current: Iterable[str]) -> set[str]:
    # Alembic keeps only heads in the version table, and a contract revision's depends_on
    # counts as an ancestor: expand_0001 leaves the table once contract_0001 is applied.
    applied: set[str] = set()
    stack = list(current)
    while stack:
        rev = stack.pop()
        if rev not in applied:
            applied.add(rev)
            found = script.get_revision(rev)
            assert found is not None
            stack += _revs(found.down_revision) + _revs(found.dependencies)
    return applied


def _chain(script: ScriptDirectory, branch: str) -> Iterator[str]:
    """The branch's revisions, newest first (each branch is a single line)."""
    rev: str | None = heads()[branch]
    while rev is not None:
        yield rev
        found = script.get_revision(rev)
        assert found is not None
        parents = _revs(found.down_revision)
        rev = parents[0] if parents else None


def heads() -> dict[str, str]:
    """The newest revision of each branch in this release."""
    script = _script()
    result: dict[str, str] = {}
    for branch in BRANCHES:
        found = script.get_revisions(f"{branch}@head")
        if len(found) != 1 or found[0] is None:
            raise MigrationError(f"the {branch} branch must have exactly one head")
        result[branch] = found[0].revision
    return result


def new_revision(branch: str, message: str) -> Path:
    """Write a new revision file for a developer to fill in, with the next number, in the
    right directory; a contract revision depends on the current expand head."""
    if branch not in BRANCHES:
        raise ValueError(f"branch must be one of {BRANCHES}")
    head = heads()[branch]
    number = int(head.rsplit("_", 1)[1]) + 1
    script = command.revision(
        alembic_config(),
        message,
        head=f"{branch}@head",
        version_path=str(_branch_dir(branch)),
        rev_id=f"{branch}_{number:04d}",
        depends_on=heads()["expand"] if branch == "contract" else None,
    )
    _script.cache_clear()
    assert script is not None and not isinstance(script, list)
    return Path(script.path)


def data_migrations() -> list[DataMigration]:
    """The data migrations of this release, in the order they run."""
    package = importlib.import_module(DATA_PACKAGE)
    found = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{DATA_PACKAGE}.{info.name}")
        found.append(DataMigration(info.name, module.migrate))
    return found


# --- connections ------------------------------------------------------------------------------


def _engine(url: str, *, create: bool) -> sa.Engine:
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise DatabaseUnreachable(f"invalid database URL: {exc}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite" and parsed.database not in (None, "", ":memory:") and not (
        parsed.query.get("uri") or parsed.database.startswith("file:")
    ):
        path = Path(parsed.database)
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.exists():
            # Connecting would create an empty file; reading must leave no trace.
            raise DatabaseUnreachable(f"no database at {path}: `spyglass db sync` creates it")
    try:
        engine = create_engine(url)
    except sa.exc.NoSuchModuleError as exc:
        raise DatabaseUnreachable(f"invalid database URL: {exc}") from exc
    except ImportError as exc:
        raise DatabaseUnreachable(f"no driver for {backend}: {exc}") from exc

    if backend == "postgresql":
        _on_connect(engine, f"SET lock_timeout = '{LOCK_TIMEOUT}s'")
    elif backend in ("mysql", "mariadb"):
        _on_connect(engine, f"SET SESSION lock_wait_timeout = {LOCK_TIMEOUT}")
    return engine


def _on_connect(engine: sa.Engine, statement: str) -> None:
    @event.listens_for(engine, "connect")
    def _run(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute(statement)
        cursor.close()


@contextmanager
def _connect(url: str, *, create: bool = False) -> Iterator[sa.Connection]:
    engine = _engine(url, create=create)
    try:
        try:
            conn = engine.connect()
        except sa.exc.DBAPIError as exc:
            safe = sa.engine.make_url(url).render_as_string(hide_password=True)
            raise DatabaseUnreachable(f"cannot connect to {safe}: {exc.orig}") from exc
        with conn:
            yield conn
    finally:
        engine.dispose()


def _read_state(conn: sa.Connection) -> _State:
    tables = set(sa.inspect(conn).get_table_names())
    current = MigrationContext.configure(
        conn, opts={"version_table": VERSION_TABLE}
    ).get_current_heads()
    script = _script()
    known = {rev.revision for rev in script.walk_revisions()}
    unknown = tuple(sorted(rev for rev in current if rev not in known))
    applied = _applied(script, [rev for rev in current if rev in known])
    by_branch = {branch: next((rev for rev in _chain(script, branch) if rev in applied), None)
                 for branch in BRANCHES}
    glance = None
    if GLANCE_VERSION_TABLE in tables:
        rows = conn.execute(sa.text(f"SELECT version_num FROM {GLANCE_VERSION_TABLE}")).all()
        glance = ",".join(sorted(row[0] for row in rows)) or None
    done: frozenset[str] = frozenset()
    if DATA_TABLE in tables:
        done = frozenset(conn.execute(sa.select(_data_table.c.name)).scalars())
    conn.rollback()  # end the read transaction: a SQLite reader must not hold the file
    return _State(by_branch["expand"], by_branch["contract"], glance, unknown, done)


def _pending_data(state: _State) -> list[DataMigration]:
    return [m for m in data_migrations() if m.name not in state.data_done]


def _assess(state: _State) -> tuple[Status, str]:
    want = heads()
    if state.unknown:
        return Status.UNKNOWN_REVISION, (
            f"The database is at revision(s) {', '.join(state.unknown)}, which this Spyglass "
            "does not know: a newer Spyglass has migrated it. Run the newer release."
        )
    if state.expand != want["expand"]:
        return Status.EXPAND_PENDING, (
            "The database is not up to date. Your first step is `spyglass db expand` "
            "(or `spyglass db sync` if no node of an older release serves it)."
        )
    pending = _pending_data(state)
    if pending:
        return Status.MIGRATE_PENDING, (
            "The database is not up to date. Your next step is `spyglass db migrate` "
            f"({len(pending)} data migration(s) pending: {', '.join(m.name for m in pending)})."
        )
    if state.contract != want["contract"]:
        return Status.CONTRACT_PENDING, (
            "The database is not up to date. Your next step is `spyglass db contract`, "
            "once no node of an older release serves it."
        )
    return Status.CURRENT, "The database is up to date. No upgrades needed."


# --- the API the CLI calls --------------------------------------------------------------------


def status(url: str) -> tuple[Status, str]:
    """What ``check`` reports, without printing it."""
    try:
        with _connect(url) as conn:
            return _assess(_read_state(conn))
    except DatabaseUnreachable as exc:
        return Status.UNREACHABLE, f"The database cannot be reached: {exc}"


def check(url: str, out: TextIO | None = None) -> int:
    """Print what the database needs and return the exit code (see the module docstring)."""
    code, message = status(url)
    print(message, file=out if out is not None else sys.stdout)
    return int(code)


def is_current(url: str) -> bool:
    return status(url)[0] is Status.CURRENT


def version(url: str) -> dict[str, str | None]:
    """The database's current revisions: Spyglass's expand and contract heads, and the
    revision in Glance's alembic_version (None where there is none)."""
    with _connect(url) as conn:
        state = _read_state(conn)
    if state.unknown:
        raise MigrationError(_assess(state)[1])
    return {"expand": state.expand, "contract": state.contract, "glance": state.glance}


def _upgrade(url: str, target: str) -> None:
    with _connect(url, create=True) as conn:
        conn.execution_options(**{WRITE: True})  # SQLite: BEGIN IMMEDIATE, one writer
        try:
            with conn.begin():
                command.upgrade(alembic_config(conn), target)
        except CommandError as exc:
            raise MigrationError(f"{target.split('@')[0]} failed: {exc}") from exc
        except sa.exc.DBAPIError as exc:  # a lock timeout, say: nothing was applied
            raise MigrationError(f"{target.split('@')[0]} failed: {exc.orig}") from exc


def expand(url: str) -> None:
    """Apply the expand branch up to this release's head."""
    with _connect(url, create=True) as conn:
        state = _read_state(conn)
    if state.unknown:
        raise MigrationError(_assess(state)[1])
    _upgrade(url, "expand@head")


def migrate_data(url: str) -> dict[str, int]:
    """Run the data migrations not yet recorded; returns the rows each one changed."""
    with _connect(url) as conn:
        code, message = _assess(_read_state(conn))
    if code in (Status.EXPAND_PENDING, Status.UNKNOWN_REVISION):
        raise MigrationError(f"Data migrations cannot run yet. {message}")
    done: dict[str, int] = {}
    engine = _engine(url, create=False)
    try:
        with engine.connect() as conn:
            pending = _pending_data(_read_state(conn))
        for migration in pending:
            rows = migration.run(engine)
            with engine.connect() as conn:
                conn.execution_options(**{WRITE: True})
                with conn.begin():
                    recorded = conn.execute(
                        sa.select(_data_table.c.name).where(_data_table.c.name == migration.name)
                    ).first()
                    if recorded is None:  # else a concurrent run recorded it first
                        conn.execute(_data_table.insert().values(
                            name=migration.name,
                            applied_at=datetime.now(UTC).replace(tzinfo=None),
                            rows_migrated=rows,
                        ))
            done[migration.name] = rows
    finally:
        engine.dispose()
    return done


def contract(url: str) -> None:
    """Apply the contract branch up to this release's head, once expand and the data
    migrations are complete."""
    with _connect(url) as conn:
        code, message = _assess(_read_state(conn))
    if code in (Status.EXPAND_PENDING, Status.MIGRATE_PENDING, Status.UNKNOWN_REVISION):
        raise MigrationError(f"Contract cannot run yet. {message}")
    if code is Status.CONTRACT_PENDING:
        _upgrade(url, "contract@head")


def sync(url: str) -> None:
    """Expand, migrate data and contract: everything, for a database no older node serves."""
    expand(url)
    migrate_data(url)
    contract(url)
