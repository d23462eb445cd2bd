"""The sandbox's own metrics; HTTP request telemetry comes from shopkit.http."""

from __future__ import annotations

from prometheus_client import Counter

# Probes and the scrape itself are not counted.
UNOBSERVED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

AUTHORIZATIONS = Counter(
    "sandbox_authorizations_total",
    "Authorisations by outcome (replays not counted).",
    ["status", "code"],
)
