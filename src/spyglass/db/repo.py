"""The image repository: all SQL Spyglass runs against Glance's image tables (a listing's
conditions are built in spyglass.db.list_query). Nothing outside db/ writes SQL."""
from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from spyglass.db import tables as t
from spyglass.db.compiled import CompiledStatement
from spyglass.db.deadlocks import retried
from spyglass.db.engine import WRITE, raw_write_transaction, write_lock
from spyglass.db.image_rows import (
    CHILDREN,
    IMAGE_COLUMNS,
    IMAGE_KEYS,
    LOCK_IMAGE,
    PROPERTY_COLUMNS,
    TAG_COLUMNS,
    add_child,
    get_with_children,
    image_from_row,
    insert_statement,
    member_from_row,
    property_rows,
    soft_delete,
    tag_rows,
)
from spyglass.db.list_query import (
    ListQuery,
    after,
    list_conditions,
    not_deleted,
    nulls_sort_high,
    order_by,
)
from spyglass.model import CORE_ATTRIBUTES, Image, Location, Member


def utcnow() -> datetime:
    # Glance stores naive UTC timestamps with second precision; so do we, so both read the same rows.
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


class NotFound(Exception):
    pass


class Conflict(Exception):
    pass


class LimitReached(Exception):
    """A write would take the image past a limit on its properties, tags or members; `count` is
    how many it would have had."""

    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.count = count


class PropertyNameClash(Exception):
    """Two property names the database holds as one (MySQL and MariaDB compare names without
    letter case, accents or trailing spaces, and the (image_id, name) key is unique)."""

    def __init__(self, name: str, existing: str | None = None) -> None:
        super().__init__(name, existing)
        self.name, self.existing = name, existing


