"""``promote_if`` expressions (``accuracy >= 0.8 and f1 > 0.5``), evaluated safely over a run's metrics.

Only names (metrics), numbers, comparisons, ``and``/``or``/``not`` and arithmetic are allowed; a metric the
run did not log makes the expression false (a model that did not report it is not promoted). A run that
logged a NaN or infinite metric is never promoted, whatever the expression says.

A review's ``gate`` is the same language plus ``production.<metric>``: the metric of the instance's current
production version (``accuracy >= production.accuracy - 0.01``).
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Mapping
from typing import Any

from tusk.errors import ConfigError

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_COMPARE = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}


class _Missing(Exception):
    pass


PRODUCTION = "production"


def parse(expression: str, allow_production: bool = False) -> ast.Expression:
    what = "gate" if allow_production else "promote_if"
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        raise ConfigError(f"{what} {expression!r}: not a valid expression") from exc
    dotted = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    for node in ast.walk(tree):
        if allow_production and isinstance(node, ast.Attribute):
            if not isinstance(node.value, ast.Name) or node.value.id != PRODUCTION:
                raise ConfigError(f"{what} {expression!r}: only production.<metric> may use a dot")
            continue
        if allow_production and isinstance(node, ast.Name) and node.id == PRODUCTION:
            if id(node) not in dotted:
                raise ConfigError(f"{what} {expression!r}: use production.<metric>, e.g. production.accuracy")
            continue
        if not isinstance(
            node,
            (
                ast.Expression,
                ast.BoolOp,
                ast.And,
                ast.Or,
                ast.UnaryOp,
                ast.Not,
                ast.USub,
                ast.Compare,
                ast.Name,
                ast.Load,
                ast.Constant,
                ast.BinOp,
                *_BINARY,
                *_COMPARE,
            ),
        ):
            raise ConfigError(f"{what} {expression!r}: {type(node).__name__} is not allowed")
    return tree


def promotion(expression: str | None, metrics: Mapping[str, float]) -> tuple[bool, str]:
    """(promote?, why not, in words)."""
    bad = sorted(k for k, v in metrics.items() if not math.isfinite(v))
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        return False, f"metric {bad[0]} is {metrics[bad[0]]}{more}"
    why = explain_refusal(expression, metrics)
    return why is None, why or ""


def should_promote(expression: str | None, metrics: Mapping[str, float]) -> bool:
    if not expression:
        return True
    try:
        return bool(_eval(parse(expression).body, metrics))
    except _Missing:
        return False


def uses_production(expression: str) -> bool:
    """Whether a gate compares with the production version (``production.<metric>``)."""
    return any(isinstance(node, ast.Attribute) for node in ast.walk(parse(expression, allow_production=True)))


def holds(
    expression: str, metrics: Mapping[str, float], production: Mapping[str, float] | None = None
) -> tuple[bool, str | None]:
    """(whether a gate holds, the name of a metric that is missing when that made it fail).

    ``production`` is the production version's metrics, offered to the expression as ``production.<metric>``."""
    scope: dict[str, Any] = dict(metrics)
    scope[_PRODUCTION_SCOPE] = dict(production or {})
    try:
        return bool(_eval(parse(expression, allow_production=True).body, scope)), None
    except _Missing as missing:
        return False, str(missing)


_PRODUCTION_SCOPE = "\0production"  # not a valid metric name, so it cannot clash with one


def _eval(node: ast.AST, metrics: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == PRODUCTION:
        production = metrics.get(_PRODUCTION_SCOPE) or {}
        if node.attr not in production:
            raise _Missing(f"production.{node.attr}")
        return production[node.attr]
    if isinstance(node, ast.Name):
        if node.id not in metrics or node.id == _PRODUCTION_SCOPE:
            raise _Missing(node.id)
        return metrics[node.id]
    if isinstance(node, ast.BoolOp):
        values = (_eval(v, metrics) for v in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, metrics)
        return (not value) if isinstance(node.op, ast.Not) else -value
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_eval(node.left, metrics), _eval(node.right, metrics))
    if isinstance(node, ast.Compare):
        left = _eval(node.left, metrics)
        for op, right_node in zip(node.ops, node.comparators):
            right = _eval(right_node, metrics)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    raise ConfigError(f"promote_if: {type(node).__name__} is not allowed")


_NEGATED = {ast.Lt: ">=", ast.LtE: ">", ast.Gt: "<=", ast.GtE: "<", ast.Eq: "!=", ast.NotEq: "=="}


def explain_refusal(expression: str | None, metrics: Mapping[str, float]) -> str | None:
    """Why ``expression`` keeps a version out of production ("accuracy 0.41 < 0.5"); None when it holds."""
    if should_promote(expression, metrics):
        return None
    assert expression
    return _why(parse(expression).body, metrics) or f"{expression} is false"


def _why(node: ast.AST, metrics: Mapping[str, float]) -> str:
    missing = sorted({n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id not in metrics})
    if missing:
        return f"{', '.join(missing)} not reported"
    if isinstance(node, ast.BoolOp):
        failing = [v for v in node.values if not _eval(v, metrics)]
        reasons = [_why(v, metrics) for v in failing]
        return reasons[0] if isinstance(node.op, ast.And) else " and ".join(reasons)
    if isinstance(node, ast.Compare):
        left = node.left
        for op, right in zip(node.ops, node.comparators):
            if not _COMPARE[type(op)](_eval(left, metrics), _eval(right, metrics)):
                return f"{_side(left, metrics)} {_NEGATED[type(op)]} {_side(right, metrics)}"
            left = right
        return ""
    value = _eval(node, metrics)
    return f"{ast.unparse(node)} is {'false' if isinstance(value, bool) else _number(value)}"


def _side(node: ast.AST, metrics: Mapping[str, float]) -> str:
    text = _number(_eval(node, metrics))
    return text if isinstance(node, ast.Constant) else f"{ast.unparse(node)} {text}"


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


# ----- the production history: which version production goes back to ------------------------------------------
# An instance's production history is a stack of the versions its production alias pointed to, oldest first
# (``InstanceState.production``). These rules are the same whatever tracker keeps the stack.
MAX_PRODUCTION_HISTORY = 50


def pushed(history: list[str], version: str) -> list[str]:
    """The history after production was pointed at ``version`` by hand, by a reuse or by a new promotion."""
    return (list(history) + [str(version)])[-MAX_PRODUCTION_HISTORY:]


def moved_to(history: list[str], target: str) -> list[str]:
    """The history after a release rollback moved production to ``target``: going back to a version in it pops
    what came after (a later rollback goes further back, never forward again); another version is pushed."""
    if target in history:
        return history[: len(history) - history[::-1].index(target)]
    return pushed(history, target)


def rollback_target(history: list[str], current: str | None, to: str | None = None) -> tuple[str | None, list[str]]:
    """Where ``models rollback`` moves production, and the history after it. → (target, history).

    Without ``to``: the version before the current one on the stack (the current one is popped); with nothing
    earlier the target is the current version itself (nothing moves). With ``to``: that version, pushed. The
    target is None when there is neither (no production version at all)."""
    earlier = list(history)
    while earlier and earlier[-1] == current:
        earlier.pop()
    if to:
        return str(to), pushed(earlier, str(to))
    if earlier:
        return earlier[-1], earlier
    return current, list(history)
