"""The notifications service's mail server: SMTP_* from the values `smtp`, the password from a
Secret and never a value, egress to the mail server's port only, a host required outside development."""

from __future__ import annotations

import helm_python
import pytest

from shop_deploycheck.manifests import env_of, render_set
from shop_deploycheck.render import CHART, load_values, render


def test_production_sends_through_its_relay_with_the_password_of_a_secret() -> None:
    rendered = render_set("production")
    deployment = rendered.find("Deployment", "shop-notifications")
    assert deployment is not None
    [container] = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "notifications"]
    env = env_of(container)
    assert env["SMTP_HOST"]["value"] == "smtp.mail.example.com"
    assert (env["SMTP_PORT"]["value"], env["SMTP_STARTTLS"]["value"]) == ("587", "true")
    assert env["SMTP_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "shop-smtp", "key": "password"}
    assert "value" not in env["SMTP_PASSWORD"]
    assert env["ORDER_ADDR"]["value"].endswith(":50056")
    policy = rendered.find("NetworkPolicy", "shop-notifications")
    assert policy is not None
    smtp_rules = [
        rule
        for rule in policy["spec"]["egress"]
        if any("ipBlock" in peer for peer in rule.get("to", [])) and rule["ports"][0]["port"] == 587
    ]
    assert smtp_rules == [
        {"to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}], "ports": [{"port": 587, "protocol": "TCP"}]}
    ]


def test_webhooks_may_reach_public_addresses_on_443_only() -> None:
    rendered = render_set("production")
    policy = rendered.find("NetworkPolicy", "shop-notifications")
    assert policy is not None
    [rule] = [rule for rule in policy["spec"]["egress"] if rule.get("ports") == [{"port": 443, "protocol": "TCP"}]]
    [peer] = rule["to"]
    assert peer["ipBlock"]["cidr"] == "0.0.0.0/0"
    assert {"10.0.0.0/8", "169.254.0.0/16", "127.0.0.0/8"} <= set(peer["ipBlock"]["except"])


def test_webhook_egress_can_be_turned_off() -> None:
    manifests = render(values={"smtp": {"host": "mail"}, "webhooks": {"egress": {"enabled": False}}})
    [policy] = [m for m in manifests if (m["kind"], m["metadata"]["name"]) == ("NetworkPolicy", "shop-notifications")]
    assert not [rule for rule in policy["spec"]["egress"] if rule.get("ports") == [{"port": 443, "protocol": "TCP"}]]


def test_other_services_get_no_mail_settings() -> None:
    rendered = render_set("defaults")
    for deployment in rendered.service_deployments():
        if deployment["metadata"]["name"] == "shop-notifications":
            continue
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert "SMTP_HOST" not in env_of(container)


def test_staging_without_a_mail_server_fails_the_install() -> None:
    values = load_values([CHART / "ci" / "external-values.yaml"])
    del values["smtp"]
    with pytest.raises(helm_python.HelmError, match=r"smtp\.host is required in staging"):
        render(values=values)


def test_implicit_tls_and_starttls_together_fail_the_install() -> None:
    with pytest.raises(helm_python.HelmError, match="exclude each other"):
        render(values={"smtp": {"host": "mail", "tls": True, "starttls": True}})
