"""Who is asking: the identity a request carries, as keystonemiddleware (or the noauth default) sets it."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RequestContext:
    project_id: str | None
    user_id: str | None
    roles: tuple[str, ...] = field(default_factory=tuple)
    is_admin: bool = False
    request_id: str | None = None

    def policy_creds(self) -> dict[str, object]:
        # The credential keys oslo.policy rules in Glance's defaults refer to.
        return {
            "project_id": self.project_id,
            "tenant": self.project_id,
            "user_id": self.user_id,
            "roles": list(self.roles),
            "is_admin": self.is_admin,
        }
