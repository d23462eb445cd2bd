"""`shop-dev test`: every package's tests in a pytest process of its own.

The packages share nothing in production, and their test suites share no process either: each
gets its own PostgreSQL, NATS server and Prometheus registry, so one package's durable consumers,
streams and metrics never leak into another's. The last line sums up every run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

NO_TESTS_COLLECTED = 5
# Modules that start a whole stack of their own: run alone, after the suite whose session stack has
# stopped (beside it they would double what the machine is asked), with what turns them on.
ALONE = {Path("tests/system/test_system_stripe.py"): {"SHOP_SYSTEM_STRIPE": "1"}}


def discover(root: Path) -> list[Path]:
    """Fast, self-contained suites first; system-level tests last."""
    found = [
        root / "libs" / "kit" / "tests",
        root / "libs" / "payments" / "tests",
        root / "protos" / "tests",
        *sorted((root / "services").glob("*/tests")),
        root / "libs" / "devstack" / "tests",
        root / "libs" / "shopctl" / "tests",
        root / "libs" / "deploycheck" / "tests",
        root / "charts" / "shop" / "tests",
        root / "k8s" / "tests",
        root / "loadtests" / "tests",
        root / "tests",
        *(root / module for module in ALONE),
    ]
    return [folder for folder in found if folder.exists()]


def counts(report: Path) -> Counter[str]:
    tally: Counter[str] = Counter()
    if not report.exists():
        return tally
    for suite in ET.parse(report).getroot().iter("testsuite"):
        tests, failures, errors, skipped = (int(suite.get(k, "0")) for k in ("tests", "failures", "errors", "skipped"))
        tally["passed"] += tests - failures - errors - skipped
        tally["failed"] += failures + errors
        tally["skipped"] += skipped
    return tally


def run(root: Path, folders: list[Path], pytest_args: list[str]) -> int:
    total: Counter[str] = Counter()
    broken: list[str] = []
    with tempfile.TemporaryDirectory(prefix="shop-test-") as scratch:
        for index, folder in enumerate(folders):
            name = str(folder.relative_to(root))
            print(f"\n=== {name}", flush=True)
            report = Path(scratch) / f"{index}.xml"
            alone = ALONE.get(folder.relative_to(root), {})
            # A module run alone is left out of the folders that hold it.
            ignored = [f"--ignore={module}" for module in ALONE if folder != root / module]
            code = subprocess.call(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-q",
                    name,
                    f"--junitxml={report}",
                    f"--basetemp={Path(scratch) / f'tmp{index}'}",
                    *ignored,
                    *pytest_args,
                ],
                cwd=root,
                env={**os.environ, **alone},
            )
            total += counts(report)
            if code not in (0, NO_TESTS_COLLECTED):
                broken.append(name)
    if broken:
        print(f"\nfailed suites: {', '.join(broken)}")
    print(f"{total['passed']} passed, {total['failed']} failed, {total['skipped']} skipped")
    return 1 if broken else 0


def main(argv: list[str], root: Path) -> int:
    """`shop-dev test [FOLDER ...] [-- PYTEST ARGS]`: the named test folders, or all of them."""
    split = argv.index("--") if "--" in argv else len(argv)
    folders = [root / folder for folder in argv[:split]] or discover(root)
    return run(root, folders, argv[split + 1 :])
