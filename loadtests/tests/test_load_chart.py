"""The load generator as the chart deploys it (charts/shop/templates/loadgen.yaml): it reaches the
in-cluster sandbox over HTTPS and verifies it with the CA alone of the sandbox's certificate Secret
(`ca.crt`, never the key), through the settings shop_load reads."""

from __future__ import annotations

from typing import Any

import pytest

from shop_deploycheck.render import render

CA_FILE = "SHOP_SANDBOX_CA_FILE"


def loadgen_pods(**values: Any) -> dict[str, dict[str, Any]]:
    manifests = render(values={"loadgen": {"enabled": True}, **values})
    return {
        manifest["metadata"]["name"]: manifest["spec"]["template"]["spec"]
        for manifest in manifests
        if manifest["kind"] == "Deployment" and "-loadgen-" in manifest["metadata"]["name"]
    }


@pytest.mark.parametrize(
    ("values", "secret"),
    [({}, "shop-sandbox-tls"), ({"tls": {"existingSecrets": {"sandbox": "psp-sandbox-tls"}}}, "psp-sandbox-tls")],
    ids=["cert-manager's Secret", "an existing Secret"],
)
def test_the_load_generator_trusts_the_sandboxs_ca_alone(values: dict[str, Any], secret: str) -> None:
    pods = loadgen_pods(**values)
    assert set(pods) == {"shop-loadgen-master", "shop-loadgen-worker"}
    for pod in pods.values():
        (container,) = pod["containers"]
        env = {item["name"]: item.get("value") for item in container["env"]}
        assert env["SHOP_SANDBOX_URL"].startswith("https://shop-sandbox.shop.svc.cluster.local:")
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        (mount,) = [m for m in container["volumeMounts"] if env[CA_FILE].startswith(m["mountPath"] + "/")]
        assert mount["readOnly"] is True
        source = volumes[mount["name"]]["secret"]
        assert source["secretName"] == secret
        assert source["items"] == [{"key": "ca.crt", "path": env[CA_FILE].rsplit("/", 1)[1]}]


def test_without_the_sandbox_there_is_nothing_to_verify() -> None:
    values = {"services": {"sandbox": {"enabled": False}}, "paymentProvider": {"url": "https://psp.example.com"}}
    for pod in loadgen_pods(**values).values():
        (container,) = pod["containers"]
        assert not {item["name"] for item in container["env"]} & {"SHOP_SANDBOX_URL", CA_FILE}
        assert [volume["name"] for volume in pod["volumes"]] == ["tmp"]
