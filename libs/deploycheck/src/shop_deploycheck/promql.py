"""What a PromQL expression reads: its series selectors, parsed with a real PromQL parser
(promql-parser, the Rust parser's Python binding), so the checks can compare rules, dashboards and
analysis queries with the metrics the services really export.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import promql_parser

# Grafana's and Argo Rollouts' placeholders are not PromQL; they stand for a value in a query.
_TEMPLATE_PLACEHOLDERS = (
    (re.compile(r"\$__(rate_)?interval|\$__range"), "5m"),
    (re.compile(r"\{\{\s*args\.[\w-]+\s*\}\}"), "placeholder"),
    (re.compile(r"\$\{?\w+\}?"), "placeholder"),
)


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str  # one of = != =~ !~
    value: str

    def matches(self, value: str) -> bool:
        """Whether a series with `label=value` passes this matcher (regexes are anchored, as in PromQL)."""
        if self.op in ("=", "!="):
            return (value == self.value) == (self.op == "=")
        return (re.fullmatch(self.value, value) is not None) == (self.op == "=~")


@dataclass(frozen=True)
class Selector:
    metric: str
    matchers: tuple[Matcher, ...]


_OPS = (
    (promql_parser.MatchOp.Equal, "="),
    (promql_parser.MatchOp.NotEqual, "!="),
    (promql_parser.MatchOp.Re, "=~"),
    (promql_parser.MatchOp.NotRe, "!~"),
)


def _op(op: promql_parser.MatchOp) -> str:
    return next(text for known, text in _OPS if op == known)  # the binding's enum is not hashable


def fill_placeholders(query: str) -> str:
    """The query with Grafana variables ($namespace, $__rate_interval) and Argo Rollouts arguments
    ({{args.x}}) replaced by plain values, so that it parses."""
    for pattern, replacement in _TEMPLATE_PLACEHOLDERS:
        query = pattern.sub(replacement, query)
    return query


def selectors(query: str) -> list[Selector]:
    """Every series selector of `query`, in order. Raises ValueError when it is not valid PromQL."""
    expression = promql_parser.parse(query)
    found: list[Selector] = []

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            matchers = tuple(
                Matcher(matcher.name, _op(matcher.op), matcher.value)
                for matcher in node.matchers.matchers
                if matcher.name != "__name__"
            )
            found.append(Selector(node.name or "", matchers))

    promql_parser.walk(expression, visit)
    return found
