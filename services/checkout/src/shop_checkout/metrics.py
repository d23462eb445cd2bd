"""Saga metrics beside the kit's RED metrics: outcomes, durations, retries, recoveries."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

CHECKOUTS_FINISHED = Counter(
    "shop_checkout_finished_total",
    "Checkouts that reached COMPLETED or FAILED, by failure code (empty when completed).",
    ["status", "failure_code"],
)
CHECKOUT_DURATION = Histogram(
    "shop_checkout_duration_seconds",
    "From PlaceOrder to COMPLETED or FAILED (held checkouts include their wait).",
    ["status"],
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0, 86400.0),
)
STEP_RETRIES = Counter(
    "shop_checkout_step_retries_total",
    "Saga steps and compensations that failed transiently and are tried again.",
    ["step"],
)
SAGAS_RECOVERED = Counter(
    "shop_checkout_recovered_total", "Sagas the recovery worker took over (lease lapsed, or a previous incarnation's)."
)
