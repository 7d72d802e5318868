"""Glance's database schema (as of Glance 33, alembic head ``2024_1_contract01``).

Spyglass runs on databases that Glance created and Glance may run on databases that Spyglass
created, so ``metadata.create_all()`` must produce what ``glance-manage db sync`` produces on
SQLite, PostgreSQL and MariaDB/MySQL: the same tables, column order, types, nullability, server
defaults, keys, index and constraint names. tests/db/test_schema_matches_glance.py checks it.

JSON-valued columns (``image_locations.meta_data``, ``task_info.input``...) are plain TEXT in
the database; encoding them is the repository's job.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Enum,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

metadata = MetaData()

# Glance creates its tables with these options on MySQL; the charset is 3-byte utf8, so
# 4-byte characters (emoji) in names or properties fail there just as they do with Glance.
_MYSQL = {"mysql_engine": "InnoDB", "mysql_charset": "utf8"}

VISIBILITIES = ("private", "public", "shared", "community")


def _bigint() -> BigInteger:
    """BIGINT, but INTEGER on SQLite, where only an INTEGER primary key is the rowid alias
    that autoincrements. Glance declares sizes and cache ids this way."""
    return BigInteger().with_variant(Integer(), "sqlite")  # type: ignore[return-value]


def _flag(name: str, *, nullable: bool = False) -> Column:
    """A boolean with the ``CHECK (x IN (0, 1))`` that Glance's tables carry on SQLite and
    MySQL (PostgreSQL has a native boolean and gets no check)."""
    return Column(name, Boolean(create_constraint=True), nullable=nullable)


def _soft_delete_columns() -> list[Column]:
    return [
        Column("created_at", DateTime(), nullable=False),
        Column("updated_at", DateTime()),
        Column("deleted_at", DateTime()),
        _flag("deleted"),
    ]


def _timestamps() -> list[Column]:
    return [
        Column("created_at", DateTime(), nullable=False),
        Column("updated_at", DateTime()),
    ]


def _on_mysql(ddl: object, target: object, bind: object, **kw: object) -> bool:
    return kw["dialect"].name in ("mysql", "mariadb")  # type: ignore[attr-defined]


# --- images ----------------------------------------------------------------------------------

images = Table(
    "images",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(255)),
    Column("size", _bigint()),
    Column("status", String(30), nullable=False),
    Column("created_at", DateTime(), nullable=False),
    Column("updated_at", DateTime()),
    Column("deleted_at", DateTime()),
    # No CHECK on SQLite: Glance rebuilt this table there (dropping is_public) and the rebuilt
    # table lost its checks. MySQL altered it in place and kept them, under the names MariaDB
    # gave them (CONSTRAINT_1 was is_public's).
    Column("deleted", Boolean(create_constraint=False), nullable=False),
    Column("disk_format", String(20)),
    Column("container_format", String(20)),
    Column("checksum", String(32)),
    Column("owner", String(255)),
    Column("min_disk", Integer(), nullable=False),
    Column("min_ram", Integer(), nullable=False),
    Column("protected", Boolean(create_constraint=False), nullable=False, server_default=false()),
    Column("virtual_size", _bigint()),
    # A native ENUM type on PostgreSQL and MySQL, VARCHAR(9) without a check on SQLite.
    Column(
        "visibility",
        Enum(*VISIBILITIES, name="image_visibility"),
        nullable=False,
        server_default="shared",
    ),
    Column("os_hidden", Boolean(create_constraint=False), nullable=False, server_default=false()),
    Column("os_hash_algo", String(64)),
    Column("os_hash_value", String(128)),
    CheckConstraint("deleted IN (0, 1)", name="CONSTRAINT_2").ddl_if(callable_=_on_mysql),
    CheckConstraint("protected IN (0, 1)", name="CONSTRAINT_3").ddl_if(callable_=_on_mysql),
    Index("checksum_image_idx", "checksum"),
    Index("ix_images_deleted", "deleted"),
    Index("owner_image_idx", "owner"),
    Index("created_at_image_idx", "created_at"),
    Index("updated_at_image_idx", "updated_at"),
    Index("visibility_image_idx", "visibility"),
    Index("os_hidden_image_idx", "os_hidden"),
    Index("os_hash_value_image_idx", "os_hash_value"),
    **_MYSQL,
)

image_properties = Table(
    "image_properties",
    metadata,
    Column("id", Integer(), primary_key=True),
    Column("image_id", String(36), ForeignKey("images.id"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("value", Text()),
    *_soft_delete_columns(),
    # Glance gave this unique constraint an index-style name; keep it.
    UniqueConstraint("image_id", "name", name="ix_image_properties_image_id_name"),
    Index("ix_image_properties_deleted", "deleted"),
    Index("ix_image_properties_image_id", "image_id"),
    **_MYSQL,
)

image_locations = Table(
    "image_locations",
    metadata,
    Column("id", Integer(), primary_key=True),
    Column("image_id", String(36), ForeignKey("images.id"), nullable=False),
    Column("value", Text(), nullable=False),
    *_soft_delete_columns(),
    Column("meta_data", Text()),
    Column("status", String(30), nullable=False, server_default="active"),
    Index("ix_image_locations_deleted", "deleted"),
    Index("ix_image_locations_image_id", "image_id"),
    **_MYSQL,
)

image_members = Table(
    "image_members",
    metadata,
    Column("id", Integer(), primary_key=True),
    Column("image_id", String(36), ForeignKey("images.id"), nullable=False),
    Column("member", String(255), nullable=False),
    _flag("can_share"),
    *_soft_delete_columns(),
    Column("status", String(20), nullable=False, server_default="pending"),
    # deleted_at is part of the key so that a member can be re-added after a removal.
    UniqueConstraint(
        "image_id", "member", "deleted_at", name="image_members_image_id_member_deleted_at_key"
    ),
    Index("ix_image_members_deleted", "deleted"),
    Index("ix_image_members_image_id", "image_id"),
    Index("ix_image_members_image_id_member", "image_id", "member"),
    **_MYSQL,
)

image_tags = Table(
    "image_tags",
    metadata,
    Column("id", Integer(), primary_key=True),
    Column("image_id", String(36), ForeignKey("images.id"), nullable=False),
    Column("value", String(255), nullable=False),
    *_soft_delete_columns(),
    Index("ix_image_tags_image_id", "image_id"),
    Index("ix_image_tags_image_id_tag_value", "image_id", "value"),
    **_MYSQL,
)

# --- tasks -----------------------------------------------------------------------------------

tasks = Table(
    "tasks",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("type", String(30), nullable=False),
    Column("status", String(30), nullable=False),
    Column("owner", String(255), nullable=False),
    Column("expires_at", DateTime()),
    *_soft_delete_columns(),
    # Added later (Wallaby), hence after the soft-delete columns.
    Column("image_id", String(36)),
    Column("request_id", String(64)),
    Column("user_id", String(64)),
    Index("ix_tasks_deleted", "deleted"),
    Index("ix_tasks_owner", "owner"),
    Index("ix_tasks_status", "status"),
    Index("ix_tasks_type", "type"),
    Index("ix_tasks_updated_at", "updated_at"),
    Index("ix_tasks_image_id", "image_id"),
    **_MYSQL,
)

task_info = Table(
    "task_info",
    metadata,
    Column("task_id", String(36), ForeignKey("tasks.id"), primary_key=True),
    Column("input", Text()),
    Column("result", Text()),
    Column("message", Text()),
    **_MYSQL,
)

# --- metadata definitions --------------------------------------------------------------------

metadef_namespaces = Table(
    "metadef_namespaces",
    metadata,
    Column("id", Integer(), primary_key=True),
    Column("namespace", String(80), nullable=False),
    Column("display_name", String(80)),
    Column("description", Text()),
    Column("visibility", String(32)),
    _flag("protected", nullable=True),
    Column("owner", String(255), nullable=False),
    *_timestamps(),
    UniqueConstraint("namespace", name="uq_metadef_namespaces_namespace"),
    Index("ix_metadef_namespaces_owner", "owner"),
    **_MYSQL,
)

metadef_resource_types = Table(
    "metadef_resource_types",
    metadata,
    Column("id", Integer(), primary_key=True),
    Column("name", String(80), nullable=False),
    _flag("protected"),
    *_timestamps(),
    UniqueConstraint("name", name="uq_metadef_resource_types_name"),
    **_MYSQL,
)

metadef_namespace_resource_types = Table(
    "metadef_namespace_resource_types",
    metadata,
    Column("resource_type_id", Integer(), primary_key=True, autoincrement=False),
    Column("namespace_id", Integer(), primary_key=True, autoincrement=False),
    Column("properties_target", String(80)),
    Column("prefix", String(80)),
    *_timestamps(),
    # Declared in this order so that MySQL numbers them as Glance's (..._ibfk_1 is namespace_id).
    ForeignKeyConstraint(["namespace_id"], ["metadef_namespaces.id"]),
    ForeignKeyConstraint(["resource_type_id"], ["metadef_resource_types.id"]),
    Index("ix_metadef_ns_res_types_namespace_id", "namespace_id"),
    **_MYSQL,
)

metadef_objects = Table(
    "metadef_objects",
    metadata,
    Column("id", Integer(), primary_key=True),
    Column("namespace_id", Integer(), ForeignKey("metadef_namespaces.id"), nullable=False),
    Column("name", String(80), nullable=False),
    Column("description", Text()),
    Column("required", Text()),
    Column("json_schema", Text(), nullable=False),
    *_timestamps(),
    UniqueConstraint("namespace_id", "name", name="uq_metadef_objects_namespace_id_name"),
    Index("ix_metadef_objects_name", "name"),
    **_MYSQL,
)

metadef_properties = Table(
    "metadef_properties",
    metadata,
    Column("id", Integer(), primary_key=True),
    Column("namespace_id", Integer(), ForeignKey("metadef_namespaces.id"), nullable=False),
    Column("name", String(80), nullable=False),
    Column("json_schema", Text(), nullable=False),
    *_timestamps(),
    UniqueConstraint("namespace_id", "name", name="uq_metadef_properties_namespace_id_name"),
    Index("ix_metadef_properties_name", "name"),
    **_MYSQL,
)

metadef_tags = Table(
    "metadef_tags",
    metadata,
    Column("id", Integer(), primary_key=True),
    Column("namespace_id", Integer(), ForeignKey("metadef_namespaces.id"), nullable=False),
    Column("name", String(80), nullable=False),
    *_timestamps(),
    UniqueConstraint("namespace_id", "name", name="uq_metadef_tags_namespace_id_name"),
    Index("ix_metadef_tags_name", "name"),
    **_MYSQL,
)

# --- image cache (centralized cache database, Glance 2024.1+) --------------------------------

node_reference = Table(
    "node_reference",
    metadata,
    Column("node_reference_id", _bigint(), primary_key=True),
    Column("node_reference_url", String(255), nullable=False),
    UniqueConstraint("node_reference_url", name="uq_node_reference_node_reference_url"),
    **_MYSQL,
)

cached_images = Table(
    "cached_images",
    metadata,
    Column("id", _bigint(), primary_key=True),
    Column("image_id", String(36), nullable=False),
    Column("last_accessed", DateTime(), nullable=False),
    Column("last_modified", DateTime(), nullable=False),
    Column("size", BigInteger(), nullable=False),  # BIGINT even on SQLite, unlike images.size
    Column("hits", Integer(), nullable=False),
    Column("checksum", String(32)),
    Column(
        "node_reference_id",
        _bigint(),
        ForeignKey("node_reference.node_reference_id"),
        nullable=False,
    ),
    # Also an index-style name on a unique constraint, as Glance has it.
    UniqueConstraint(
        "image_id", "node_reference_id", name="ix_cached_images_image_id_node_reference_id"
    ),
    **_MYSQL,
)
