"""spyglass.db.migrate on SQLite: creating a database, adopting one Glance created, the order
of the three phases, and check()'s exit codes."""
from __future__ import annotations

import importlib.util
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import real_glance
import sqlalchemy as sa
from database_servers import missing

from spyglass.db import migrate
from spyglass.db.tables import metadata

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "glance33" / "glance.sqlite"
GLANCE_HEAD = "2024_1_contract01"
BOOKKEEPING = {migrate.VERSION_TABLE, migrate.DATA_TABLE}
HEADS = {"expand": "expand_0001", "contract": "contract_0001"}


def _schema_module() -> ModuleType:
    # One definition of "the same schema" for the whole suite: the describe() that
    # test_schema_matches_glance.py compares Glance's databases with.
    path = Path(__file__).with_name("test_schema_matches_glance.py")
    spec = importlib.util.spec_from_file_location("_glance_schema_description", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


describe: Callable[[sa.Engine], dict[str, Any]] = _schema_module().describe


def _describe(url: str, *, without: set[str] = BOOKKEEPING) -> dict[str, Any]:
    engine = sa.create_engine(url)
    try:
        result = describe(engine)
    finally:
        engine.dispose()
    result["tables"] = {k: v for k, v in result["tables"].items() if k not in without}
    return result


def _dump(path: Path, *, skip: tuple[str, ...] = ()) -> list[str]:
    """Every statement that would rebuild the file: its schema and all its rows."""
    conn = sqlite3.connect(path)
    try:
        return [line for line in conn.iterdump()
                if not any(f'"{name}"' in line or f" {name} " in line for name in skip)]
    finally:
        conn.close()


def _glance_copy(tmp_path: Path) -> Path:
    if not FIXTURE.exists():
        pytest.skip("no Glance-created fixture database")
    path = tmp_path / "glance.sqlite"
    shutil.copy(FIXTURE, path)
    return path


@pytest.fixture
def db(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "data" / "spyglass.sqlite"
    return path, f"sqlite:///{path}"


def test_a_fresh_database_gets_glance_33s_schema(db: tuple[Path, str], tmp_path: Path) -> None:
    path, url = db
    migrate.sync(url)

    reference = f"sqlite:///{tmp_path / 'reference.sqlite'}"
    engine = sa.create_engine(reference)
    metadata.create_all(engine)
    engine.dispose()
    got = _describe(url)
    assert len(got["tables"]) == 15
    assert got == _describe(reference)
    if FIXTURE.exists():
        assert got == _describe(f"sqlite:///{FIXTURE}")


def test_a_fresh_database_is_stamped_for_glance(db: tuple[Path, str]) -> None:
    path, url = db
    migrate.sync(url)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (GLANCE_HEAD,)]
    assert migrate.version(url) == {**HEADS, "glance": GLANCE_HEAD}


def test_check_reports_each_phase(db: tuple[Path, str]) -> None:
    path, url = db
    path.parent.mkdir()
    sqlite3.connect(path).close()  # an empty database
    assert migrate.check(url) == 3
    assert migrate.version(url) == {"expand": None, "contract": None, "glance": None}
    migrate.expand(url)
    assert migrate.check(url) == 5
    assert migrate.version(url) == {**HEADS, "contract": None, "glance": GLANCE_HEAD}
    assert migrate.migrate_data(url) == {}
    migrate.contract(url)
    assert migrate.check(url) == 0
    assert migrate.is_current(url)


def test_check_prints_what_to_do(db: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    path, url = db
    path.parent.mkdir()
    sqlite3.connect(path).close()
    migrate.check(url)
    assert "spyglass db expand" in capsys.readouterr().out
    migrate.sync(url)
    migrate.check(url)
    assert "up to date" in capsys.readouterr().out


def test_a_missing_database_is_unreachable_and_not_created(db: tuple[Path, str]) -> None:
    path, url = db
    assert migrate.check(url) == 1
    assert migrate.status(url)[0] is migrate.Status.UNREACHABLE
    assert not migrate.is_current(url)
    with pytest.raises(migrate.DatabaseUnreachable):
        migrate.version(url)
    assert not path.parent.exists()


def test_a_database_that_cannot_be_opened_is_unreachable(tmp_path: Path) -> None:
    code, message = migrate.status(f"sqlite:///{tmp_path}")  # a directory, not a database
    assert code is migrate.Status.UNREACHABLE
    assert "unable to open" in message
    with pytest.raises(migrate.DatabaseUnreachable):
        migrate.sync(f"sqlite:///{tmp_path}")


@pytest.mark.parametrize("url", [
    "postgresql://spyglass:s3cret@127.0.0.1:1/spyglass",  # no server there (or no driver)
    "nosuchdb://spyglass:s3cret@127.0.0.1/spyglass",
])
def test_an_unreachable_server_is_reported_without_its_password(url: str) -> None:
    code, message = migrate.status(url)
    assert code is migrate.Status.UNREACHABLE
    assert "s3cret" not in message


def test_sync_twice_changes_nothing(db: tuple[Path, str]) -> None:
    path, url = db
    migrate.sync(url)
    before = _dump(path)
    migrate.sync(url)
    assert _dump(path) == before
    assert migrate.check(url) == 0


def test_sync_adopts_a_glance_database_without_touching_it(tmp_path: Path) -> None:
    path = _glance_copy(tmp_path)
    url = f"sqlite:///{path}"
    image = "6f1bd0a4-3b0c-4ba1-a7cc-3c5d3e4a9c01"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO images (id, name, size, status, created_at, deleted, disk_format,"
            " container_format, owner, min_disk, min_ram, protected, visibility, os_hidden)"
            " VALUES (?, 'cirros', 1024, 'active', '2025-01-02 03:04:05', 0, 'qcow2', 'bare',"
            " 'p1', 0, 0, 0, 'shared', 0)", (image,))
        conn.execute("INSERT INTO image_properties (image_id, name, value, created_at, deleted)"
                     " VALUES (?, 'os_distro', 'cirros', '2025-01-02 03:04:05', 0)", (image,))
        conn.execute("INSERT INTO image_tags (image_id, value, created_at, deleted)"
                     " VALUES (?, 'small', '2025-01-02 03:04:05', 0)", (image,))
        conn.execute("INSERT INTO image_members (image_id, member, can_share, created_at,"
                     " deleted, status) VALUES (?, 'p2', 0, '2025-01-02 03:04:05', 0,"
                     " 'accepted')", (image,))
        conn.execute("INSERT INTO image_locations (image_id, value, created_at, deleted,"
                     " meta_data, status) VALUES (?, 'file:///x', '2025-01-02 03:04:05', 0,"
                     " '{}', 'active')", (image,))
    before = _dump(path)
    assert migrate.check(url) == 3

    migrate.sync(url)

    assert _dump(path, skip=tuple(BOOKKEEPING)) == before
    assert migrate.check(url) == 0
    assert migrate.version(url) == {**HEADS, "glance": GLANCE_HEAD}


def test_sync_creates_only_the_glance_tables_that_are_missing(tmp_path: Path) -> None:
    path = _glance_copy(tmp_path)
    url = f"sqlite:///{path}"
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE cached_images")
        conn.execute("DROP TABLE node_reference")
    kept = _dump(path)
    migrate.sync(url)
    assert _dump(path, skip=("cached_images", "node_reference", *BOOKKEEPING)) == kept
    assert _describe(url) == _describe(f"sqlite:///{FIXTURE}")


@pytest.mark.parametrize("glance_revision", ["zed_contract01", None])
def test_a_glance_database_at_another_revision_is_refused(
    tmp_path: Path, glance_revision: str | None
) -> None:
    path = _glance_copy(tmp_path)
    url = f"sqlite:///{path}"
    with sqlite3.connect(path) as conn:
        if glance_revision is None:
            conn.execute("DROP TABLE alembic_version")
        else:
            conn.execute("UPDATE alembic_version SET version_num = ?", (glance_revision,))
    before = _dump(path)
    with pytest.raises(migrate.MigrationError, match="glance-manage db sync"):
        migrate.sync(url)
    assert _dump(path) == before  # rolled back: not even Spyglass's version table is left
    assert migrate.check(url) == 3


def test_data_migrations_run_between_expand_and_contract(
    db: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, url = db
    runs: list[str] = []

    def fill_min_ram(engine: sa.Engine) -> int:
        runs.append("fill_min_ram")
        with engine.begin() as conn:
            return conn.execute(sa.text("UPDATE images SET min_ram = 64 WHERE min_ram = 0")).rowcount

    migrate.expand(url)
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO images (id, status, created_at, deleted, min_disk, min_ram)"
                     " VALUES ('a', 'queued', '2025-01-01', 0, 0, 0)")
    monkeypatch.setattr(migrate, "data_migrations",
                        lambda: [migrate.DataMigration("0001_fill_min_ram", fill_min_ram)])

    assert migrate.check(url) == 4
    with pytest.raises(migrate.MigrationError, match="spyglass db migrate"):
        migrate.contract(url)
    assert migrate.version(url)["contract"] is None

    assert migrate.migrate_data(url) == {"0001_fill_min_ram": 1}
    assert migrate.check(url) == 5
    assert migrate.migrate_data(url) == {}  # recorded: never runs twice
    assert runs == ["fill_min_ram"]
    migrate.contract(url)
    assert migrate.check(url) == 0
    with sqlite3.connect(path) as conn:
        recorded = conn.execute(f"SELECT name, rows_migrated FROM {migrate.DATA_TABLE}")
        assert recorded.fetchall() == [("0001_fill_min_ram", 1)]


def test_data_migrations_and_contract_wait_for_expand(db: tuple[Path, str]) -> None:
    path, url = db
    path.parent.mkdir()
    sqlite3.connect(path).close()
    with pytest.raises(migrate.MigrationError, match="spyglass db expand"):
        migrate.migrate_data(url)
    with pytest.raises(migrate.MigrationError, match="spyglass db expand"):
        migrate.contract(url)
    assert migrate.check(url) == 3


def test_a_database_migrated_by_a_newer_release_is_reported(db: tuple[Path, str]) -> None:
    path, url = db
    migrate.sync(url)
    with sqlite3.connect(path) as conn:
        conn.execute(f"INSERT INTO {migrate.VERSION_TABLE} VALUES ('expand_9999')")
    assert migrate.check(url) == 6
    with pytest.raises(migrate.MigrationError, match="newer Spyglass"):
        migrate.version(url)
    with pytest.raises(migrate.MigrationError, match="newer Spyglass"):
        migrate.expand(url)


def _glance_manage() -> str:
    venv = real_glance.installed()
    found = os.environ.get("GLANCE_MANAGE") or (venv and str(venv / "bin" / "glance-manage")) or \
        shutil.which("glance-manage")
    if not found:
        missing("Glance is not installed: run `python tests/real_glance.py install`")
    return found


def test_real_glance_finds_a_spyglass_database_up_to_date(
    db: tuple[Path, str], tmp_path: Path
) -> None:
    glance_manage = _glance_manage()
    path, url = db
    migrate.sync(url)
    conf = tmp_path / "glance-manage.conf"
    conf.write_text(f"[database]\nconnection = {url}\n")
    result = subprocess.run([glance_manage, "--config-file", str(conf), "db", "check"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
