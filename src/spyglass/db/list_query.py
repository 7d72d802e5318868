"""The SQL of an image listing: which rows a viewer may list, the filters, and a total order with
keyset pagination after a marker row. spyglass.db.repo runs it."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from spyglass.db import tables as t
from spyglass.db.unindexed import Unindexed

NULLABLE_SORT_KEYS = frozenset(c.name for c in t.images.c if c.nullable)


@dataclass
class Filter:
    column: str
    op: str  # eq, neq, gt, gte, lt, lte, in
    value: Any


@dataclass
class ListQuery:
    viewer_project: str | None
    viewer_is_admin: bool
    visibility: str | None = None
    member_status: str = "accepted"
    filters: list[Filter] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)
    include_hidden: bool = False
    sort: list[tuple[str, str]] = field(default_factory=lambda: [("created_at", "desc")])
    limit: int = 25
    marker: str | None = None


_OPS = {
    "eq": lambda c, v: c == v, "neq": lambda c, v: c != v, "gt": lambda c, v: c > v,
    "gte": lambda c, v: c >= v, "lt": lambda c, v: c < v, "lte": lambda c, v: c <= v,
    "in": lambda c, v: c.in_(v),
}


def not_deleted(table: sa.Table) -> Any:
    # Unindexed: see spyglass.db.unindexed; `deleted` is the least selective column there is.
    return Unindexed(table.c.deleted) == sa.false()


def list_conditions(q: ListQuery) -> tuple[list[Any], list[tuple[str, str]]]:
    """The WHERE conditions of the listing (without the marker) and its complete sort order."""
    img = t.images
    conditions: list[Any] = [not_deleted(img), *_visibility_conditions(q)]
    if not q.include_hidden:
        conditions.append(Unindexed(img.c.os_hidden) == sa.false())
    for f in q.filters:
        conditions.append(_OPS[f.op](img.c[f.column], f.value))
    for tag in q.tags:
        conditions.append(
            sa.exists().where(
                t.image_tags.c.image_id == img.c.id, t.image_tags.c.value == tag,
                not_deleted(t.image_tags),
            )
        )
    for name, value in q.properties.items():
        p = t.image_properties
        conditions.append(
            sa.exists().where(p.c.image_id == img.c.id, p.c.name == name, p.c.value == value,
                              not_deleted(p))
        )
    sort = list(q.sort)
    if "id" not in (k for k, _ in sort):
        # A total order, so that marker pagination never skips or repeats an image.
        sort.append(("id", sort[-1][1] if sort else "desc"))
    return conditions, sort


def _visibility_conditions(q: ListQuery) -> list[Any]:
    img = t.images
    visibility = Unindexed(img.c.visibility)
    if q.viewer_is_admin:
        if q.visibility == "all":
            return []
        if q.visibility is not None:
            return [visibility == q.visibility]
        return [_not_others_community(q.viewer_project)]

    own = img.c.owner == q.viewer_project if q.viewer_project is not None else sa.false()
    m = t.image_members
    member_conditions = [m.c.member == q.viewer_project, not_deleted(m)]
    if q.member_status != "all":
        member_conditions.append(m.c.status == q.member_status)
    # An uncorrelated IN, computed once per query: as a correlated EXISTS, SQLite without
    # statistics probes image_members by its `deleted` index for every image (minutes at 100k).
    shared_with_me = sa.and_(visibility == "shared",
                             img.c.id.in_(sa.select(m.c.image_id).where(*member_conditions)))
    readable = sa.or_(visibility == "public", own, shared_with_me)
    if q.visibility is None:
        return [readable, _not_others_community(q.viewer_project)]
    if q.visibility == "all":
        return [sa.or_(readable, visibility == "community")]
    if q.visibility == "community":
        return [visibility == "community"]
    return [visibility == q.visibility, readable]


def _not_others_community(project: str | None) -> Any:
    img = t.images
    visibility = Unindexed(img.c.visibility)
    if project is None:
        return visibility != "community"
    return sa.or_(visibility != "community", img.c.owner == project)


def _sort_expr(key: str) -> Any:
    return t.images.c[key]


def nulls_sort_high(dialect_name: str) -> bool:
    """Whether the database sorts NULL above every value (last ascending, first descending), as
    PostgreSQL does; SQLite and MySQL/MariaDB sort it below. Glance leaves the order to the
    database, so that is the order its clients know on each; Spyglass's keeps it."""
    return dialect_name == "postgresql"


def order_by(sort: list[tuple[str, str]]) -> list[Any]:
    return [_sort_expr(key).asc() if direction == "asc" else _sort_expr(key).desc() for key, direction in sort]


def after(sort: list[tuple[str, str]], marker: Mapping[str, Any], *, nulls_high: bool) -> Any:
    """Rows strictly after the marker (its sort keys' values) in the given order: (k1 after) or
    (k1 equal and k2 after)..., with NULL where the database sorts it (nulls_sort_high)."""
    alternatives = []
    equal_so_far: list[Any] = []
    for key, direction in sort:
        col = _sort_expr(key)
        value = marker[key]
        nulls_first = (direction == "asc") != nulls_high
        if value is None:
            after = col.is_not(None) if nulls_first else sa.false()
            equal = col.is_(None)
        else:
            after = col > value if direction == "asc" else col < value
            if key in NULLABLE_SORT_KEYS and not nulls_first:
                after = sa.or_(after, col.is_(None))
            equal = col == value
        alternatives.append(sa.and_(*equal_so_far, after))
        equal_so_far.append(equal)
    return sa.or_(*alternatives)
