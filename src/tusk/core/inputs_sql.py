"""What an input's SQL says, by parsing it (sqlglot): its tables, and the queries the planner derives from it.

For a plain one-table filter (one SELECT, no joins, grouping, aggregates, windows, subqueries, limits or CTEs)
the planner asks which changed rows it reads (``_filter_query``, ``key_query``), which partitions they fall in
(``_partition_query``), and how to re-read many partitions in one scan (``_rehash_query``); for a matrix query
its ``SELECT DISTINCT`` shape (``_distinct_shape``). Every answer is None for another shape: the planner then
falls back to re-reading. ``QueryFacts`` remembers the answers per query text (``tusk.train.plan_cache.SqlFacts``
keeps them in a file between commands, so a plan whose queries were parsed before imports no sqlglot).
Pure functions over query text: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from tusk.core.config import Config


class QueryFacts:
    """What parsing a query told the planner (its tables, its row filter, its partition keys, a matrix query's
    shape), per query text and dialect: each query is parsed once. ``known`` holds JSON values only (lists, not
    tuples), so it can be kept in a file; ``changed`` says whether anything was parsed since it was read."""

    def __init__(self, known: dict[str, Any] | None = None) -> None:
        self.known: dict[str, Any] = known if known is not None else {}
        self.changed = False

    def _get(self, kind: str, query: str, dialect: str, compute: Callable[[str, str], Any]) -> Any:
        key = f"{kind}\x1f{dialect}\x1f{query}"
        if key not in self.known:
            self.known[key] = compute(query, dialect)
            self.changed = True
        return self.known[key]

    def tables_of(self, query: str, dialect: str) -> frozenset[str] | None:
        found = self._get("tables", query, dialect, lambda q, d: _sorted(_tables_of(q, d)))
        return frozenset(found) if found is not None else None

    def filter_query(self, query: str, dialect: str) -> str | None:
        return self._get("filter", query, dialect, _filter_query)  # type: ignore[no-any-return]

    def partition_query(self, query: str, dialect: str) -> tuple[tuple[str, ...], str] | None:
        found = self._get("partition", query, dialect, lambda q, d: _listed(_partition_query(q, d)))
        return (tuple(found[0]), found[1]) if found is not None else None

    def rehash_query(self, query: str, dialect: str) -> tuple[tuple[str, ...], str, tuple[str, ...], str] | None:
        found = self._get("rehash", query, dialect, lambda q, d: _listed(_rehash_query(q, d)))
        return (tuple(found[0]), found[1], tuple(found[2]), found[3]) if found is not None else None

    def distinct_shape(self, query: str, dialect: str) -> tuple[str, str, str | None, bool] | None:
        found = self._get("distinct", query, dialect, lambda q, d: _listed(_distinct_shape(q, d)))
        return (found[0], found[1], found[2], bool(found[3])) if found is not None else None

    def prime(self, config: Config, dialect: str) -> None:
        """Parse now whatever a later plan may ask of the specs' queries. A first run's plan asks nothing (every
        instance is new), so without this the first plan after the next change would import sqlglot and parse
        (~0.1 s at 10,000 instances); once known, this costs a few lookups."""
        for spec in config.models:
            for query in spec.inputs.values():
                self.tables_of(query, dialect)
                self.filter_query(query, dialect)
                self.partition_query(query, dialect)
                self.rehash_query(query, dialect)
            for source in spec.matrix.values():
                if isinstance(source, str):
                    self.distinct_shape(source, dialect)


def _sorted(tables: frozenset[str] | None) -> list[str] | None:
    return sorted(tables) if tables is not None else None


def _listed(value: tuple[Any, ...] | None) -> list[Any] | None:
    return [list(v) if isinstance(v, tuple) else v for v in value] if value is not None else None


@lru_cache(maxsize=1024)  # 1000 instances of one spec share one query text: parse it once
def _tables_of(query: str, dialect: str) -> frozenset[str] | None:
    from sqlglot import exp, parse_one
    from sqlglot.errors import SqlglotError

    try:
        tree = parse_one(query, read=dialect)
    except SqlglotError:
        return None
    ctes = {cte.alias for cte in tree.find_all(exp.CTE)}
    return frozenset(t.name for t in tree.find_all(exp.Table) if t.name not in ctes)


def _plain_select(query: str, dialect: str) -> Any:
    """The parsed query when it is one SELECT from one table with no joins, grouping, aggregates, windows,
    subqueries, limits or CTEs (a row is in its result by its own values alone); else None."""
    from sqlglot import exp, parse_one
    from sqlglot.errors import SqlglotError

    try:
        tree = parse_one(query, read=dialect)
    except SqlglotError:
        return None
    plain = (
        isinstance(tree, exp.Select)
        and not tree.args.get("joins")
        and not tree.args.get("group")
        and not tree.args.get("limit")
        and not tree.args.get("offset")
        and not tree.args.get("having")
        and not tree.args.get("with")
        and tree.find(exp.AggFunc) is None
        and tree.find(exp.Window) is None
        and tree.find(exp.Subquery) is None
        and isinstance(_from(tree), exp.From)
        and isinstance(_from(tree).this, exp.Table)
    )
    return tree if plain else None


@lru_cache(maxsize=1024)
def _filter_query(query: str, dialect: str) -> str | None:
    """``SELECT kind, count FROM t WHERE <the input's WHERE> GROUP BY kind`` for a plain one-table filter."""
    from sqlglot import exp

    tree = _plain_select(query, dialect)
    if tree is None:
        return None
    select = exp.select("__tusk_diff", "COUNT(DISTINCT __tusk_key)").from_(_from(tree).this.copy())
    where = tree.args.get("where")
    if where is not None:
        select = select.where(where.this.copy())
    return select.group_by("__tusk_diff").sql(dialect=dialect)


