"""The image service: who may do what to which image, and which state may follow which."""
from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from spyglass.context import RequestContext
from spyglass.db import repo as db
from spyglass.images import properties as props
from spyglass.images import states
from spyglass.images.errors import BadRequest, Conflict, Forbidden, NotFound, QuotaExceeded
from spyglass.images.listing import Limits, build_query
from spyglass.images.patch import PatchOp, apply_patch
from spyglass.images.policy import Policy
from spyglass.model import Image
from spyglass.stores.registry import StoreRegistry

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Quotas:
    properties: int
    tags: int
    members: int
    image_size_cap: int
    storage: int = 0  # bytes of data per project (user_storage_quota); 0: unlimited


def _check_quota(what: str, count: int, limit: int) -> None:
    if 0 <= limit < count:
        raise _over_quota(what, count, limit)


_FORMATS = frozenset({"disk_format", "container_format"})


def _formats_fixed(key: str) -> Forbidden:
    return Forbidden(f"Attribute {key} can be only replaced for a queued image.")


def _over_quota(what: str, count: int, limit: int) -> QuotaExceeded:
    return QuotaExceeded(f"Maximum number of {what} exceeded: attempted {count}, maximum {limit}.")


def _name_clash(clash: db.PropertyNameClash) -> Conflict:
    if clash.existing is not None:
        return Conflict(f"Property '{clash.name}' cannot be stored beside the image's property "
                        f"'{clash.existing}': this database holds them as one name (it compares names "
                        "without letter case, accents or trailing spaces).")
    return Conflict(f"Two of the properties {clash.name} are one name to this database (it compares "
                    "names without letter case, accents or trailing spaces).")


