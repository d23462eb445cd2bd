"""`shopctl canary promote|abort`: exactly the requests `kubectl argo rollouts promote|abort` sends,
and what they change on the server."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Build, FakeKubeApi, Shopctl

ROLLOUT = "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/shop-catalog"
MERGE_PATCH = "application/merge-patch+json"


def patches(api: FakeKubeApi) -> list[tuple[str, str | None, object]]:
    return [(r.path, r.content_type, r.body) for r in api.calls("PATCH")]


def test_promote_a_paused_step_clears_its_pause(shop: FakeKubeApi, shopctl: Shopctl) -> None:
    before = shop.get("rollouts", "shop-catalog")
    spec_before = dict(before["spec"])

    result = shopctl("canary", "promote", "catalog")

    assert (result.code, result.out, result.err) == (0, "rollout 'shop-catalog' promoted\n", "")
    assert shop.calls("GET", ROLLOUT)[-1].path == ROLLOUT  # read fresh before deciding what to send
    assert patches(shop) == [(f"{ROLLOUT}/status", MERGE_PATCH, {"status": {"pauseConditions": None}})]
    after = shop.get("rollouts", "shop-catalog")
    assert "pauseConditions" not in after["status"]
    assert after["status"]["currentStepIndex"] == 1  # the controller moves on once the pause is gone
    assert after["spec"] == spec_before


def test_promote_during_analysis_moves_to_the_next_step(
    shop: FakeKubeApi, shopctl: Shopctl, build: type[Build]
) -> None:
    shop.add("rollouts", build.rollout("catalog", step_index=2, pause_reason=None, phase="Progressing"))

    result = shopctl("canary", "promote", "catalog")

    assert result.code == 0, result.err
    assert patches(shop) == [
        (f"{ROLLOUT}/status", MERGE_PATCH, {"status": {"pauseConditions": None, "currentStepIndex": 3}})
    ]
    assert shop.get("rollouts", "shop-catalog")["status"]["currentStepIndex"] == 3


def test_promote_a_rollout_paused_by_hand(shop: FakeKubeApi, shopctl: Shopctl, build: type[Build]) -> None:
    # `kubectl argo rollouts pause` sets spec.paused (no pause condition): promote unpauses the spec
    # and, like the plugin, also moves the step index on.
    paused = build.rollout("catalog", step_index=3, paused=True, pause_reason=None, message="manually paused")
    shop.add("rollouts", paused)
    generation = shop.get("rollouts", "shop-catalog")["metadata"]["generation"]

    result = shopctl("canary", "promote", "catalog")

    assert result.code == 0, result.err
    assert patches(shop) == [
        (f"{ROLLOUT}/status", MERGE_PATCH, {"status": {"pauseConditions": None, "currentStepIndex": 4}}),
        (ROLLOUT, MERGE_PATCH, {"spec": {"paused": False}}),
    ]
    after = shop.get("rollouts", "shop-catalog")
    assert after["spec"]["paused"] is False
    assert after["status"]["currentStepIndex"] == 4
    assert after["metadata"]["generation"] == generation + 1


def test_promote_after_an_inconclusive_analysis(shop: FakeKubeApi, shopctl: Shopctl, build: type[Build]) -> None:
    shop.add("rollouts", build.rollout("catalog", step_index=2, pause_reason="InconclusiveAnalysisRun"))

    assert shopctl("canary", "promote", "catalog").code == 0
    assert patches(shop) == [(f"{ROLLOUT}/status", MERGE_PATCH, {"status": {"pauseConditions": None}})]


def test_promote_full(shop: FakeKubeApi, shopctl: Shopctl) -> None:
    result = shopctl("canary", "promote", "catalog", "--full")

    assert (result.code, result.out) == (0, "rollout 'shop-catalog' fully promoted\n")
    assert patches(shop) == [(f"{ROLLOUT}/status", MERGE_PATCH, {"status": {"promoteFull": True}})]
    assert shop.get("rollouts", "shop-catalog")["status"]["promoteFull"] is True


def test_promote_full_of_a_stable_rollout_sends_nothing(
    shop: FakeKubeApi, shopctl: Shopctl, build: type[Build]
) -> None:
    stable = build.rollout("catalog", step_index=7, pause_reason=None, phase="Healthy", current_hash=build.STABLE_HASH)
    shop.add("rollouts", stable)

    result = shopctl("canary", "promote", "catalog", "--full")

    assert result.code == 0, result.err
    assert patches(shop) == []


def test_abort(shop: FakeKubeApi, shopctl: Shopctl) -> None:
    result = shopctl("canary", "abort", "catalog")

    assert (result.code, result.out, result.err) == (0, "rollout 'shop-catalog' aborted\n", "")
    assert patches(shop) == [(f"{ROLLOUT}/status", MERGE_PATCH, {"status": {"abort": True}})]
    assert shop.get("rollouts", "shop-catalog")["status"]["abort"] is True


def test_controllers_without_a_status_subresource(shop: FakeKubeApi, shopctl: Shopctl) -> None:
    # Argo Rollouts before v0.10: /status answers 404 and spec and status go in one patch.
    shop.rollout_status_subresource = False

    assert shopctl("canary", "promote", "catalog").code == 0
    assert shopctl("canary", "abort", "catalog").code == 0

    unified = {"spec": {"paused": False}, "status": {"pauseConditions": None}}
    assert patches(shop) == [
        (f"{ROLLOUT}/status", MERGE_PATCH, {"status": {"pauseConditions": None}}),
        (ROLLOUT, MERGE_PATCH, unified),
        (f"{ROLLOUT}/status", MERGE_PATCH, {"status": {"abort": True}}),
        (ROLLOUT, MERGE_PATCH, {"status": {"abort": True}}),
    ]
    after = shop.get("rollouts", "shop-catalog")
    assert after["status"]["abort"] is True
    assert "pauseConditions" not in after["status"]


def test_service_without_canary(shop: FakeKubeApi, shopctl: Shopctl) -> None:
    result = shopctl("canary", "promote", "cart")

    assert result.code == 4
    assert result.err == (
        "shopctl: service 'cart' has no Rollout in namespace 'shop': canary releases are off for it "
        "(chart value services.cart.canary.enabled)\n"
    )
    assert patches(shop) == []


def test_unknown_service(shop: FakeKubeApi, shopctl: Shopctl) -> None:
    result = shopctl("canary", "abort", "billing")

    assert result.code == 4
    assert "has no service 'billing' (services: cart, catalog, checkout, gateway)" in result.err
    assert patches(shop) == []


def test_rollout_gone_between_list_and_get(shop: FakeKubeApi, shopctl: Shopctl, build: type[Build]) -> None:
    # The list still shows the Rollout, the GET that follows answers 404 (deleted in between):
    # the stored object keeps its name but is filed under another key, so only the GET misses it.
    shop.remove("rollouts", "shop-catalog")
    shop.add("rollouts", {**build.rollout("catalog"), "metadata": {"name": "shop-catalog-v2"}})
    shop.get("rollouts", "shop-catalog-v2")["metadata"]["name"] = "shop-catalog"

    result = shopctl("canary", "promote", "catalog")

    assert result.code == 4
    assert 'rollouts.argoproj.io "shop-catalog" not found (HTTP 404)' in result.err
    assert patches(shop) == []


def test_forbidden(shop: FakeKubeApi, shopctl: Shopctl) -> None:
    shop.denied.add(("patch", "rollouts/status"))

    result = shopctl("canary", "abort", "catalog")

    assert result.code == 1
    assert 'cannot patch resource "rollouts/status" in API group "argoproj.io"' in result.err
    assert "(HTTP 403)" in result.err
    assert "abort" not in shop.get("rollouts", "shop-catalog")["status"]


def test_usage_errors(shopctl: Shopctl) -> None:
    with pytest.raises(SystemExit) as exited:
        shopctl("canary", "promote")
    assert exited.value.code == 2
