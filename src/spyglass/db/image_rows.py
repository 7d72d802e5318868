"""Images and their children as rows: the statements the repository compiles once (an image with
its properties, tags and locations in one round trip, inserts, soft deletes, the row lock), and the
mapping between rows and the models."""
from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from spyglass.db import tables as t
from spyglass.db.list_query import not_deleted
from spyglass.model import CORE_ATTRIBUTES, Image, Location, Member


def children_union(image_ids: Any) -> sa.CompoundSelect[Any]:
    """Properties, tags and locations of the images whose id matches `image_ids` (a condition
    builder) as one UNION ALL: a row per child, its kind first."""
    text_null = sa.cast(sa.null(), sa.Text)
    p, tg, loc = t.image_properties, t.image_tags, t.image_locations
    return sa.union_all(
        sa.select(p.c.image_id, sa.literal_column(str(PROPERTY)).label("kind"), p.c.id.label("child_id"),
                  sa.cast(p.c.name, sa.Text).label("first"), sa.cast(p.c.value, sa.Text).label("second"),
                  text_null.label("third"))
        .where(image_ids(p.c.image_id), not_deleted(p)),
        sa.select(tg.c.image_id, sa.literal_column(str(TAG)), tg.c.id, sa.cast(tg.c.value, sa.Text),
                  text_null, text_null)
        .where(image_ids(tg.c.image_id), not_deleted(tg)),
        sa.select(loc.c.image_id, sa.literal_column(str(LOCATION)), loc.c.id, sa.cast(loc.c.value, sa.Text),
                  sa.cast(loc.c.meta_data, sa.Text), sa.cast(loc.c.status, sa.Text))
        .where(image_ids(loc.c.image_id), not_deleted(loc)),
    )


def get_with_children() -> sa.Select[Any]:
    """One live image and its children in one statement (one snapshot, one round trip): the image's
    columns on every row, then a child's; a single row with NULL children when it has none."""
    children = children_union(lambda column: column == sa.bindparam("id")).subquery()
    return (sa.select(t.images, children.c.kind, children.c.child_id, children.c.first, children.c.second,
                      children.c.third)
            .select_from(t.images.outerjoin(children, sa.true()))
            .where(t.images.c.id == sa.bindparam("id"), not_deleted(t.images))
            .order_by(children.c.kind, children.c.child_id))


PROPERTY, TAG, LOCATION = 0, 1, 2
# A set of images' children, ordered as ImageRepository._hydrate expects. Built once: executing
# a prepared statement is much cheaper than building one.
CHILDREN = (children_union(lambda column: column.in_(sa.bindparam("ids", expanding=True)))
            .order_by(sa.literal_column("kind"), sa.literal_column("child_id")))
IMAGE_KEYS = tuple(t.images.c.keys())  # the leading columns of a get_with_children row
IMAGE_COLUMNS = len(IMAGE_KEYS)
LOCK_IMAGE = (sa.select(t.images.c.id).where(t.images.c.id == sa.bindparam("image_id"), not_deleted(t.images))
              .with_for_update())


PROPERTY_COLUMNS = ("image_id", "name", "value", "created_at", "updated_at", "deleted")
TAG_COLUMNS = ("image_id", "value", "created_at", "updated_at", "deleted")


def property_rows(image_id: str, props: dict[str, str], now: datetime) -> list[dict[str, Any]]:
    return [{"image_id": image_id, "name": k, "value": v, "created_at": now, "updated_at": now, "deleted": False}
            for k, v in props.items()]


def tag_rows(image_id: str, tags: Iterable[str], now: datetime) -> list[dict[str, Any]]:
    return [{"image_id": image_id, "value": tag, "created_at": now, "updated_at": now, "deleted": False}
            for tag in dict.fromkeys(tags)]


def soft_delete(table: sa.Table, key: sa.Column[Any], **also: Any) -> sa.Update:
    """Mark the live rows whose `key` is the bind parameter `image_id` deleted at `now`."""
    now = sa.bindparam("now")
    return (table.update().where(key == sa.bindparam("image_id"), not_deleted(table))
            .values(deleted=True, deleted_at=now, updated_at=now, **also))


def insert_statement(table: sa.Table, columns: Iterable[str]) -> sa.Insert:
    """An INSERT of these columns, each a bind parameter named after its column."""
    return table.insert().values({name: sa.bindparam(name) for name in columns})


def image_from_row(columns: Any) -> Image:
    return Image(**{name: columns[name] for name in CORE_ATTRIBUTES})


def add_child(image: Image, kind: int, child_id: int, first: str, second: str | None,
               third: str | None) -> None:
    if kind == PROPERTY:
        image.properties[first] = second if second is not None else ""
    elif kind == TAG:
        if first not in image.tags:
            image.tags.append(first)
    else:
        image.locations.append(Location(url=first, metadata=json.loads(second or "{}"), status=third, id=child_id))


def member_from_row(row: sa.Row[Any]) -> Member:
    return Member(image_id=row.image_id, member=row.member, status=row.status, created_at=row.created_at,
                  updated_at=row.updated_at or row.created_at, can_share=bool(row.can_share))
