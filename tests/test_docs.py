"""The docs describe what the code does: every event subject and every service port is documented."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text()
DOMAIN_SERVICES = (
    "catalog",
    "pricing",
    "cart",
    "checkout",
    "inventory",
    "order",
    "fraud",
    "customers",
    "notifications",
)


def declared_subjects() -> set[str]:
    subjects: set[str] = set()
    for events_proto in (ROOT / "protos" / "shop").glob("*/v1/events.proto"):
        subjects.update(re.findall(r"//\s*Subject:\s*(\S+)", events_proto.read_text()))
    return subjects


def test_every_event_subject_is_in_the_event_catalog() -> None:
    subjects = declared_subjects()
    assert len(subjects) >= 20
    missing = sorted(s for s in subjects if f"`{s}`" not in ARCHITECTURE)
    assert not missing, f"add these subjects to docs/architecture.md: {missing}"


def test_every_documented_subject_exists() -> None:
    services = "|".join(DOMAIN_SERVICES)
    documented = set(re.findall(rf"`(shop\.(?:{services})\.[a-z_]+)`", ARCHITECTURE))
    stale = sorted(documented - declared_subjects())
    assert not stale, f"docs/architecture.md names subjects no proto declares: {stale}"


def test_service_ports_in_docs_match_service_defaults() -> None:
    for service in DOMAIN_SERVICES:
        settings = ROOT / "services" / service / "src" / f"shop_{service}" / "settings.py"
        if not settings.exists():
            continue
        text = settings.read_text()
        grpc_port = re.search(r"grpc_port: int = Field\((\d+)", text)
        metrics_port = re.search(r"metrics_port: int = Field\((\d+)", text)
        assert grpc_port and metrics_port, f"{settings} must set its default ports"
        row = re.search(rf"^\| {service}\s*\| (\d+)\s*\| (\d+)", ARCHITECTURE, re.MULTILINE)
        assert row, f"{service} is missing from the services table"
        assert (row.group(1), row.group(2)) == (grpc_port.group(1), metrics_port.group(1)), service
