"""Hot statements compiled once by SQLAlchemy and run straight on a DBAPI cursor.

An image GET is one indexed lookup: SQLite answers it in about 10 microseconds, while SQLAlchemy's
per-execution machinery around it (pool checkout, the transaction and its events, the execution
context, result objects) costs more than 100, and about as much again for each insert of an image
create. For the few statements most requests run, this module keeps what SQLAlchemy does once
(compiling the statement for the engine's dialect, in its paramstyle, and the types' bind and result
processors) and skips what it does per execution. The SQL still comes from SQLAlchemy expressions,
so it follows the dialect like every other query.

A read here is one statement, so it sees one consistent snapshot without a transaction around it;
writes run in spyglass.db.engine.raw_write_transaction.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

Processor = Callable[[Any], Any] | None


class CompiledStatement:
    def __init__(self, engine: sa.Engine, stmt: sa.Select[Any] | sa.Insert | sa.Update | sa.Delete) -> None:
        dialect = engine.dialect
        compiled = stmt.compile(dialect=dialect)
        self.engine = engine
        self.sql = compiled.string
        binds = compiled.binds
        # Positional paramstyles (SQLite's qmark) list each bind by name in order; named ones
        # (PostgreSQL, MySQL drivers) take a mapping.
        self._order: list[str] | None = list(compiled.positiontup) if compiled.positional else None
        self._bind: dict[str, Processor] = {
            name: param.type.dialect_impl(dialect).bind_processor(dialect) for name, param in binds.items()}
        self._defaults = {name: param.value for name, param in binds.items() if param.value is not None}
        # (position, processor) of the result columns the dialect converts (on SQLite: booleans
        # and timestamps); the others come out of the driver as they are.
        columns = stmt.selected_columns if isinstance(stmt, sa.Select) else []
        self._convert = [(i, process) for i, column in enumerate(columns)
                         if (process := column.type.dialect_impl(dialect).result_processor(dialect, None))]

    def _params(self, values: Mapping[str, Any]) -> Any:
        merged = {**self._defaults, **values}
        for name, process in self._bind.items():
            if process is not None and merged.get(name) is not None:
                merged[name] = process(merged[name])
        if self._order is None:
            return merged
        return tuple(merged[name] for name in self._order)

    def execute(self, cursor: Any, values: Mapping[str, Any]) -> int:
        """Run the statement on `cursor` (a DBAPI cursor in a transaction); the rows it changed."""
        cursor.execute(self.sql, self._params(values))
        return int(cursor.rowcount)

    def execute_many(self, cursor: Any, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run the statement once per row on `cursor`."""
        if rows:
            cursor.executemany(self.sql, [self._params(row) for row in rows])

    def fetch(self, cursor: Any, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run a SELECT on `cursor`; its rows, converted as SQLAlchemy would."""
        cursor.execute(self.sql, self._params(values))
        fetched = cursor.fetchall()
        if not self._convert:
            return [tuple(row) for row in fetched]
        rows = []
        for fetched_row in fetched:
            row = list(fetched_row)
            for i, process in self._convert:
                if row[i] is not None:
                    row[i] = process(row[i])
            rows.append(tuple(row))
        return rows

    def rows(self, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run a SELECT on a connection of its own."""
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            try:
                return self.fetch(cursor, values)
            finally:
                cursor.close()
        finally:
            # Back to the pool, which rolls back the driver's implicit transaction if it has one.
            raw.close()
