"""Glance 33's schema, adopted where Glance already created it.

On a database that Glance created (its ``alembic_version`` at a revision listed in
GLANCE_HEADS) this creates only the tables that are missing, normally none, and leaves every
existing table and row as it is. On an empty database it creates Glance's whole schema and
stamps Glance's ``alembic_version`` with Glance 33's head, so that Glance itself sees an
up-to-date database and can serve it too. Either way it adds Spyglass's bookkeeping table for
data migrations. A database at another Glance revision is refused: its tables differ.

Written out in full rather than built from spyglass.db.tables, which follows the newest schema.

Revision ID: expand_0001
Revises:
Create Date: 2025-11-26
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op
from alembic.util import CommandError

revision: str = "expand_0001"
down_revision: str | None = None
branch_labels: Sequence[str] | None = ("expand",)
depends_on: Sequence[str] | None = None

# What Glance 33's `glance-manage db sync` leaves in alembic_version.
GLANCE_HEADS = ("2024_1_contract01",)

_MYSQL = {"mysql_engine": "InnoDB", "mysql_charset": "utf8"}
VISIBILITIES = ("private", "public", "shared", "community")


def _bigint() -> sa.types.TypeEngine:
    # INTEGER on SQLite, where only an INTEGER primary key autoincrements.
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _flag(name: str, *, nullable: bool = False) -> sa.Column:
    # With the CHECK (x IN (0, 1)) that Glance's tables carry on SQLite and MySQL.
    return sa.Column(name, sa.Boolean(create_constraint=True), nullable=nullable)


def _soft_delete() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime()),
        sa.Column("deleted_at", sa.DateTime()),
        _flag("deleted"),
    ]


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime()),
    ]


def _on_mysql(ddl: object, target: object, bind: object, **kw: object) -> bool:
    return kw["dialect"].name in ("mysql", "mariadb")  # type: ignore[attr-defined]


def _images() -> None:
    op.create_table(
        "images",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255)),
        sa.Column("size", _bigint()),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime()),
        sa.Column("deleted_at", sa.DateTime()),
        # Glance's images table has no boolean CHECKs on SQLite and PostgreSQL; on MySQL it
        # has the two below, under the names MariaDB gave them.
        sa.Column("deleted", sa.Boolean(create_constraint=False), nullable=False),
        sa.Column("disk_format", sa.String(20)),
        sa.Column("container_format", sa.String(20)),
        sa.Column("checksum", sa.String(32)),
        sa.Column("owner", sa.String(255)),
        sa.Column("min_disk", sa.Integer(), nullable=False),
        sa.Column("min_ram", sa.Integer(), nullable=False),
        sa.Column("protected", sa.Boolean(create_constraint=False), nullable=False,
                  server_default=sa.false()),
        sa.Column("virtual_size", _bigint()),
        sa.Column("visibility", sa.Enum(*VISIBILITIES, name="image_visibility"),
                  nullable=False, server_default="shared"),
        sa.Column("os_hidden", sa.Boolean(create_constraint=False), nullable=False,
                  server_default=sa.false()),
        sa.Column("os_hash_algo", sa.String(64)),
        sa.Column("os_hash_value", sa.String(128)),
        sa.CheckConstraint("deleted IN (0, 1)", name="CONSTRAINT_2").ddl_if(callable_=_on_mysql),
        sa.CheckConstraint("protected IN (0, 1)", name="CONSTRAINT_3").ddl_if(callable_=_on_mysql),
        **_MYSQL,
    )
    op.create_index("checksum_image_idx", "images", ["checksum"])
    op.create_index("ix_images_deleted", "images", ["deleted"])
    op.create_index("owner_image_idx", "images", ["owner"])
    op.create_index("created_at_image_idx", "images", ["created_at"])
    op.create_index("updated_at_image_idx", "images", ["updated_at"])
    op.create_index("visibility_image_idx", "images", ["visibility"])
    op.create_index("os_hidden_image_idx", "images", ["os_hidden"])
    op.create_index("os_hash_value_image_idx", "images", ["os_hash_value"])


def _image_properties() -> None:
    op.create_table(
        "image_properties",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("image_id", sa.String(36), sa.ForeignKey("images.id"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("value", sa.Text()),
        *_soft_delete(),
        sa.UniqueConstraint("image_id", "name", name="ix_image_properties_image_id_name"),
        **_MYSQL,
    )
    op.create_index("ix_image_properties_deleted", "image_properties", ["deleted"])
    op.create_index("ix_image_properties_image_id", "image_properties", ["image_id"])


def _image_locations() -> None:
    op.create_table(
        "image_locations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("image_id", sa.String(36), sa.ForeignKey("images.id"), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        *_soft_delete(),
        sa.Column("meta_data", sa.Text()),
        sa.Column("status", sa.String(30), nullable=False, server_default="active"),
        **_MYSQL,
    )
    op.create_index("ix_image_locations_deleted", "image_locations", ["deleted"])
    op.create_index("ix_image_locations_image_id", "image_locations", ["image_id"])


def _image_members() -> None:
    op.create_table(
        "image_members",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("image_id", sa.String(36), sa.ForeignKey("images.id"), nullable=False),
        sa.Column("member", sa.String(255), nullable=False),
        _flag("can_share"),
        *_soft_delete(),
        sa.Column("status", sa.String(20), nullable=False, server_default="pending"),
        sa.UniqueConstraint("image_id", "member", "deleted_at",
                            name="image_members_image_id_member_deleted_at_key"),
        **_MYSQL,
    )
    op.create_index("ix_image_members_deleted", "image_members", ["deleted"])
    op.create_index("ix_image_members_image_id", "image_members", ["image_id"])
    op.create_index("ix_image_members_image_id_member", "image_members", ["image_id", "member"])


def _image_tags() -> None:
    op.create_table(
        "image_tags",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("image_id", sa.String(36), sa.ForeignKey("images.id"), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        *_soft_delete(),
        **_MYSQL,
    )
    op.create_index("ix_image_tags_image_id", "image_tags", ["image_id"])
    op.create_index("ix_image_tags_image_id_tag_value", "image_tags", ["image_id", "value"])


def _tasks() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("type", sa.String(30), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("expires_at", sa.DateTime()),
        *_soft_delete(),
        sa.Column("image_id", sa.String(36)),
        sa.Column("request_id", sa.String(64)),
        sa.Column("user_id", sa.String(64)),
        **_MYSQL,
    )
    op.create_index("ix_tasks_deleted", "tasks", ["deleted"])
    op.create_index("ix_tasks_owner", "tasks", ["owner"])
    op.create_index("ix_tasks_status", "tasks", ["status"])
    op.create_index("ix_tasks_type", "tasks", ["type"])
    op.create_index("ix_tasks_updated_at", "tasks", ["updated_at"])
    op.create_index("ix_tasks_image_id", "tasks", ["image_id"])


def _task_info() -> None:
    op.create_table(
        "task_info",
        sa.Column("task_id", sa.String(36), sa.ForeignKey("tasks.id"), primary_key=True),
        sa.Column("input", sa.Text()),
        sa.Column("result", sa.Text()),
        sa.Column("message", sa.Text()),
        **_MYSQL,
    )


def _metadef_namespaces() -> None:
    op.create_table(
        "metadef_namespaces",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("namespace", sa.String(80), nullable=False),
        sa.Column("display_name", sa.String(80)),
        sa.Column("description", sa.Text()),
        sa.Column("visibility", sa.String(32)),
        _flag("protected", nullable=True),
        sa.Column("owner", sa.String(255), nullable=False),
        *_timestamps(),
        sa.UniqueConstraint("namespace", name="uq_metadef_namespaces_namespace"),
        **_MYSQL,
    )
    op.create_index("ix_metadef_namespaces_owner", "metadef_namespaces", ["owner"])


def _metadef_resource_types() -> None:
    op.create_table(
        "metadef_resource_types",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(80), nullable=False),
        _flag("protected"),
        *_timestamps(),
        sa.UniqueConstraint("name", name="uq_metadef_resource_types_name"),
        **_MYSQL,
    )


def _metadef_namespace_resource_types() -> None:
    op.create_table(
        "metadef_namespace_resource_types",
        sa.Column("resource_type_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("namespace_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("properties_target", sa.String(80)),
        sa.Column("prefix", sa.String(80)),
        *_timestamps(),
        # In this order, so that MySQL numbers them as Glance's (..._ibfk_1 is namespace_id).
        sa.ForeignKeyConstraint(["namespace_id"], ["metadef_namespaces.id"]),
        sa.ForeignKeyConstraint(["resource_type_id"], ["metadef_resource_types.id"]),
        **_MYSQL,
    )
    op.create_index("ix_metadef_ns_res_types_namespace_id", "metadef_namespace_resource_types",
                    ["namespace_id"])


def _metadef_objects() -> None:
    op.create_table(
        "metadef_objects",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("namespace_id", sa.Integer(), sa.ForeignKey("metadef_namespaces.id"),
                  nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("required", sa.Text()),
        sa.Column("json_schema", sa.Text(), nullable=False),
        *_timestamps(),
        sa.UniqueConstraint("namespace_id", "name", name="uq_metadef_objects_namespace_id_name"),
        **_MYSQL,
    )
    op.create_index("ix_metadef_objects_name", "metadef_objects", ["name"])


def _metadef_properties() -> None:
    op.create_table(
        "metadef_properties",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("namespace_id", sa.Integer(), sa.ForeignKey("metadef_namespaces.id"),
                  nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("json_schema", sa.Text(), nullable=False),
        *_timestamps(),
        sa.UniqueConstraint("namespace_id", "name",
                            name="uq_metadef_properties_namespace_id_name"),
        **_MYSQL,
    )
    op.create_index("ix_metadef_properties_name", "metadef_properties", ["name"])


def _metadef_tags() -> None:
    op.create_table(
        "metadef_tags",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("namespace_id", sa.Integer(), sa.ForeignKey("metadef_namespaces.id"),
                  nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        *_timestamps(),
        sa.UniqueConstraint("namespace_id", "name", name="uq_metadef_tags_namespace_id_name"),
        **_MYSQL,
    )
    op.create_index("ix_metadef_tags_name", "metadef_tags", ["name"])


def _node_reference() -> None:
    op.create_table(
        "node_reference",
        sa.Column("node_reference_id", _bigint(), primary_key=True),
        sa.Column("node_reference_url", sa.String(255), nullable=False),
        sa.UniqueConstraint("node_reference_url", name="uq_node_reference_node_reference_url"),
        **_MYSQL,
    )


def _cached_images() -> None:
    op.create_table(
        "cached_images",
        sa.Column("id", _bigint(), primary_key=True),
        sa.Column("image_id", sa.String(36), nullable=False),
        sa.Column("last_accessed", sa.DateTime(), nullable=False),
        sa.Column("last_modified", sa.DateTime(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),  # BIGINT even on SQLite
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("checksum", sa.String(32)),
        sa.Column("node_reference_id", _bigint(),
                  sa.ForeignKey("node_reference.node_reference_id"), nullable=False),
        sa.UniqueConstraint("image_id", "node_reference_id",
                            name="ix_cached_images_image_id_node_reference_id"),
        **_MYSQL,
    )


# In dependency order: a table comes after those its foreign keys refer to.
GLANCE_TABLES: dict[str, Callable[[], None]] = {
    "images": _images,
    "image_properties": _image_properties,
    "image_locations": _image_locations,
    "image_members": _image_members,
    "image_tags": _image_tags,
    "tasks": _tasks,
    "task_info": _task_info,
    "metadef_namespaces": _metadef_namespaces,
    "metadef_resource_types": _metadef_resource_types,
    "metadef_namespace_resource_types": _metadef_namespace_resource_types,
    "metadef_objects": _metadef_objects,
    "metadef_properties": _metadef_properties,
    "metadef_tags": _metadef_tags,
    "node_reference": _node_reference,
    "cached_images": _cached_images,
}


def _glance_revision(existing: set[str]) -> str | None:
    if "alembic_version" not in existing:
        return None
    rows = op.get_bind().execute(sa.text("SELECT version_num FROM alembic_version")).all()
    return ",".join(sorted(row[0] for row in rows)) or None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    present = existing & GLANCE_TABLES.keys()
    glance_revision = _glance_revision(existing)
    fresh = not present and glance_revision is None

    if not fresh and glance_revision not in GLANCE_HEADS:
        found = f"at Glance revision {glance_revision}" if glance_revision else (
            "with Glance's tables but no Glance revision in alembic_version")
        raise CommandError(
            f"this database is {found}; Spyglass adopts databases at Glance 33's schema "
            f"({', '.join(GLANCE_HEADS)}): upgrade it with Glance 33's `glance-manage db sync` "
            "first"
        )

    for name, create in GLANCE_TABLES.items():
        if name not in present:
            create()

    if fresh:
        version = op.create_table(
            "alembic_version",
            sa.Column("version_num", sa.String(32), nullable=False),
            sa.PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
        )
        op.bulk_insert(version, [{"version_num": head} for head in GLANCE_HEADS])

    op.create_table(
        "spyglass_data_migrations",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("applied_at", sa.DateTime(), nullable=False),
        sa.Column("rows_migrated", sa.BigInteger(), nullable=False),
        **_MYSQL,
    )


def downgrade() -> None:
    # Dropping these would destroy Glance's data on a shared database. Going back to a release
    # before this one means restoring a backup.
    raise NotImplementedError("the first revision cannot be downgraded")
