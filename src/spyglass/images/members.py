"""Image sharing: an owner invites projects as members; each member accepts or rejects."""
from __future__ import annotations

from typing import Any

from spyglass.context import RequestContext
from spyglass.db import repo as db
from spyglass.images.errors import BadRequest, Conflict, Forbidden, NotFound, QuotaExceeded
from spyglass.images.properties import MAX_NAME, MEMBER_STATUSES, check_storable
from spyglass.images.service import ImageService
from spyglass.model import Image, Member


class ImageMembers:
    def __init__(self, images: ImageService) -> None:
        self.images = images
        self.repo = images.repo

    def _shared_image(self, ctx: RequestContext, image_id: str, rule: str, action: str = "access") -> Image:
        """The image, if the caller may see it, it is shared, and `rule` allows the action on it."""
        image, target = self._visible_shared_image(ctx, image_id, action)
        self.images.enforce_on_image(rule, ctx, image, target)
        return image

    def _visible_shared_image(self, ctx: RequestContext, image_id: str,
                              action: str) -> tuple[Image, dict[str, Any]]:
        # In Glance's order: an image not found is 404, then one that is not shared 403, then
        # get_image is asked before any rule about members (a caller it refuses gets 404).
        image, target = self.images.find_with_target(ctx, image_id)
        _require_shared(image, action)
        self.images.enforce_on_image("get_image", ctx, image, target)
        return image, target

    def list(self, ctx: RequestContext, image_id: str) -> list[Member]:
        """The owner (and admins) see every membership, a member only its own, never who else
        the image is shared with."""
        self._shared_image(ctx, image_id, "get_members")
        return self.repo.list_members(image_id, seen_by=_seen_by(ctx))

    def get(self, ctx: RequestContext, image_id: str, member_id: str) -> Member:
        try:
            image = self._shared_image(ctx, image_id, "get_member")
        except Forbidden as refused:
            # As Glance: reading one membership is never refused, only not found, so that the
            # answer tells nothing about the image.
            raise NotFound(str(refused)) from None
        return self._visible_member(ctx, image, member_id)

    def _visible_member(self, ctx: RequestContext, image: Image, member_id: str) -> Member:
        """The membership, if it exists and the caller may know it does."""
        member = self.repo.member_of(image.id, member_id, seen_by=_seen_by(ctx))
        if member is None:
            raise NotFound(f"{member_id} not found in the member list of the image {image.id}.")
        return member

    def add(self, ctx: RequestContext, image_id: str, member_id: object) -> Member:
        # The body is checked before the image is looked up, as Glance.
        if member_id is None:
            raise BadRequest("Member to be added not specified")
        if not isinstance(member_id, str) or not member_id or len(member_id) > MAX_NAME:
            raise BadRequest("'member' must be a project ID: a string of 1 to 255 characters.")
        self._shared_image(ctx, image_id, "add_member", "create")
        check_storable({"member": member_id})
        limit = self.images.quotas.members
        try:
            return self.repo.add_member(image_id, member_id, limit)
        except db.LimitReached:
            raise QuotaExceeded(f"Maximum number of image members exceeded: maximum {limit}.") from None
        except db.Conflict:
            raise Conflict(f"Member {member_id} already exists for image {image_id}.") from None
        except db.NotFound:
            raise NotFound.image(image_id) from None

    def _member_for_change(self, ctx: RequestContext, image_id: str, member_id: str, rule: str) -> None:
        """As Glance: a membership the caller cannot see is 404 before the policy says who may
        change it (by default the member answers, the owner removes)."""
        image, target = self._visible_shared_image(ctx, image_id, "access")
        self._visible_member(ctx, image, member_id)
        # The target names the caller as the member (as Glance's does), not the URL's member: whose
        # membership it is was settled by the look-up above.
        self.images.enforce_on_image(rule, ctx, image, target)

    def update(self, ctx: RequestContext, image_id: str, member_id: str, status: object) -> Member:
        self._member_for_change(ctx, image_id, member_id, "modify_member")
        if status not in MEMBER_STATUSES:
            raise BadRequest(f"Invalid status: {status!r}. It must be one of: {', '.join(MEMBER_STATUSES)}.")
        member = self.repo.update_member(image_id, member_id, str(status))
        if member is None:
            raise NotFound(f"Member {member_id} not found for image {image_id}")
        return member

    def delete(self, ctx: RequestContext, image_id: str, member_id: str) -> None:
        self._member_for_change(ctx, image_id, member_id, "delete_member")
        if not self.repo.delete_member(image_id, member_id):
            raise NotFound(f"Member {member_id} not found for image {image_id}")


def _seen_by(ctx: RequestContext) -> str | None:
    """Whose memberships the caller may know of: everyone's for an admin (None)."""
    return None if ctx.is_admin else ctx.project_id or ""


def _require_shared(image: Image, action: str) -> None:
    if image.visibility != "shared":
        raise Forbidden(f"Not allowed to {action} members for image {image.id}: only images with "
                        f"visibility 'shared' have members, this one is '{image.visibility}'.")
