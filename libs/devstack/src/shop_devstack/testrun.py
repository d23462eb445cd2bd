"""`shop-dev test`: every package's tests in a pytest process of its own.

The packages share nothing in production, and their test suites share no process either: each
gets its own PostgreSQL, NATS server and Prometheus registry, so one package's durable consumers,
streams and metrics never leak into another's. The last line sums up every run.

Two lanes share the machine first, each running its suites one after another: the first shows its
output as it goes; the second (the chart's, the manifests' and the tooling's checks, then the lighter
services' suites, so that both lanes end about together) is shown once the first is done. Then the
suites that start whole stacks run alone. SHOP_TEST_LANES=1 runs everything one after another.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

NO_TESTS_COLLECTED = 5
# Modules that start a whole stack of their own: run alone, after the suite whose session stack has
# stopped (beside it they would double what the machine is asked), with what turns them on.
ALONE = {Path("tests/system/test_system_stripe.py"): {"SHOP_SYSTEM_STRIPE": "1"}}
# The second lane, in this order: the longest first. On 2 cores each lane takes about 8 minutes; the
# first keeps kit, catalog, checkout, gateway and sandbox.
BESIDE = (
    Path("charts/shop/tests"),
    Path("k8s/tests"),
    Path("libs/shopctl/tests"),
    Path("libs/deploycheck/tests"),
    Path("protos/tests"),
    Path("services/order/tests"),
    Path("services/notifications/tests"),
    Path("services/cart/tests"),
    Path("services/inventory/tests"),
    Path("services/pricing/tests"),
    Path("services/customers/tests"),
    Path("libs/payments/tests"),
    Path("services/fraud/tests"),
)
# Suites that start whole stacks (or load them): after both lanes, one at a time.
STACKS = {Path("libs/devstack/tests"), Path("loadtests/tests"), Path("tests"), *ALONE}


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


def unused_plugins(folder: Path) -> list[str]:
    """Hypothesis' pytest plugin imports all of hypothesis (about 2 s of every suite's start on a busy
    2-core machine): left unloaded where no test uses hypothesis."""
    uses = any("hypothesis" in module.read_text(errors="replace") for module in folder.rglob("*.py"))
    return [] if uses else ["-p", "no:hypothesispytest"]


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


@dataclass
class Suites:
    """One `shop-dev test` run: where its reports go, and what they add up to."""

    root: Path
    scratch: Path
    pytest_args: list[str]
    total: Counter[str] = field(default_factory=Counter)
    broken: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)  # the two lanes add up here

    def run(self, index: int, folder: Path, output: Path | None = None) -> None:
        """One folder's pytest process; its output to the terminal, or to `output`."""
        name = str(folder.relative_to(self.root))
        report = self.scratch / f"{index}.xml"
        alone = ALONE.get(folder.relative_to(self.root), {})
        # A module run alone is left out of the folders that hold it.
        ignored = [f"--ignore={module}" for module in ALONE if folder != self.root / module]
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            name,
            f"--junitxml={report}",
            f"--basetemp={self.scratch / f'tmp{index}'}",
            *ignored,
            *unused_plugins(folder),
            *self.pytest_args,
        ]
        if output is None:
            print(f"\n=== {name}", flush=True)
            code = subprocess.call(command, cwd=self.root, env={**os.environ, **alone})
        else:
            with output.open("wb") as sink:
                code = subprocess.call(
                    command, cwd=self.root, env={**os.environ, **alone}, stdout=sink, stderr=subprocess.STDOUT
                )
        with self.lock:
            self.total += counts(report)
            if code not in (0, NO_TESTS_COLLECTED):
                self.broken.append(name)


def lanes(root: Path, folders: list[Path]) -> tuple[list[Path], list[Path], list[Path]]:
    """(the first lane, the lane beside it, the stacks after them): the first and the stacks in the
    given order, the second in BESIDE's."""
    if os.environ.get("SHOP_TEST_LANES") == "1":
        return folders, [], []
    beside = sorted(
        (f for f in folders if f.relative_to(root) in BESIDE), key=lambda f: BESIDE.index(f.relative_to(root))
    )
    stacks = [f for f in folders if f.relative_to(root) in STACKS]
    return [f for f in folders if f not in beside and f not in stacks], beside, stacks


def run(root: Path, folders: list[Path], pytest_args: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="shop-test-") as scratch:
        suites = Suites(root, Path(scratch), pytest_args)
        indexed = {folder: index for index, folder in enumerate(folders)}
        first, beside, stacks = lanes(root, folders)
        outputs = {folder: Path(scratch) / f"{indexed[folder]}.out" for folder in beside}

        def run_beside() -> None:
            for folder in beside:
                suites.run(indexed[folder], folder, outputs[folder])

        lane = threading.Thread(target=run_beside, name="beside", daemon=True)
        lane.start()
        for folder in first:
            suites.run(indexed[folder], folder)
        lane.join()
        for folder in beside:
            print(f"\n=== {folder.relative_to(root)} (ran in the second lane)", flush=True)
            sys.stdout.buffer.write(outputs[folder].read_bytes())
            sys.stdout.flush()
        for folder in stacks:
            suites.run(indexed[folder], folder)
    if suites.broken:
        print(f"\nfailed suites: {', '.join(suites.broken)}")
    print(f"{suites.total['passed']} passed, {suites.total['failed']} failed, {suites.total['skipped']} skipped")
    return 1 if suites.broken else 0


def main(argv: list[str], root: Path) -> int:
    """`shop-dev test [FOLDER ...] [-- PYTEST ARGS]`: the named test folders, or all of them."""
    split = argv.index("--") if "--" in argv else len(argv)
    folders = [root / folder for folder in argv[:split]] or discover(root)
    return run(root, folders, argv[split + 1 :])
