"""The chart's Deployments run: each service started exactly as its container would be.

For every service Deployment of a local cluster's render (the defaults with the gateway's dev token
issuer, as skaffold installs it): the migration Job's command, then the
container's command and args with its environment (secrets and field refs resolved, cluster
hosts pointed at a local PostgreSQL and NATS, ports made local; `shop_deploycheck.workloads`) and
its certificate (a local CA's, where the pod mounts its Secret; `shop_deploycheck.localtls`) as a
process from this virtualenv. Its startup probe must answer SERVING on the plain-text health port,
its gRPC API must answer over mutual TLS, its metrics port must serve what the canary
AnalysisTemplates query (metric names and the labels they match on, read from the canary values'
render), and SIGTERM must stop it with status 0. The render's `helm test` Pods run against them
the same way (the image's Python is this virtualenv's): each must pass, over mutual TLS with the
service's certificate. `make images-check` does the same with the images under podman.
"""

from __future__ import annotations

import asyncio
import sys
from functools import cache
from typing import Any

import pytest

from shop_deploycheck.localrun import LocalRun, Outcome, ProcessLauncher, selector_problems, target_labels
from shop_deploycheck.localtls import issue_local_identities
from shop_deploycheck.manifests import Manifest, render_set
from shop_deploycheck.otlpsink import otlp_sink
from shop_deploycheck.promql import Selector
from shop_deploycheck.render import CHART, load_values, render
from shop_deploycheck.workloads import LocalEnvironment, Workload, analysis_selectors, helm_test_pods, workloads
from shop_devstack.postgres import provision
from shopkit.testing import Postgres

SERVICE_COMPONENT = "service"
# Without it the gateway needs the JWKS of a real token issuer (the chart's default).
LOCAL_CLUSTER: dict[str, Any] = {"gateway": {"devIssuer": {"enabled": True}}}


@cache
def local_render() -> list[Manifest]:
    return render(values=LOCAL_CLUSTER)


def service_workloads() -> list[Workload]:
    return [w for w in workloads(local_render()) if w.labels.get("app.kubernetes.io/component") == SERVICE_COMPONENT]


SERVICES = [w.service for w in service_workloads()]
# Services whose probes are gRPC health checks: the canary analysis queries their gRPC RED metrics (the
# payment sandbox serves HTTP only and is never canaried; its own tests cover its HTTP metrics).
GRPC_SERVICES = [
    w.service for w in service_workloads() if w.container.health is not None and w.container.health.kind == "grpc"
]


@pytest.fixture(scope="module")
def outcomes(postgres: Postgres, nats_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Every service Deployment run once, all at the same time (so peers reach each other)."""
    manifests = local_render()
    chosen = service_workloads()
    scratch = tmp_path_factory.mktemp("conformance")

    async def run() -> list[Outcome]:
        databases = await provision(postgres.url("postgres"), [w.service for w in chosen if w.migrate], None)
        identities = issue_local_identities(manifests, scratch / "tls")
        with otlp_sink() as collector:
            local = LocalEnvironment(
                manifests,
                {d.service: d.url for d in databases},
                nats_url,
                collector,
                secret_dirs=identities.secret_dirs,
                client=identities.client,
            )
            # The helm test pods run the image's Python: here this virtualenv's, which has the same packages.
            image_python = load_values([CHART / "values.yaml"])["image"]["python"]
            launcher = ProcessLauncher(scratch, executables={image_python: sys.executable})
            run = LocalRun(local, launcher, scratch / "logs", name_prefix="conformance")
            return await run.run(chosen, helm_test_pods(manifests))

    return {o.workload.service: o for o in asyncio.run(run())}


@pytest.fixture(scope="module")
def analysis() -> tuple[dict[str, list[Selector]], set[str]]:
    """Selectors of each service's AnalysisTemplate in the canary render, and the labels
    Prometheus' scrape configuration (ServiceMonitor) adds to the series."""
    canary = render_set("canary").manifests
    by_template = analysis_selectors(canary)
    assert by_template, "the canary values render no AnalysisTemplate"
    service_of = {
        m["metadata"]["name"]: m["metadata"]["labels"]["app.kubernetes.io/name"]
        for m in canary
        if m["kind"] == "AnalysisTemplate"
    }
    by_service: dict[str, list[Selector]] = {}
    for name, found in by_template.items():
        assert found, f"AnalysisTemplate {name} has no Prometheus query"
        by_service.setdefault(service_of[name], []).extend(found)
    return by_service, target_labels(canary)


def test_the_default_render_has_every_service() -> None:
    assert {"catalog", "pricing", "cart", "checkout", "inventory", "order", "fraud", "gateway", "sandbox"} <= set(
        SERVICES
    )


@pytest.mark.parametrize("service", SERVICES)
def test_service_starts_as_its_deployment_says(outcomes: dict[str, Outcome], service: str) -> None:
    outcome = outcomes[service]
    assert outcome.ok, "\n".join(outcome.problems) + f"\n--- log\n{outcome.log}"
    assert outcome.health == "SERVING"
    assert outcome.exit_status == 0
    if outcome.workload.container.health and outcome.workload.container.health.kind == "grpc":
        assert outcome.touched, "the server lists no read-only method of its own API through reflection"


@pytest.mark.parametrize("service", SERVICES)
def test_helm_test_pods_pass(outcomes: dict[str, Outcome], service: str) -> None:
    tests = outcomes[service].tests
    assert tests, f"no helm test pod checks {service}"
    for result in tests:
        assert not result.problem, f"{result.pod.name}: {result.problem}\n{result.output}"
        assert result.exit_status == 0


@pytest.mark.parametrize("service", GRPC_SERVICES)
def test_metrics_serve_what_the_canary_analysis_queries(
    outcomes: dict[str, Outcome], analysis: tuple[dict[str, list[Selector]], set[str]], service: str
) -> None:
    by_service, scraped_labels = analysis
    outcome = outcomes[service]
    assert outcome.samples, f"{service} serves no metrics on port {outcome.workload.metrics_port}"
    if service in by_service:
        # Its own template: names, label names and the values it selects (its grpc_service).
        problems = selector_problems(by_service[service], outcome.samples, scraped_labels)
    else:
        # Any gRPC service may be canaried: the metric names (and label names) must be there.
        every = [s for selectors in by_service.values() for s in selectors]
        names_only = [Selector(s.metric, tuple(m for m in s.matchers if m.op != "=")) for s in every]
        problems = selector_problems(names_only, outcome.samples, scraped_labels)
    assert not problems, problems


def test_selector_check_fails_on_a_wrong_query(outcomes: dict[str, Outcome]) -> None:
    """The comparison itself: a misspelt metric, a label the services don't export, another
    service's grpc_service value are all reported."""
    from shop_deploycheck.promql import fill_placeholders, selectors

    samples = outcomes["catalog"].samples
    query = (
        'sum(rate(grpc_server_handled_totals{namespace="shop"}[2m]))'
        ' + sum(rate(grpc_server_handled_total{grpc_status="INTERNAL"}[2m]))'
        ' + sum(rate(grpc_server_handled_total{grpc_service="shop.cart.v1.CartService"}[2m]))'
    )
    problems = selector_problems(selectors(fill_placeholders(query)), samples, {"namespace"})
    assert len(problems) == 3, problems
