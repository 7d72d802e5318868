"""The image state machine, as one table: which status may follow which."""
from __future__ import annotations

QUEUED = "queued"
SAVING = "saving"
UPLOADING = "uploading"
IMPORTING = "importing"
ACTIVE = "active"
KILLED = "killed"
DEACTIVATED = "deactivated"
PENDING_DELETE = "pending_delete"
DELETED = "deleted"

ALL = (QUEUED, SAVING, UPLOADING, IMPORTING, ACTIVE, KILLED, DEACTIVATED, PENDING_DELETE, DELETED)

TRANSITIONS: dict[str, frozenset[str]] = {
    QUEUED: frozenset({SAVING, UPLOADING, IMPORTING, ACTIVE, DELETED}),
    # A failed or interrupted upload goes back to queued, so the client can simply retry.
    SAVING: frozenset({ACTIVE, QUEUED, KILLED, DELETED}),
    UPLOADING: frozenset({IMPORTING, QUEUED, DELETED}),
    IMPORTING: frozenset({ACTIVE, QUEUED, DELETED}),
    ACTIVE: frozenset({DEACTIVATED, PENDING_DELETE, DELETED}),
    DEACTIVATED: frozenset({ACTIVE, PENDING_DELETE, DELETED}),
    KILLED: frozenset({DELETED}),
    PENDING_DELETE: frozenset({DELETED}),
    DELETED: frozenset(),
}


def can_transition(current: str, new: str) -> bool:
    return new in TRANSITIONS.get(current, frozenset())