def _partition_terms(tree: Any) -> tuple[list[tuple[str, Any]], list[Any]] | None:
    """For a plain one-table filter whose placeholders all sit in top-level ``column = :param`` terms of its
    WHERE: ([(param, column)…], the other terms); else None."""
    from sqlglot import exp

    where = tree.args.get("where") if tree is not None else None
    if where is None:
        return None
    keys: list[tuple[str, Any]] = []
    rest = []
    condition = where.this.unnest()
    for term in condition.flatten() if isinstance(condition, exp.And) else [condition]:
        inner = term.unnest()
        sides = (inner.this, inner.expression) if isinstance(inner, exp.EQ) else ()
        column = next((s for s in sides if isinstance(s, exp.Column)), None)
        placeholder = next((s for s in sides if isinstance(s, exp.Placeholder) and s.name), None)
        if column is not None and placeholder is not None:
            keys.append((placeholder.name, column))
        elif term.find(exp.Placeholder) is not None:
            return None
        else:
            rest.append(term)
    if (
        not keys
        or tree.find(exp.Placeholder) is not None
        and any(p.find_ancestor(exp.Where) is None for p in tree.find_all(exp.Placeholder))
    ):
        return None
    return keys, rest


@lru_cache(maxsize=1024)
def _partition_query(query: str, dialect: str) -> tuple[tuple[str, ...], str] | None:
    """For a plain one-table filter whose placeholders all sit in top-level ``column = :param`` terms of its
    WHERE: (the params, ``SELECT columns…, kind, count FROM t WHERE <the other terms> GROUP BY columns…, kind``),
    which counts the changed rows of every partition in one pass; else None. A row is in the partition with
    ``param = v`` exactly when its column equals v, so looking the bound values up in the grouped result
    says what the per-instance filter would (no row matches a NULL, whose lookup only costs a re-hash)."""
    from sqlglot import exp

    tree = _plain_select(query, dialect)
    terms = _partition_terms(tree)
    if terms is None:
        return None
    keys, rest = terms
    columns = [column.copy() for _, column in keys]
    select = exp.select(*columns, "__tusk_diff", "COUNT(DISTINCT __tusk_key)").from_(_from(tree).this.copy())
    if rest:
        select = select.where(exp.and_(*(term.copy() for term in rest)))
    select = select.group_by(*(column.copy() for column in columns), "__tusk_diff")
    return tuple(name for name, _ in keys), select.sql(dialect=dialect)


PARTS = "__tusk_k"  # the partitions a grouped re-read reads: (__tusk_i, __tusk_v0, __tusk_v1, …)


