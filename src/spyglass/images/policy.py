"""Policy through oslo.policy, with Glance's rule names so an operator's policy file carries over.

Defaults are written in code. Which images a project can *see* at all (private, shared, community)
is decided by the service and the listing query, as in Glance; the rules here decide what a role may
*do* to an image it can see.
"""
from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping

from oslo_config import cfg
from oslo_policy import policy

from spyglass.context import RequestContext
from spyglass.images.errors import Forbidden

ADMIN = "role:admin"
PROJECT_MEMBER = "role:member and project_id:%(owner)s"
ADMIN_OR_OWNER_MEMBER = f"{ADMIN} or ({PROJECT_MEMBER})"
ADMIN_OR_READER = f"{ADMIN} or role:reader"
# Whom an image is for: its project, a project it is shared with, or anyone if it is public,
# community or shared (where the membership itself is checked in the database). An image whose
# owner was cleared is then an admin's alone unless it is one of those visibilities, as in Glance.
_IMAGE_IS_FOR = ("(project_id:%(project_id)s or project_id:%(member_id)s or 'community':%(visibility)s "
                 "or 'public':%(visibility)s or 'shared':%(visibility)s)")
ADMIN_OR_OWNER_OR_MEMBER_READER = (
    f"{ADMIN} or (role:reader and (project_id:%(owner)s or project_id:%(member_id)s))"
)

_RULES: list[tuple[str, str, str]] = [
    ("context_is_admin", ADMIN, "Grants the administrator's view of every image."),
    ("default", ADMIN, "Rule for anything no other rule names."),
    ("add_image", ADMIN_OR_OWNER_MEMBER, "Create an image."),
    ("get_image", f"{ADMIN} or (role:reader and {_IMAGE_IS_FOR})", "Show an image."),
    ("get_images", ADMIN_OR_READER, "List images."),
    ("modify_image", ADMIN_OR_OWNER_MEMBER, "Update an image."),
    ("delete_image", ADMIN_OR_OWNER_MEMBER, "Delete an image."),
    ("publicize_image", ADMIN, "Make an image public."),
    ("communitize_image", ADMIN_OR_OWNER_MEMBER, "Make an image community."),
    ("upload_image", ADMIN_OR_OWNER_MEMBER, "Upload image data."),
    ("download_image", f"{ADMIN} or (role:member and {_IMAGE_IS_FOR})", "Download image data."),
    ("deactivate", ADMIN_OR_OWNER_MEMBER, "Deactivate an image."),
    ("reactivate", ADMIN_OR_OWNER_MEMBER, "Reactivate an image."),
    ("add_member", ADMIN_OR_OWNER_MEMBER, "Share an image with a project."),
    ("delete_member", ADMIN_OR_OWNER_MEMBER, "Stop sharing an image with a project."),
    ("get_member", ADMIN_OR_OWNER_OR_MEMBER_READER, "Show a membership."),
    ("get_members", ADMIN_OR_OWNER_OR_MEMBER_READER, "List an image's members."),
    ("modify_member", f"{ADMIN} or (role:member and project_id:%(member_id)s)",
     "Accept or reject an image shared with one's project."),
    ("get_image_location", ADMIN_OR_OWNER_MEMBER, "Show an image's locations."),
    ("set_image_location", ADMIN_OR_OWNER_MEMBER, "Add an image location."),
    ("delete_image_location", ADMIN, "Remove an image location."),
]


def default_rules() -> list[policy.RuleDefault]:
    return [policy.RuleDefault(name, check, description=doc) for name, check, doc in _RULES]


# How often a policy file is looked for and re-read. oslo.policy does it on every check, which
# costs more than the rest of a GET request; an edited policy file takes effect within this time.
POLICY_RELOAD_SECONDS = 5.0


_TARGET_REFERENCE = re.compile(r"%\(([^)]*)\)s")


def _target_keys(rules: Iterable[object]) -> frozenset[str] | None:
    """The target keys the rules read (`%(owner)s`); None when one is not a plain key (a dotted
    path, say), and every key must then count."""
    names = {name for rule in rules for name in _TARGET_REFERENCE.findall(str(rule))}
    return frozenset(names) if all(name.isidentifier() for name in names) else None


class _Enforcer(policy.Enforcer):
    _next_load = 0.0
    generation = 0  # counts reloads, so that decisions cached under older rules are dropped

    def load_rules(self, force_reload: bool = False) -> None:
        now = time.monotonic()
        if force_reload or now >= self._next_load:
            super().load_rules(force_reload)
            self._next_load = now + POLICY_RELOAD_SECONDS
            self.generation += 1


class Policy:
    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self._enforcer = _Enforcer(conf)
        self._enforcer.register_defaults(default_rules())
        # A decision depends only on the rule, the target and the credentials: the same few
        # combinations come back on every request, and oslo.policy takes ~0.1 ms to evaluate one.
        self._decisions: dict[tuple[object, ...], bool] = {}
        self._generation = -1
        self._target_keys: frozenset[str] | None = None

    def _decide(self, rule: str, target: Mapping[str, object], creds: dict[str, object]) -> bool:
        self._enforcer.load_rules()
        if self._generation != self._enforcer.generation or len(self._decisions) > 10_000:
            self._decisions = {}
            self._generation = self._enforcer.generation
            self._target_keys = _target_keys(self._enforcer.rules.values())
        # Only the target's keys that some rule reads can change a decision: the others (an
        # image's ID, say) stay out of the key, so that one decision serves every image alike.
        keys = self._target_keys
        relevant = target.items() if keys is None else ((k, v) for k, v in target.items() if k in keys)
        key = (rule, tuple(sorted(relevant)), tuple(creds["roles"]),  # type: ignore[arg-type]
               creds["project_id"], creds["user_id"], creds.get("is_admin"))
        decision = self._decisions.get(key)
        if decision is None:
            decision = self._decisions[key] = bool(self._enforcer.enforce(rule, dict(target), creds))
        return decision

    def is_admin(self, roles: list[str], project_id: str | None, user_id: str | None) -> bool:
        return self._decide("context_is_admin", {}, {"roles": roles, "project_id": project_id,
                                                      "user_id": user_id})

    def allowed(self, rule: str, ctx: RequestContext, target: Mapping[str, object]) -> bool:
        return self._decide(rule, target, ctx.policy_creds())

    def enforce(self, rule: str, ctx: RequestContext, target: Mapping[str, object]) -> None:
        if not self.allowed(rule, ctx, target):
            raise Forbidden(f"You are not authorized to complete {rule} action.")
