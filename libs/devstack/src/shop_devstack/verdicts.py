"""How a suite run by `shop-dev` ends (chaos, soak): its report, as JSON too when asked, a verdict line
and the exit status."""

from __future__ import annotations

from typing import Protocol


class _Report(Protocol):
    def render(self) -> str: ...

    def as_json(self) -> str: ...


class Result(Protocol):
    @property
    def report(self) -> _Report: ...

    @property
    def passed(self) -> bool: ...


def conclude(suite: str, result: Result, *, as_json: bool) -> int:
    """Print the report (and its JSON), `<suite>: PASSED` or `FAILED`; the exit status."""
    print(result.report.render(), flush=True)
    if as_json:
        print(result.report.as_json(), flush=True)
    print(f"{suite}: {'PASSED' if result.passed else 'FAILED'}", flush=True)
    return 0 if result.passed else 1