@lru_cache(maxsize=1024)
def _rehash_query(query: str, dialect: str) -> tuple[tuple[str, ...], str, tuple[str, ...], str] | None:
    """For a plain one-table filter that picks its partition by ``column = :param`` terms and orders its rows by
    plain columns: (the params, the table, the ORDER BY's columns, the rest of a query that reads many
    partitions' rows in one scan), else None. The planner puts ``WITH __tusk_k(__tusk_i, __tusk_v0, …) AS (VALUES
    (0, ?, …), …)`` (the partitions, their bound values as parameters) before the rest::

        , __tusk_m AS MATERIALIZED (SELECT * FROM t WHERE column IN (SELECT __tusk_v0 FROM __tusk_k) … AND <the
          other terms>)
        SELECT <its columns>, __tusk_k.__tusk_i FROM __tusk_m AS t JOIN __tusk_k ON column = __tusk_k.__tusk_v0 …
        ORDER BY __tusk_k.__tusk_i, <its order>

    The rows of the partitions (one scan, SQLite's IN compares as ``=`` does) are then joined to the partition
    each belongs to (``=``: SQLite compares a column with the value exactly as with the input's own parameter),
    each partition's rows in the input's own order once that order is total (its ORDER BY names every column of
    the table's primary key: the planner checks)."""
    from sqlglot import exp

    tree = _plain_select(query, dialect)
    terms = _partition_terms(tree)
    order = tree.args.get("order") if tree is not None else None
    if terms is None or order is None or tree.args.get("distinct"):
        return None
    if any(
        c.name.lower() in ("rowid", "oid", "_rowid_") or c.name.lower().startswith("__tusk_")
        for c in tree.find_all(exp.Column)
    ):
        return None  # (a materialized row's rowid is not the table's)
    keys, rest = terms
    table = _from(tree).this
    if table.args.get("db") or table.args.get("catalog") or table.alias_or_name.lower().startswith("__tusk_"):
        return None
    name = table.alias_or_name
    aliases = {
        e.alias.lower()
        for e in tree.expressions
        if isinstance(e, exp.Alias) and not (isinstance(e.this, exp.Column) and e.this.name.lower() == e.alias.lower())
    }
    ordered: list[str] = []
    for term in order.expressions:
        column = term.this
        if (
            isinstance(column, exp.Column)
            and column.table in ("", name)
            and not isinstance(column.this, exp.Star)
            and column.name.lower() not in aliases
        ):
            ordered.append(column.name.lower())
    picked = [
        exp.In(this=column.copy(), query=exp.select(f"__tusk_v{n}").from_(PARTS).subquery())
        for n, (_, column) in enumerate(keys)
    ]
    rows = exp.select("*").from_(table.copy()).where(exp.and_(*picked, *(term.copy() for term in rest)))
    select = tree.copy()
    select.set(
        "expressions",
        [
            exp.Column(this=exp.Star(), table=exp.to_identifier(name)) if isinstance(e, exp.Star) else e
            for e in select.expressions
        ],
    )
    select.set("from_" if "from_" in select.args else "from", exp.From(this=exp.to_table("__tusk_m").as_(name)))
    select.set("where", None)
    on = exp.and_(
        *(
            exp.EQ(this=column.copy(), expression=exp.column(f"__tusk_v{n}", table=PARTS))
            for n, (_, column) in enumerate(keys)
        )
    )
    select = select.join(exp.to_table(PARTS), on=on)
    select = select.select(exp.column("__tusk_i", table=PARTS), copy=False)
    select.set(
        "order",
        exp.Order(
            expressions=[exp.Ordered(this=exp.column("__tusk_i", table=PARTS), nulls_first=True)]
            + [term.copy() for term in order.expressions]
        ),
    )
    rest_sql = f", __tusk_m AS MATERIALIZED ({rows.sql(dialect=dialect)}) {select.sql(dialect=dialect)}"
    return tuple(p for p, _ in keys), table.name, tuple(ordered), rest_sql


@lru_cache(maxsize=1024)
def key_query(query: str, dialect: str) -> tuple[str, str] | None:
    """(table, ``SELECT DISTINCT __tusk_key FROM t WHERE <the input's WHERE>``) for a plain one-table filter:
    which changed rows (``changes_filter``) an input reads; None for other shapes."""
    from sqlglot import exp

    tree = _plain_select(query, dialect)
    if tree is None:
        return None
    table = _from(tree).this
    select = exp.select("__tusk_key").distinct().from_(table.copy())
    where = tree.args.get("where")
    if where is not None:
        select = select.where(where.this.copy())
    return table.name, select.sql(dialect=dialect)


@lru_cache(maxsize=256)
def _distinct_shape(query: str, dialect: str) -> tuple[str, str, str | None, bool] | None:
    """``SELECT DISTINCT col FROM t [WHERE w] ORDER BY col [DESC]`` → (t, col, w, descending); else None."""
    from sqlglot import exp

    tree = _plain_select(query, dialect)
    if tree is None or not tree.args.get("distinct") or len(tree.expressions) != 1:
        return None
    selected, order, where = tree.expressions[0], tree.args.get("order"), tree.args.get("where")
    if (
        not isinstance(selected, exp.Column)
        or order is None
        or len(order.expressions) != 1
        or order.expressions[0].this != selected
    ):
        return None
    if where is not None and where.find(exp.Placeholder):
        return None
    return (
        _from(tree).this.name,
        selected.name,
        where.this.sql(dialect=dialect) if where is not None else None,
        bool(order.expressions[0].args.get("desc")),
    )


def _from(tree: Any) -> Any:
    """The FROM clause (sqlglot names the key ``from_`` in newer versions, ``from`` in older ones)."""
    return tree.args.get("from_", tree.args.get("from"))
