"""`shopctl migrate`: a Job from the release's migration hook, with the running image, awaited."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Build, FakeKubeApi, Shopctl

JOBS = "/apis/batch/v1/namespaces/shop/jobs"
FAST = ("--poll-interval", "0.01")


@pytest.fixture
def release(shop: FakeKubeApi, build: type[Build]) -> FakeKubeApi:
    """Helm's record of the deployed revision (and of the one it replaced) beside the workloads."""
    old = [build.hook_record(build.hook_job("catalog", "0.0.9"))]
    shop.add("secrets", build.release_secret("shop", 1, "superseded", old))
    hooks = [
        build.hook_record(build.hook_job("catalog", "0.1.0")),
        build.hook_record(build.hook_job("cart", "0.1.0")),
        build.hook_record(
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "shop-catalog-test"}, "spec": {}},
            events=("test",),
        ),
    ]
    shop.add("secrets", build.release_secret("shop", 2, "deployed", hooks))
    return shop


def created_jobs(api: FakeKubeApi) -> list[Any]:
    return [r for r in api.calls("POST") if r.path == JOBS]


def test_migrate_one_service(release: FakeKubeApi, shopctl: Shopctl, build: type[Build]) -> None:
    release.job_scripts["catalog"] = build.JobScript(succeed=True, log="INFO upgrade -> 0002_reviews\n")

    result = shopctl("migrate", "catalog", *FAST)

    assert result.code == 0, result.err
    (post,) = created_jobs(release)
    assert post.content_type == "application/json"
    job = post.body
    expected = build.hook_job("catalog", "0.1.0")
    # The chart's Job, renamed, out of Helm's hook machinery, on the image catalog runs now (0.2.0).
    assert job["metadata"]["generateName"] == "shop-catalog-migrate-"
    assert "name" not in job["metadata"]
    assert job["metadata"]["annotations"] == {"shop.example.com/started-by": "shopctl migrate"}
    assert job["metadata"]["labels"] == {**expected["metadata"]["labels"], "app.kubernetes.io/managed-by": "shopctl"}
    assert job["spec"]["ttlSecondsAfterFinished"] == 86400
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == build.image("catalog", "0.2.0")
    assert container["args"] == ["migrate"]
    assert {k: v for k, v in container.items() if k != "image"} == {
        k: v for k, v in expected["spec"]["template"]["spec"]["containers"][0].items() if k != "image"
    }
    assert job["spec"]["template"]["spec"]["securityContext"] == expected["spec"]["template"]["spec"]["securityContext"]
    # Helm's record of the deployed revision only.
    (listed,) = release.calls("GET", "/secrets")
    assert listed.query["labelSelector"] == ["owner=helm,name=shop,status=deployed"]

    name = release.requests[-1].path.rsplit("/", 1)[1]
    assert name.startswith("shop-catalog-migrate-")
    assert result.out.splitlines() == [
        f"catalog: started job/{name} ({build.image('catalog', '0.2.0')})",
        f"catalog: job/{name} succeeded",
    ]
    assert len(release.calls("GET", f"{JOBS}/{name}")) == 2  # polled until the controller finished it
    conditions = release.get("jobs", name)["status"]["conditions"]
    assert {"type": "Complete", "status": "True"}.items() <= conditions[-1].items()


def test_migrate_every_service_with_migrations(release: FakeKubeApi, shopctl: Shopctl, build: type[Build]) -> None:
    release.job_scripts["catalog"] = build.JobScript(succeed=True, log="ok\n", polls=1)
    release.job_scripts["cart"] = build.JobScript(succeed=True, log="ok\n", polls=3)

    result = shopctl("migrate", *FAST)

    assert result.code == 0, result.err
    jobs = created_jobs(release)
    assert [j.body["metadata"]["generateName"] for j in jobs] == ["shop-cart-migrate-", "shop-catalog-migrate-"]
    # Both started before either is awaited.
    first_poll = next(i for i, r in enumerate(release.requests) if r.method == "GET" and r.path.startswith(JOBS))
    assert all(release.requests.index(j) < first_poll for j in jobs)
    assert [line.split(":")[0] for line in result.out.splitlines()] == ["cart", "catalog", "catalog", "cart"]


def test_failed_migration_prints_the_pod_logs(release: FakeKubeApi, shopctl: Shopctl, build: type[Build]) -> None:
    log = "".join(f"line {i}\n" for i in range(300)) + 'ERROR relation "products" already exists\n'
    release.job_scripts["catalog"] = build.JobScript(succeed=False, log=log)

    result = shopctl("migrate", "catalog", *FAST)

    assert result.code == 1
    name = created_jobs(release)[0].body["metadata"]["generateName"]
    assert f"job/{name}" in result.out and "failed (BackoffLimitExceeded" in result.out
    assert "--- logs of pod/shop-catalog-migrate-" in result.err
    assert 'ERROR relation "products" already exists' in result.err
    assert "line 100\n" not in result.err and "line 101\n" in result.err  # the last 200 lines
    (logs,) = release.calls("GET", "/log")
    assert logs.query == {"container": ["migrate"], "tailLines": ["200"]}
    (pods,) = [r for r in release.calls("GET", "/pods") if not r.path.endswith("/log")]
    assert pods.query["labelSelector"][0].startswith("batch.kubernetes.io/job-name=shop-catalog-migrate-")
    assert result.err.rstrip().endswith(
        "shopctl: migration failed for catalog (BackoffLimitExceeded: Job has reached the specified backoff limit)"
    )


def test_timeout(release: FakeKubeApi, shopctl: Shopctl) -> None:
    # No script for cart: the Job never finishes (a pod stuck pulling its image, say).
    result = shopctl("migrate", "cart", "--timeout", "0.2", *FAST)

    assert result.code == 1
    assert "did not finish within 0.2s (it keeps running)" in result.out
    assert "no pods (check `kubectl describe job" in result.err
    assert "shopctl: migration failed for cart (not finished after 0.2s)" in result.err


def test_service_without_migrations(release: FakeKubeApi, shopctl: Shopctl) -> None:
    result = shopctl("migrate", "gateway", *FAST)

    assert result.code == 4
    assert "has no migration Job for 'gateway' (services with migrations: cart, catalog)" in result.err
    assert created_jobs(release) == []


def test_no_helm_release(shop: FakeKubeApi, shopctl: Shopctl) -> None:
    result = shopctl("migrate", *FAST)

    assert result.code == 4
    assert "no deployed Helm release 'shop' in namespace 'shop'" in result.err
    assert created_jobs(shop) == []


def test_job_creation_refused(release: FakeKubeApi, shopctl: Shopctl) -> None:
    release.denied.add(("create", "jobs"))

    result = shopctl("migrate", "catalog", *FAST)

    assert result.code == 1
    assert 'cannot create resource "jobs"' in result.err


def test_bad_timeout(shopctl: Shopctl) -> None:
    result = shopctl("migrate", "--timeout", "0")

    assert result.code == 2
    assert "--timeout and --poll-interval must be positive" in result.err
