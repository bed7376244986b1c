"""``promote_if`` expressions (``accuracy >= 0.8 and f1 > 0.5``), evaluated safely over a run's metrics.

Only names (metrics), numbers, comparisons, ``and``/``or``/``not`` and arithmetic are allowed; a metric the
run did not log makes the expression false (a model that did not report it is not promoted).
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Mapping
from typing import Any

from tusk.errors import ConfigError

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_COMPARE = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
            ast.Eq: operator.eq, ast.NotEq: operator.ne}


class _Missing(Exception):
    pass


def parse(expression: str) -> ast.Expression:
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        raise ConfigError(f"promote_if {expression!r}: not a valid expression") from exc
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub,
                                 ast.Compare, ast.Name, ast.Load, ast.Constant, ast.BinOp,
                                 *_BINARY, *_COMPARE)):
            raise ConfigError(f"promote_if {expression!r}: {type(node).__name__} is not allowed")
    return tree


def should_promote(expression: str | None, metrics: Mapping[str, float]) -> bool:
    if not expression:
        return True
    try:
        return bool(_eval(parse(expression).body, metrics))
    except _Missing:
        return False


def _eval(node: ast.AST, metrics: Mapping[str, float]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in metrics:
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