class ImageRepository:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._writer = engine.execution_options(**{WRITE: True})
        self._write_lock = write_lock(engine)
        self._get = CompiledStatement(engine, get_with_children())
        # What create() inserts; the rows it passes have these keys.
        self._insert_image = CompiledStatement(engine, insert_statement(t.images, [*CORE_ATTRIBUTES, "deleted"]))
        self._insert_property = CompiledStatement(engine, insert_statement(t.image_properties, PROPERTY_COLUMNS))
        self._insert_tag = CompiledStatement(engine, insert_statement(t.image_tags, TAG_COLUMNS))
        # What mark_deleted() runs: the image, then its children, all with `image_id` and `now`.
        # Not a protected image, even one protected since the caller read it.
        self._delete_image = CompiledStatement(engine, soft_delete(t.images, t.images.c.id, status="deleted")
                                               .where(t.images.c.protected == sa.false()))
        loc = t.image_locations
        self._live_locations = CompiledStatement(engine, sa.select(loc.c.id, loc.c.value, loc.c.meta_data).where(
            loc.c.image_id == sa.bindparam("image_id"), not_deleted(loc)))
        # Members are removed, not marked deleted, as delete_member removes them: a row marked
        # deleted now would repeat the unique key (image, member, deleted_at) of a twin row that
        # Glance's racing additions leave, or of a removal Glance marked within the same second.
        members = t.image_members
        self._delete_children = [
            CompiledStatement(engine, soft_delete(loc, loc.c.image_id, status="deleted")),
            *(CompiledStatement(engine, soft_delete(table, table.c.image_id))
              for table in (t.image_properties, t.image_tags)),
            CompiledStatement(engine, members.delete().where(members.c.image_id == sa.bindparam("image_id"),
                                                             not_deleted(members)))]

    @contextlib.contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        with self._write_lock.held(), self._writer.begin() as conn:
            yield conn

    # -- reading ---------------------------------------------------------------------------------

    def get(self, image_id: str) -> Image | None:
        rows = self._get.rows({"id": image_id})
        if not rows:
            return None
        image = image_from_row(dict(zip(IMAGE_KEYS, rows[0][:IMAGE_COLUMNS])))
        for row in rows:
            kind, child_id, first, second, third = row[IMAGE_COLUMNS:]
            if kind is not None:
                add_child(image, kind, child_id, first, second, third)
        return image

    def storage_used(self, owner: str | None, *, besides: str) -> int:
        """Bytes the images of `owner` other than `besides` hold in the stores, counted as Glance
        counts them for its user_storage_quota: each image's size once per location, images that
        failed or are deleted left out."""
        with self.engine.begin() as conn:
            return self._storage_used(conn, owner, besides)

    @staticmethod
    def _storage_used(conn: sa.Connection, owner: str | None, besides: str) -> int:
        i, loc = t.images, t.image_locations
        return int(conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(i.c.size), 0))
            .select_from(i.join(loc, loc.c.image_id == i.c.id))
            .where(i.c.owner == owner, i.c.id != besides, i.c.size > 0,
                   i.c.status.not_in(["killed", "deleted", "pending_delete"]),
                   not_deleted(loc), loc.c.status != "deleted")).scalar_one())

    def deleted_among(self, image_ids: Sequence[str]) -> set[str]:
        """Those of `image_ids` that name a deleted image. (An image Glance's delayed delete left
        for its scrubber is `pending_delete`, not `deleted`: its data is the scrubber's.)"""
        i = t.images
        with self.engine.begin() as conn:
            # Lowercased: on MariaDB an ID in other capitals names the same image.
            deleted = {image_id.lower() for image_id in conn.execute(
                sa.select(i.c.id).where(i.c.id.in_(image_ids), i.c.status == "deleted")).scalars()}
        return {image_id for image_id in image_ids if image_id.lower() in deleted}

    def location_in_use(self, url: str) -> bool:
        """Whether a location that is not deleted holds `url`, whatever its image and status. The
        column has no index: a scan, for the rare data a delete left behind."""
        loc = t.image_locations
        with self.engine.begin() as conn:
            return conn.execute(sa.select(loc.c.id).where(loc.c.value == url, not_deleted(loc)).limit(1)).first() \
                is not None

    def member_of(self, image_id: str, project_id: str | None, *, seen_by: str | None = None) -> Member | None:
        if project_id is None:
            return None
        with self.engine.begin() as conn:
            row = conn.execute(self._members_select(image_id, seen_by).where(
                t.image_members.c.member == project_id)).first()
        return member_from_row(row) if row else None

    def list(self, q: ListQuery, marker: Image | None = None) -> list[Image]:
        """`marker`: the image q.marker names, if the caller has read it already (spares a query)."""
        conditions, sort = list_conditions(q)
        with self.engine.begin() as conn:
            if q.marker is not None:
                if marker is not None and marker.id == q.marker:
                    values: Mapping[str, Any] = {key: getattr(marker, key) for key, _ in sort}
                else:
                    row = conn.execute(sa.select(t.images).where(t.images.c.id == q.marker)).first()
                    if row is None:
                        raise NotFound(q.marker)
                    values = row._mapping
                conditions.append(after(sort, values, nulls_high=nulls_sort_high(self.engine.dialect.name)))
            stmt = sa.select(t.images).where(*conditions).order_by(*order_by(sort)).limit(q.limit)
            rows = conn.execute(stmt).all()
            return self._hydrate(conn, rows)

    def _hydrate(self, conn: sa.Connection, rows: Sequence[sa.Row[Any]]) -> list[Image]:
        """Build images with their properties, tags and locations in one query, not three per image."""
        images = [image_from_row(row._mapping) for row in rows]
        if not images:
            return images
        by_id = {image.id: image for image in images}
        for image_id, kind, child_id, first, second, third in conn.execute(CHILDREN, {"ids": list(by_id)}):
            add_child(by_id[image_id], kind, child_id, first, second, third)
        return images

    # -- writing ---------------------------------------------------------------------------------

    @retried
    def create(self, image: Image) -> None:
        now = utcnow()
        image.created_at = image.updated_at = now
        values = {name: getattr(image, name) for name in CORE_ATTRIBUTES}
        values["deleted"] = False
        try:
            with self._write_lock.held(), raw_write_transaction(self.engine) as cursor:
                self._insert_image.execute_many(cursor, [values])
                self._insert_property.execute_many(cursor, property_rows(image.id, image.properties, now))
                self._insert_tag.execute_many(cursor, tag_rows(image.id, image.tags, now))
        except self.engine.dialect.dbapi.IntegrityError as exc:
            with self.engine.connect() as conn:
                taken = conn.execute(sa.select(t.images.c.id).where(t.images.c.id == image.id)).first()
            if taken is not None or not image.properties:
                raise Conflict(image.id) from exc
            raise PropertyNameClash(", ".join(f"'{name}'" for name in sorted(image.properties))) from exc

    @retried
    def update(
        self,
        image_id: str,
        *,
        core: dict[str, Any] | None = None,
        set_properties: dict[str, str] | None = None,
        remove_properties: Iterable[str] = (),
        tags: list[str] | None = None,
        expect_status: Iterable[str] | None = None,
        expect: Mapping[str, Any] | None = None,
        add_location: Location | None = None,
        property_limit: int = -1,
        storage_quota: tuple[str | None, int] | None = None,
    ) -> bool:
        """Apply changes in one transaction. With expect_status, only while the image is in one of
        those states (a compare-and-set, so that two workers can never both move an image on);
        with expect, only while these columns still hold these values.
        LimitReached if the image would have more than property_limit properties (when not
        negative): the caller counted them before, but another request may have added some since.
        With storage_quota (owner, bytes), LimitReached(the owner's bytes with the image's new
        `size`) if they would pass it: counted in this transaction, so that on SQLite, whose
        writers take turns, two uploads ending together cannot both pass."""
        now = utcnow()
        try:
            with self._write() as conn:
                result = conn.execute(t.images.update().where(*_live(image_id, expect_status), *(
                    t.images.c[column] == value for column, value in (expect or {}).items()))
                                      .values(**(core or {}), updated_at=now))
                if result.rowcount != 1:
                    return False
                self._delete_properties(conn, image_id, set(remove_properties) | set(set_properties or {}))
                self._insert_properties(conn, image_id, set_properties or {}, now)
                if set_properties and property_limit >= 0:
                    # The UPDATE above holds the image's row: no other write to it can come between.
                    p = t.image_properties
                    count = conn.execute(sa.select(sa.func.count()).select_from(p).where(
                        p.c.image_id == image_id, not_deleted(p))).scalar_one()
                    if count > property_limit:
                        raise LimitReached(count)
                if storage_quota is not None:
                    owner, quota = storage_quota
                    total = self._storage_used(conn, owner, image_id) + (core or {})["size"]
                    if total > quota:
                        raise LimitReached(total)
                self._write_children(conn, image_id, tags, add_location, now)
        except sa.exc.IntegrityError as exc:
            if not set_properties:
                raise
            with self.engine.connect() as conn:  # the failed transaction is rolled back by now
                raise self._clash(conn, image_id, set_properties) from exc
        return True

    def _write_children(self, conn: sa.Connection, image_id: str, tags: list[str] | None,
                        add_location: Location | None, now: datetime) -> None:
        if tags is not None:
            conn.execute(t.image_tags.delete().where(t.image_tags.c.image_id == image_id))
            self._insert_tags(conn, image_id, tags, now)
        if add_location is not None:
            conn.execute(t.image_locations.insert().values(
                image_id=image_id, value=add_location.url, meta_data=json.dumps(add_location.metadata),
                status=add_location.status, created_at=now, updated_at=now, deleted=False))

    @contextlib.contextmanager
    def _write_image(self, image_id: str) -> Iterator[sa.Connection]:
        """A write transaction that first locks the image's row, for writes that look at an
        image's tags or members before changing them: requests racing on one image then take
        turns, so each sees what the one before it wrote (the same tag or member is never added
        twice), and none holds a lock the next one needs to finish first (MariaDB answered
        simultaneous tag additions with deadlocks). SQLite's writers take turns already.
        NotFound if the image has been deleted meanwhile."""
        with self._write() as conn:
            if conn.execute(LOCK_IMAGE, {"image_id": image_id}).first() is None:
                raise NotFound(image_id)
            yield conn

    @retried
    def add_tag(self, image_id: str, tag: str, limit: int = -1) -> None:
        """LimitReached if the image would have more than `limit` tags (when not negative)."""
        now = utcnow()
        tg = t.image_tags
        with self._write_image(image_id) as conn:
            # Compared here, not in SQL: see _live_tags.
            tags = list(conn.execute(sa.select(tg.c.value).where(tg.c.image_id == image_id,
                                                                  not_deleted(tg))).scalars())
            if tag not in tags:
                if 0 <= limit < len(tags) + 1:
                    raise LimitReached(len(tags) + 1)
                self._insert_tags(conn, image_id, [tag], now)
            conn.execute(t.images.update().where(t.images.c.id == image_id).values(updated_at=now))

    @retried
    def delete_tag(self, image_id: str, tag: str) -> bool:
        tg = t.image_tags
        with self._write_image(image_id) as conn:
            ids = self._live_tags(conn, image_id, tag)
            if ids:
                conn.execute(tg.delete().where(tg.c.id.in_(ids)))
                conn.execute(t.images.update().where(t.images.c.id == image_id).values(updated_at=utcnow()))
            return bool(ids)

    @staticmethod
    def _delete_properties(conn: sa.Connection, image_id: str, names: set[str]) -> None:
        """Remove the rows of exactly these names, and the soft-deleted rows (Glance's) the
        database holds as equal to one of them, which would otherwise keep the unique key from
        taking the name again. Rows are removed, not soft-deleted, for the same reason."""
        if not names:
            return
        p = t.image_properties
        rows = conn.execute(sa.select(p.c.id, p.c.name, p.c.deleted).where(p.c.image_id == image_id,
                                                                           p.c.name.in_(names)))
        ids = [row_id for row_id, name, deleted in rows if name in names or deleted]
        if ids:
            conn.execute(p.delete().where(p.c.id.in_(ids)))

    @staticmethod
    def _clash(conn: sa.Connection, image_id: str, new: Mapping[str, str]) -> PropertyNameClash:
        """Which name of `new` the database refused as equal to another: one the image has, or
        one of `new` itself."""
        p = t.image_properties
        for name in new:
            existing = conn.execute(sa.select(p.c.name).where(p.c.image_id == image_id, p.c.name == name,
                                                              not_deleted(p))).scalar()
            if existing is not None and existing not in new:
                return PropertyNameClash(name, existing)
        return PropertyNameClash(", ".join(f"'{name}'" for name in sorted(new)))

    @staticmethod
    def _live_tags(conn: sa.Connection, image_id: str, tag: str) -> list[int]:
        """The rows holding exactly `tag`. Compared here, not in SQL: MariaDB's collation calls
        `a`, `A`, `á` and `a ` one value, while a tag is what was given, as Glance compares it."""
        tg = t.image_tags
        rows = conn.execute(sa.select(tg.c.id, tg.c.value).where(
            tg.c.image_id == image_id, tg.c.value == tag, not_deleted(tg)))
        return [row_id for row_id, value in rows if value == tag]

    @retried
    def mark_deleted(self, image_id: str) -> list[Location]:
        """Soft-delete the image as Glance does (the row stays, so its ID is never reused) and
        return the locations whose data the caller must now remove from the stores. NotFound if
        there is no such live image, or it is protected."""
        values = {"image_id": image_id, "now": utcnow()}
        with self._write_lock.held(), raw_write_transaction(self.engine) as cursor:
            if self._delete_image.execute(cursor, values) != 1:
                raise NotFound(image_id)
            locations = [Location(url=url, metadata=json.loads(meta or "{}"), id=location_id)
                         for location_id, url, meta in self._live_locations.fetch(cursor, values)]
            for delete_children in self._delete_children:
                delete_children.execute(cursor, values)
        return locations

    def list_members(self, image_id: str, *, seen_by: str | None = None) -> list[Member]:
        """Each membership once, as its first row says: Glance nodes adding one member at once
        both insert it (Glance looks, then inserts, without a lock; the unique key holds a NULL
        deleted_at), and such rows are changed and removed together."""
        with self.engine.begin() as conn:
            first: dict[str, Any] = {}
            for row in conn.execute(self._members_select(image_id, seen_by).order_by(t.image_members.c.id)):
                first.setdefault(row.member, row)
        return [member_from_row(row) for row in first.values()]

    @retried
    def add_member(self, image_id: str, member: str, limit: int = -1) -> Member:
        """LimitReached if the image has `limit` members already (when not negative), before
        Conflict if `member` is one of them."""
        now = utcnow()
        m = t.image_members
        with self._write_image(image_id) as conn:
            count = conn.execute(sa.select(sa.func.count()).select_from(m).where(
                m.c.image_id == image_id, not_deleted(m))).scalar_one()
            if 0 <= limit <= count:
                raise LimitReached(count + 1)
            existing = conn.execute(self._members_select(image_id).where(m.c.member == member)).first()
            if existing is not None:
                raise Conflict(member)
            conn.execute(t.image_members.insert().values(
                image_id=image_id, member=member, can_share=False, status="pending",
                created_at=now, updated_at=now, deleted=False))
        return Member(image_id=image_id, member=member, status="pending", created_at=now, updated_at=now)

    @retried
    def update_member(self, image_id: str, member: str, status: str) -> Member | None:
        now = utcnow()
        m = t.image_members
        with self._write() as conn:
            result = conn.execute(m.update().where(
                m.c.image_id == image_id, m.c.member == member, not_deleted(m)
            ).values(status=status, updated_at=now))
            if result.rowcount == 0:  # (more than one: rows of one membership, see list_members)
                return None
            row = conn.execute(self._members_select(image_id).where(m.c.member == member)).first()
        return member_from_row(row)

    @retried
    def delete_member(self, image_id: str, member: str) -> bool:
        m = t.image_members
        with self._write() as conn:
            result = conn.execute(m.delete().where(
                m.c.image_id == image_id, m.c.member == member, not_deleted(m)))
            return result.rowcount > 0

    @staticmethod
    def _members_select(image_id: str, seen_by: str | None = None) -> sa.Select[Any]:
        """With `seen_by`, only the memberships that project may know of: all of its own image's,
        else its own. Compared by the database, as Glance compares them (so on MariaDB a member
        added in other capitals than its project's ID is still that project's)."""
        m, i = t.image_members, t.images
        stmt = sa.select(m).where(m.c.image_id == image_id, not_deleted(m))
        if seen_by is not None:
            owns = sa.exists().where(i.c.id == image_id, i.c.owner == seen_by)
            stmt = stmt.where(sa.or_(m.c.member == seen_by, owns))
        return stmt

    @staticmethod
    def _insert_properties(conn: sa.Connection, image_id: str, props: dict[str, str], now: datetime) -> None:
        rows = property_rows(image_id, props, now)
        if rows:
            conn.execute(t.image_properties.insert(), rows)

    @staticmethod
    def _insert_tags(conn: sa.Connection, image_id: str, tags: Iterable[str], now: datetime) -> None:
        rows = tag_rows(image_id, tags, now)
        if rows:
            conn.execute(t.image_tags.insert(), rows)

def _live(image_id: str, expect_status: Iterable[str] | None) -> list[Any]:
    """WHERE clauses for the image while it is not deleted (and, optionally, in one of the states)."""
    where = [t.images.c.id == image_id, not_deleted(t.images)]
    if expect_status is not None:
        where.append(t.images.c.status.in_(list(expect_status)))
    return where
