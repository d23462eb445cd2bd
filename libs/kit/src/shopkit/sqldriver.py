"""Core statements compiled once and run on the asyncpg driver, traced like SQLAlchemy's statements.

`conn.execute(statement)` pays for a cache key, an execution context, the asyncpg adapter's cursor and
greenlet hops and result processing on every call: several times what asyncpg itself costs. A
`DriverQuery` is compiled on first use and runs as a prepared statement on the driver connection; its
rows come straight from the driver, with the codecs SQLAlchemy installs on its connections (JSON
columns are decoded as with `conn.execute`). So it accepts only statements whose columns need no
SQLAlchemy result processing and whose parameters are plain (no IN-list expansion).

`DriverConnection` runs such statements on one asyncpg connection, each in a CLIENT span with the
attributes the SQLAlchemy instrumentation sets (`db.system`, `db.name`, `db.statement`, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from sqlalchemy.engine import Dialect

Row = Any  # an asyncpg Record: values by position or by column name, row["name"]


class DriverQuery:
    """A Core statement (SELECT, or INSERT/UPDATE/DELETE with or without RETURNING) compiled once."""

    def __init__(self, statement: sa.Executable):
        self.statement = statement
        self._compiled: _Compiled | None = None

    def compiled_for(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled
        if compiled is None or compiled.dialect is not dialect:
            compiled = self._compiled = _compile(self.statement, dialect)
        return compiled


class DriverConnection:
    """An asyncpg connection that runs DriverQuery statements, one span each."""

    def __init__(self, driver: Any, dialect: Dialect, tracer: Tracer, attributes: dict[str, str | int]):
        self.driver = driver  # asyncpg.Connection
        self._dialect = dialect
        self._tracer = tracer
        self._attributes = attributes

    async def fetch(self, query: DriverQuery, **params: Any) -> list[Row]:
        """Every row the statement returns ([] for a statement without RETURNING)."""
        rows: list[Row] = await self._run("fetch", query, params)
        return rows

    async def fetchrow(self, query: DriverQuery, **params: Any) -> Row | None:
        """The first row, or None."""
        return await self._run("fetchrow", query, params)

    async def execute(self, query: DriverQuery, **params: Any) -> int:
        """Run a statement for its effect; the number of rows it touched."""
        status: str = await self._run("execute", query, params)
        last = status.rsplit(" ", 1)[-1]
        return int(last) if last.isdigit() else 0

    async def _run(self, method: str, query: DriverQuery, params: dict[str, Any]) -> Any:
        compiled = query.compiled_for(self._dialect)
        args = compiled.arguments(params)
        if not is_instrumentation_enabled():  # shopkit.tracing.untraced()
            return await getattr(self.driver, method)(compiled.sql, *args)
        span = self._tracer.start_span(
            compiled.operation, kind=SpanKind.CLIENT, attributes={**self._attributes, **compiled.span_attributes}
        )
        try:
            result = await getattr(self.driver, method)(compiled.sql, *args)
        except BaseException as error:
            span.set_status(Status(StatusCode.ERROR, str(error)))
            raise
        finally:
            span.end()
        return result


@dataclass(frozen=True)
class _Compiled:
    dialect: Dialect
    sql: str
    names: tuple[str, ...]  # parameter names in $1, $2, ... order
    defaults: tuple[Any, ...]
    required: frozenset[str]
    processors: tuple[Callable[[Any], Any] | None, ...]
    operation: str
    span_attributes: dict[str, str]

    def arguments(self, params: dict[str, Any]) -> list[Any]:
        missing = self.required - params.keys()
        if missing:
            raise TypeError(f"missing query parameters: {sorted(missing)}")
        values = [params.get(name, default) for name, default in zip(self.names, self.defaults, strict=True)]
        return [
            value if process is None or value is None else process(value)
            for value, process in zip(values, self.processors, strict=True)
        ]


def _compile(statement: sa.Executable, dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    sql = str(compiled)
    names = tuple(compiled.positiontup or ())
    binds = [compiled.binds[name] for name in names]
    if "__[POSTCOMPILE" in sql or any(bind.expanding for bind in binds):
        raise ValueError("a DriverQuery takes plain parameters; use = ANY(:array) instead of IN lists")
    for column in getattr(statement, "exported_columns", ()):
        if _needs_result_processing(column.type, dialect):
            raise ValueError(f"column {column.key!r} needs SQLAlchemy result processing; use conn.execute")
    operation = sql.split(None, 1)[0].upper()
    return _Compiled(
        dialect=dialect,
        sql=sql,
        names=names,
        defaults=tuple(bind.value for bind in binds),
        required=frozenset(name for name, bind in zip(names, binds, strict=True) if bind.required),
        processors=tuple(bind.type.dialect_impl(dialect).bind_processor(dialect) for bind in binds),
        operation=operation,
        span_attributes={"db.statement": sql, "db.operation": operation},
    )


def _needs_result_processing(type_: sa.types.TypeEngine[Any], dialect: Dialect) -> bool:
    impl = type_.dialect_impl(dialect)
    if isinstance(impl, sa.ARRAY):  # asyncpg returns lists already; only the items could need more
        return _needs_result_processing(impl.item_type, dialect)
    return impl.result_processor(dialect, None) is not None
