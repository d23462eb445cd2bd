"""The chaos suite's short form: ~60 checkouts through the gateway of a whole `shop-dev run` stack while
PostgreSQL, NATS, the gateway, the payment sandbox and checkout are each SIGKILLed once (the launcher
restarts every one of them), with the sandbox slow and failing a share of authorisations; then every
invariant read from the databases must hold and every killed process must serve again. The completion
rate is printed, not asserted (the full `make chaos` asserts it).

Skipped only when SHOP_SKIP_LAUNCHER_TEST=1 is set, like the launcher's own test.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from shop_devstack.chaos.runner import SHORT, run_chaos

pytestmark = [
    pytest.mark.skipif(os.environ.get("SHOP_SKIP_LAUNCHER_TEST") == "1", reason="SHOP_SKIP_LAUNCHER_TEST=1 was set"),
    pytest.mark.timeout(420),
]

VICTIMS = ("postgres", "nats", "gateway", "sandbox", "checkout")


def test_checkouts_keep_every_invariant_while_processes_are_killed(tmp_path: Path) -> None:
    options = replace(SHORT, victims=VICTIMS, kill_limit=len(VICTIMS), preferred_offset=13000, seed=9)

    result = run_chaos(options, folder=tmp_path / "chaos")

    report = result.report
    print(report.render())
    assert sorted(kill.process for kill in report.kills) == sorted(VICTIMS), report.render()
    assert result.recovered, report.render()
    broken = [f"{i.name}: {i.violations} ({i.examples})" for i in report.invariants if not i.kept]
    assert not broken, report.render()
    assert len(report.outcomes) == SHORT.checkouts
    assert not report.unsettled, report.render()