class ImageService:
    def __init__(self, repo: db.ImageRepository, stores: StoreRegistry, policy: Policy, *,
                 limits: Limits, quotas: Quotas, formats: props.Formats) -> None:
        self.repo = repo
        self.stores = stores
        self.policy = policy
        self.limits = limits
        self.quotas = quotas
        self.formats = formats

    # -- visibility and policy targets --------------------------------------------------------------

    def _member(self, ctx: RequestContext, image: Image) -> str | None:
        """The caller's project if the image is shared with it (one lookup, only where it matters)."""
        if image.visibility != "shared" or not ctx.project_id or ctx.project_id == image.owner:
            return None
        found = self.repo.member_of(image.id, ctx.project_id)
        return found.member if found else None

    def _can_see(self, ctx: RequestContext, image: Image, member: str | None) -> bool:
        # An image without an owner (an admin may clear it) is not hidden here, as in Glance's
        # database layer; the get_image policy then shows it as its visibility says (a private
        # one to admins only). Listings show it only to admins.
        return (ctx.is_admin or image.visibility in ("public", "community") or member is not None
                or image.owner is None or image.owner == ctx.project_id)

    def can_see(self, ctx: RequestContext, image: Image) -> bool:
        return self._can_see(ctx, image, self._member(ctx, image))

    def find_with_target(self, ctx: RequestContext, image_id: str) -> tuple[Image, dict[str, Any]]:
        """The image if the caller can see it (else NotFound), and the policy target describing it."""
        image = self.repo.get(image_id)
        member = self._member(ctx, image) if image is not None else None
        if image is None or not self._can_see(ctx, image, member):
            raise NotFound.image(image_id)
        # As in Glance's target, whoever reads a shared image without owning it reads it as a
        # member (to them it is one: they found it). It decides where the caller can see the
        # image without a membership: an admin, or anyone for an image without an owner.
        reader = ctx.project_id if image.visibility == "shared" and ctx.project_id != image.owner else None
        return image, {"owner": image.owner, "visibility": image.visibility, "member_id": reader,
                       "project_id": image.owner, "id": image.id}

    def find_visible(self, ctx: RequestContext, image_id: str) -> Image:
        return self.find_with_target(ctx, image_id)[0]

    def authorized(self, ctx: RequestContext, image_id: str, rule: str) -> Image:
        """The image, if the caller can see it and the policy rule allows the action on it."""
        image, target = self.find_with_target(ctx, image_id)
        self.enforce_on_image(rule, ctx, image, target)
        return image

    def enforce_on_image(self, rule: str, ctx: RequestContext, image: Image, target: dict[str, Any]) -> None:
        """As Glance: an action refused to someone the policy does not even let see the image is
        404, so that the answer does not reveal the image exists; refused to someone who may see
        it, 403."""
        if self.policy.allowed(rule, ctx, target):
            return
        if rule == "get_image" or not self.policy.allowed("get_image", ctx, target):
            raise NotFound.image(image.id)
        self.policy.enforce(rule, ctx, target)  # raises Forbidden with the rule's name

    def get(self, ctx: RequestContext, image_id: str) -> Image:
        return self.authorized(ctx, image_id, "get_image")

    # -- create, list, update, delete ---------------------------------------------------------------

    def create(self, ctx: RequestContext, body: dict[str, Any]) -> Image:
        # As Glance: a derived attribute (403), then the whole document against the schema (400),
        # then what else may not be set (403).
        for key in props.DERIVED.intersection(body):
            props.check_settable(key)
        for key, value in body.items():
            props.validate_value(key, value, self.formats)
        for key in body:
            if key != "id":
                props.check_settable(key)
        image = Image(id=props.validate_uuid(body["id"]) if "id" in body else str(uuid.uuid4()),
                      owner=ctx.project_id)
        self._assign(image, body)
        if image.owner != ctx.project_id and not ctx.is_admin:
            raise Forbidden(f"You are not permitted to create images owned by '{image.owner}'.")
        self.policy.enforce("add_image", ctx, {"owner": image.owner, "visibility": image.visibility})
        self._check_visibility_policy(ctx, image, image.visibility)
        _check_quota("image properties", len(image.properties), self.quotas.properties)
        _check_quota("image tags", len(image.tags), self.quotas.tags)
        props.check_storable({**{key: getattr(image, key) for key in props.WRITABLE_CORE}, **image.properties})
        try:
            # A taken ID, of a deleted image too (its row stays), fails the insert itself: no
            # look-up first, which would cost a transaction per create.
            self.repo.create(image)
        except db.Conflict:
            raise Conflict(f"Image ID {image.id} already exists!") from None
        except db.PropertyNameClash as clash:
            raise _name_clash(clash) from None
        return image

    def _assign(self, image: Image, values: dict[str, Any]) -> None:
        """Values that have passed props.validate_value (create and parse_patch check each first)."""
        for key, value in values.items():
            if key == "id":
                continue
            if key in props.WRITABLE_CORE:
                props.check_range(key, value)
                if key == "owner" and value == "":
                    value = None  # no owner, as Glance stores it
                # A tag given twice is kept once, as Glance does.
                setattr(image, key, list(dict.fromkeys(value)) if key == "tags" else value)
            else:
                image.properties[key] = value

    def _check_visibility_policy(self, ctx: RequestContext, image: Image, visibility: str) -> None:
        """May the caller give `image` this visibility (even the one it has, as Glance asks)?"""
        target = {"owner": image.owner, "visibility": image.visibility}
        if visibility == "public":
            self.policy.enforce("publicize_image", ctx, target)
        elif visibility == "community":
            self.policy.enforce("communitize_image", ctx, target)

    def list(self, ctx: RequestContext, params: Sequence[tuple[str, str]]) -> tuple[list[Image], int]:
        """One page of images, and the page size asked for (a full page means there may be more)."""
        self.policy.enforce("get_images", ctx, {})
        query = build_query(params, ctx, self.limits)
        marker = None
        if query.marker is not None:
            marker = self.repo.get(query.marker)
            if marker is None:
                # An admin may page on from a deleted image, as in Glance (whose admins read
                # deleted rows): the repository then reads the marker row itself.
                if not ctx.is_admin:
                    raise BadRequest(f"No image found with ID {query.marker}")
            elif not self.can_see(ctx, marker):
                # Glance's answer, which admits the image exists: clients may rely on the status.
                raise Forbidden(f"Forbidding request, image {query.marker} not visible")
        try:
            return self.repo.list(query, marker), query.limit
        except db.NotFound:
            raise BadRequest(f"No image found with ID {query.marker}") from None

    def update(self, ctx: RequestContext, image_id: str, ops: list[PatchOp]) -> Image:
        image = self.authorized(ctx, image_id, "modify_image")
        before_owner = image.owner
        before_props = dict(image.properties)
        before_tags = list(image.tags)
        format_set: str | None = None  # disk_format or container_format, if either is set

        def assign(target: Image, values: dict[str, Any]) -> None:
            nonlocal format_set
            for key in _FORMATS.intersection(values):
                # The content was inspected against the formats it was uploaded with: as Glance,
                # they are set (even to the same value) only before there is any.
                if target.status not in (states.QUEUED, states.IMPORTING):
                    raise _formats_fixed(key)
                format_set = key
            self._assign(target, values)
            if target.owner != before_owner and not ctx.is_admin:
                # Refused as the operation is applied, before a later one can fail otherwise.
                raise Forbidden("Only an administrator may change an image's owner.")

        def check(target: Image, key: str, value: Any) -> None:
            if key == "visibility":
                self._check_visibility_policy(ctx, target, value)

        changed = apply_patch(image, ops, assign, check)
        _check_quota("image properties", len(image.properties), self.quotas.properties)
        _check_quota("image tags", len(image.tags), self.quotas.tags)
        core = {k: getattr(image, k) for k in changed if k in props.WRITABLE_CORE and k != "tags"}
        set_props = {k: v for k, v in image.properties.items() if before_props.get(k) != v}
        removed = [k for k in before_props if k not in image.properties]
        tags = image.tags if image.tags != before_tags else None
        props.check_storable({**core, **set_props, **({"tags": tags} if tags else {})})
        try:
            # The quota is counted again as the rows are written: a request racing this one may
            # have added properties since the image was read.
            updated = self.repo.update(image.id, core=core, set_properties=set_props, remove_properties=removed,
                                       tags=tags, property_limit=self.quotas.properties,
                                       expect_status=[image.status] if format_set else None)
        except db.PropertyNameClash as clash:
            raise _name_clash(clash) from None
        except db.LimitReached as reached:
            raise _over_quota("image properties", reached.count, self.quotas.properties) from None
        if not updated:
            if format_set and self.repo.get(image_id) is not None:
                raise _formats_fixed(format_set)  # an upload began since the image was read
            raise NotFound.image(image_id)
        return self.find_visible(ctx, image_id)

    def delete(self, ctx: RequestContext, image_id: str) -> None:
        self.authorized(ctx, image_id, "delete_image")
        try:
            # Refused by the database for a protected image, even one protected since it was read.
            locations = self.repo.mark_deleted(image_id)
        except db.NotFound:
            again = self.repo.get(image_id)
            if again is not None and again.protected:
                raise Forbidden(f"Image {image_id} is protected and cannot be deleted.") from None
            raise NotFound.image(image_id) from None
        for location in locations:
            # The row is already deleted, so nothing serves these bytes any more; a failure here
            # leaves them in the store (the next start removes them), never a broken image.
            try:
                self.stores.for_url(location.url).delete(location.url)
            except Exception:  # noqa: BLE001 - never fatal: the image is gone either way
                LOG.warning("could not remove the data of deleted image %s at %s", image_id, location.url,
                            exc_info=True)

    # -- actions and tags -----------------------------------------------------------------------------

    def deactivate(self, ctx: RequestContext, image_id: str) -> None:
        self._set_active(ctx, image_id, activate=False)

    def reactivate(self, ctx: RequestContext, image_id: str) -> None:
        self._set_active(ctx, image_id, activate=True)

    def _set_active(self, ctx: RequestContext, image_id: str, *, activate: bool) -> None:
        image = self.authorized(ctx, image_id, "reactivate" if activate else "deactivate")
        current, wanted = image.status, (states.ACTIVE if activate else states.DEACTIVATED)
        if current == wanted:
            return
        action = "reactivate" if activate else "deactivate"
        if not states.can_transition(current, wanted) or current not in (states.ACTIVE, states.DEACTIVATED):
            raise Forbidden(f"Not allowed to {action} image in status '{current}'")
        if not self.repo.update(image_id, core={"status": wanted}, expect_status=[current]):
            raise Conflict(f"Image {image_id} changed while it was being {action}d; try again.")

    def add_tag(self, ctx: RequestContext, image_id: str, tag: str) -> None:
        props.validate_tag(tag)  # before the image is looked up, as Glance
        image = self.authorized(ctx, image_id, "modify_image")
        if tag not in image.tags:
            _check_quota("image tags", len(image.tags) + 1, self.quotas.tags)
        props.check_storable({"tag": tag})
        try:
            self.repo.add_tag(image_id, tag, self.quotas.tags)  # counted again, against races
        except db.LimitReached as reached:
            raise _over_quota("image tags", reached.count, self.quotas.tags) from None
        except db.NotFound:
            raise NotFound.image(image_id) from None

    def delete_tag(self, ctx: RequestContext, image_id: str, tag: str) -> None:
        self.authorized(ctx, image_id, "modify_image")
        try:
            deleted = self.repo.delete_tag(image_id, tag)
        except db.NotFound:
            raise NotFound.image(image_id) from None
        if not deleted:
            raise NotFound(f"Tag {tag} not found on image {image_id}")
