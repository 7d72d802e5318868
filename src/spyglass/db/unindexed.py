"""A column reference that SQLite's planner may not use an index for.

Glance's schema indexes low-selectivity columns (deleted, os_hidden, visibility). Without
statistics, SQLite prefers any index with an equality match, so it walks ix_*_deleted (every row)
instead of the image_id or created_at index that answers the query: 100 ms instead of 1 at 100,000
images. SQLite's documented way to rule an index out is a unary + on the column; other databases
plan from statistics and get the plain column.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal


class Unindexed(ColumnElement[Any]):
    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: ColumnElement[Any]) -> None:
        self.column = column
        self.type = column.type


@compiles(Unindexed)
def _plain(element: Unindexed, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.column, **kw))


@compiles(Unindexed, "sqlite")
def _unary_plus(element: Unindexed, compiler: Any, **kw: Any) -> str:
    return "+" + str(compiler.process(element.column, **kw))
