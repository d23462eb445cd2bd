"""Run checkov (Kubernetes framework) on rendered manifests and read its JSON report.

checkov lives in its own virtualenv (`make install` creates .venv-tools/checkov): its pins conflict
with the project's. It scans files, so the rendered manifests are written to one first.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[4]
CHECKOV = REPO / ".venv-tools" / "checkov" / "bin" / "checkov"


@dataclass
class Finding:
    check_id: str
    resource: str
    name: str
    reason: str = ""


@dataclass
class CheckovReport:
    passed: int
    failed: list[Finding] = field(default_factory=list)
    skipped: list[Finding] = field(default_factory=list)
    parsing_errors: int = 0
    # checkov's ids (Kind.namespace.name) of the resources it ran checks on
    resources: set[str] = field(default_factory=set)


def _finding(result: dict[str, Any]) -> Finding:
    suppress = result.get("check_result", {}).get("suppress_comment", "") or ""
    return Finding(result["check_id"], result["resource"], result.get("check_name", ""), suppress)


def parse_report(text: str, files: Sequence[Path]) -> dict[Path, CheckovReport]:
    """checkov's `-o json` output (one report, or a list of them), split by scanned file."""
    document = json.loads(text)
    reports = document if isinstance(document, list) else [document]
    by_name = {path.name: path for path in files}
    split = {path: CheckovReport(passed=0) for path in files}
    for report in reports:
        if "results" not in report:  # nothing scanned: a bare summary
            continue
        results = report["results"]
        for kind in ("passed_checks", "failed_checks", "skipped_checks"):
            for result in results[kind]:
                target = split[by_name[Path(result["file_path"]).name]]
                target.resources.add(result["resource"])
                if kind == "passed_checks":
                    target.passed += 1
                elif kind == "failed_checks":
                    target.failed.append(_finding(result))
                else:
                    target.skipped.append(_finding(result))
        for error in results.get("parsing_errors", []):
            split[by_name[Path(error).name]].parsing_errors += 1
    return split


def scan(files: Sequence[Path], timeout: float = 900) -> dict[Path, CheckovReport]:
    """checkov on every file in one process (its start-up, seconds of imports, is paid once).

    The files need distinct names: findings are matched to files by name."""
    if not CHECKOV.exists():
        raise FileNotFoundError(f"{CHECKOV} is missing: run `make install`")
    if len({path.name for path in files}) != len(files):
        raise ValueError("files to scan need distinct names")
    env = {
        **os.environ,
        # Offline: no mapping of check ids to the vendor's platform (and no download, below).
        "BC_SKIP_MAPPING": "TRUE",
    }
    command = [str(CHECKOV), "--framework", "kubernetes", "--output", "json", "--skip-download"]
    for path in files:
        command += ["--file", str(path)]
    process = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    # checkov exits 1 when a check failed; anything else without a report is a crash.
    if process.returncode not in (0, 1) or not process.stdout.strip():
        raise RuntimeError(f"checkov failed ({process.returncode}): {process.stderr[-2000:]}")
    return parse_report(process.stdout, files)
