"""The NetworkPolicy evaluator the chart checks rely on: Kubernetes semantics, both directions."""

from __future__ import annotations

from typing import Any

from shop_deploycheck.manifests import Endpoint, allowed

WEB = Endpoint({"app": "web"}, "shop")
DB = Endpoint({"app": "db"}, "shop")
DNS = Endpoint({"k8s-app": "kube-dns"}, "kube-system")


def policy(selector: dict[str, str], types: list[str], **rules: Any) -> dict[str, Any]:
    return {
        "kind": "NetworkPolicy",
        "metadata": {"name": "p", "namespace": "shop"},
        "spec": {"podSelector": {"matchLabels": selector}, "policyTypes": types, **rules},
    }


DENY_ALL = {
    "kind": "NetworkPolicy",
    "metadata": {"name": "deny", "namespace": "shop"},
    "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
}
WEB_TO_DB = policy(
    {"app": "web"},
    ["Egress"],
    egress=[{"to": [{"podSelector": {"matchLabels": {"app": "db"}}}], "ports": [{"port": 5432}]}],
)
DB_FROM_WEB = policy(
    {"app": "db"},
    ["Ingress"],
    ingress=[
        {"from": [{"podSelector": {"matchLabels": {"app": "web"}}}], "ports": [{"port": 5432, "protocol": "TCP"}]}
    ],
)


def test_no_policies_allow_everything() -> None:
    assert allowed([], WEB, DB, 5432)


def test_default_deny_blocks_until_both_sides_allow() -> None:
    assert not allowed([DENY_ALL], WEB, DB, 5432)
    assert not allowed([DENY_ALL, WEB_TO_DB], WEB, DB, 5432), "ingress side still closed"
    assert not allowed([DENY_ALL, DB_FROM_WEB], WEB, DB, 5432), "egress side still closed"
    assert allowed([DENY_ALL, WEB_TO_DB, DB_FROM_WEB], WEB, DB, 5432)


def test_ports_and_protocols_must_match() -> None:
    policies = [DENY_ALL, WEB_TO_DB, DB_FROM_WEB]
    assert not allowed(policies, WEB, DB, 5433)
    assert not allowed(policies, WEB, DB, 5432, "UDP")
    assert not allowed(policies, DB, WEB, 5432), "the reverse direction is not allowed"


def test_a_pod_selector_alone_means_the_policys_namespace() -> None:
    stranger = Endpoint({"app": "db"}, "other")
    assert not allowed([WEB_TO_DB], WEB, stranger, 5432)


def test_namespace_and_pod_selectors_combine() -> None:
    dns_rule = {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }
        ],
        "ports": [{"port": 53, "protocol": "UDP"}],
    }
    policies = [DENY_ALL, policy({"app": "web"}, ["Egress"], egress=[dns_rule])]
    assert allowed(policies, WEB, DNS, 53, "UDP")
    assert not allowed(policies, WEB, Endpoint({"k8s-app": "other"}, "kube-system"), 53, "UDP")
    assert not allowed(policies, WEB, Endpoint({"k8s-app": "kube-dns"}, "shop"), 53, "UDP")
