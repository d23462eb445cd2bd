"""The benchmark suite's parts that need no whole stack, on a real PostgreSQL and NATS (the suite's rig):
the raw-asyncpg floor (B1's baseline) and the outbox -> NATS -> consumer worker (B8), each as the client
process the suite runs, and the report. The whole suite runs before a release as `make bench ARGS=--smoke`."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest

from shop_devstack.bench import events, floor
from shop_devstack.bench.report import Figure, Report, Target
from shop_devstack.bench.rig import Rig
from shop_devstack.bench.suite import CASES, parse_only

pytestmark = pytest.mark.timeout(180)


def test_the_floor_and_the_event_pipeline_measure_on_a_real_server(tmp_path: Path) -> None:
    async def scenario() -> Report:
        rig = Rig(tmp_path / "rig")
        report = Report()
        try:
            await rig.start()
            for service in floor.SERVICES:  # the services' databases the floor puts its bench tables in
                await rig.database(service)
            completed = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "shop_devstack.bench.floor", rig.admin_url, "2", "0.3", "0.1"],
                capture_output=True,
                text=True,
                timeout=120,
                env=os.environ.copy(),
            )
            assert completed.returncode == 0, completed.stderr
            [row] = [json.loads(line) for line in completed.stdout.splitlines()]
            assert row["concurrency"] == 2 and row["calls"] > 0 and row["rate"] > 0
            conn = await asyncpg.connect(rig.admin_url_for("checkout"))
            try:  # the floor's tables are gone afterwards
                assert await conn.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = 'bench_floor'") == 0
            finally:
                await conn.close()
            await events.events_case(rig, report, 300)
        finally:
            await rig.stop()
        return report

    report = asyncio.run(scenario())
    batched, per_message = report.figures
    assert batched.case == per_message.case == "B8" and "300 events" in batched.note
    assert batched.value > 0 and per_message.value > 0 and batched.target is not None
    assert not report.failures


def test_a_figure_shows_its_baseline_ratio_target_and_verdict() -> None:
    figure = Figure(
        "B1", "c=16 checkouts", 12.3, "/s", Target("ratio", ">=", 0.25), baseline=180, baseline_name="floor"
    )
    assert figure.line() == "B1 c=16 checkouts: 12.3 /s, floor 180, ratio 0.07 (target ratio >= 0.25) MISSED"
    report = Report([figure, Figure("B2", "idle checkout p50", 42.0, "ms", Target("value", "<=", 60))])
    report.fail("B7", "RuntimeError: no catalog")
    table = report.table()
    assert "1 of 2 targets met; 1 case(s) failed" in table
    assert [f["met"] for f in json.loads(report.as_json())["figures"]] == [False, True]


def test_cases_are_chosen_by_name() -> None:
    assert parse_only(None) == list(CASES)
    assert parse_only("b5, B1") == ["B1", "B5"]
    with pytest.raises(SystemExit):
        parse_only("B9")
