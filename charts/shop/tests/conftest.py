"""Fixtures of the chart checks: each values set is rendered once per session.

`rendered` is parametrized over the chart defaults and every ci/*-values.yaml, so a check written
once runs against each of them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shop_deploycheck.manifests import VALUE_SETS, Render, render_set
from shop_deploycheck.render import CHART


@pytest.fixture(scope="session", params=list(VALUE_SETS))
def rendered(request: pytest.FixtureRequest) -> Render:
    return render_set(str(request.param))


@pytest.fixture(scope="session")
def chart() -> Path:
    return CHART
