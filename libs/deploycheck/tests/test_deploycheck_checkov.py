"""checkov's JSON report split per scanned file."""

from __future__ import annotations

import json
from pathlib import Path

from shop_deploycheck.checkov import parse_report


def result(check: str, file: str, resource: str, suppress: str = "") -> dict[str, object]:
    entry: dict[str, object] = {
        "check_id": check,
        "check_name": check.lower(),
        "file_path": f"/{file}",
        "resource": resource,
    }
    if suppress:
        entry["check_result"] = {"result": "SKIPPED", "suppress_comment": suppress}
    return entry


def test_findings_land_in_their_file() -> None:
    files = [Path("/tmp/a.yaml"), Path("/tmp/b.yaml")]
    report = {
        "check_type": "kubernetes",
        "results": {
            "passed_checks": [result("CKV_K8S_1", "a.yaml", "Pod.ns.x"), result("CKV_K8S_1", "b.yaml", "Pod.ns.y")],
            "failed_checks": [result("CKV_K8S_16", "b.yaml", "Pod.ns.y")],
            "skipped_checks": [result("CKV_K8S_43", "a.yaml", "Pod.ns.x", "tags are immutable")],
            "parsing_errors": ["/tmp/b.yaml"],
        },
        "summary": {"passed": 2, "failed": 1, "skipped": 1, "parsing_errors": 1},
    }
    split = parse_report(json.dumps([report]), files)
    a, b = split[files[0]], split[files[1]]
    assert (a.passed, a.failed, b.passed) == (1, [], 1)
    assert [f.check_id for f in b.failed] == ["CKV_K8S_16"]
    assert a.skipped[0].reason == "tags are immutable"
    assert (a.parsing_errors, b.parsing_errors) == (0, 1)
    assert a.resources == {"Pod.ns.x"} and b.resources == {"Pod.ns.y"}


def test_an_empty_scan_is_a_bare_summary() -> None:
    split = parse_report(json.dumps({"passed": 0, "failed": 0}), [Path("/tmp/a.yaml")])
    assert split[Path("/tmp/a.yaml")].passed == 0
