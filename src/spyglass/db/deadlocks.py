"""Writes that the database ended as a deadlock victim are run again.

Spyglass's own writes to one image take its row lock first, so they do not deadlock each other;
but they share the database with other clients (Glance nodes while a cluster is being replaced,
say) that take an image's locks in other orders, and then PostgreSQL or MariaDB rolls one of the
two transactions back. Being rolled back is all a victim suffers: run again, it finishes, as
Glance's own writes retry on deadlock.
"""
from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

LOG = logging.getLogger(__name__)

ATTEMPTS = 10
# PostgreSQL's SQLSTATEs for a deadlock and a serialization failure; MySQL's and MariaDB's error
# number for a deadlock.
_SQLSTATES = frozenset({"40P01", "40001"})
_MYSQL_DEADLOCK = 1213

P = ParamSpec("P")
R = TypeVar("R")


def is_deadlock(exc: BaseException) -> bool:
    """Whether the error (the driver's own, or SQLAlchemy's wrapping of it) says the transaction
    was rolled back to break a deadlock."""
    error = getattr(exc, "orig", None) or exc
    if getattr(error, "sqlstate", None) in _SQLSTATES:  # psycopg
        return True
    args = getattr(error, "args", ())
    return bool(args) and args[0] == _MYSQL_DEADLOCK  # PyMySQL, mysqlclient


def retried(write: Callable[P, R]) -> Callable[P, R]:
    """Run `write` (one whole transaction) again when it is a deadlock victim, after a short,
    growing, random pause, up to ATTEMPTS times in all."""

    @functools.wraps(write)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return write(*args, **kwargs)
            except Exception as exc:
                if attempt == ATTEMPTS or not is_deadlock(exc):
                    raise
                LOG.debug("%s was a deadlock victim (attempt %d): running it again", write.__name__, attempt)
                time.sleep(random.uniform(0.005, 0.025) * attempt)
        raise AssertionError("unreachable")

    return run
