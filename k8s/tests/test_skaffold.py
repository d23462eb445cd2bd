"""skaffold.yaml: valid against skaffold's v4beta13 schema, one artifact per image wired into the
Helm release's values, and every profile's release renders with the chart (Helm's own engine)
into what the profile promises. No skaffold binary and no cluster: the profile is applied here as
skaffold applies it (profile fields over the config, then its JSON patches)."""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterator, Mapping
from glob import glob
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema.validators
import pytest
import yaml
from jsonschema.exceptions import ValidationError

from shop_deploycheck.containers import SERVICES as IMAGE_SERVICES
from shop_deploycheck.render import parse_manifests, render_templates

ROOT = Path(__file__).resolve().parents[2]
SKAFFOLD = ROOT / "skaffold.yaml"
SCHEMA = Path(__file__).parent / "schemas" / "skaffold-v4beta13.json"
SERVICES = list(IMAGE_SERVICES)
IMAGES = [f"shop-{name}" for name in [*SERVICES, "loadtests"]]
PROFILES = ["dev", "canary", "load"]
TEMPLATE = re.compile(r"^\{\{\s*\.IMAGE_(REPO|TAG)_(\w+)\s*\}\}$")


def _not_vendored(validator: Any, what: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    yield ValidationError(f"uses {what}, which k8s/tests/schemas does not vendor yet (see its README)")


Validator = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
    jsonschema.Draft7Validator, {"x-not-vendored": _not_vendored}
)


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SKAFFOLD.read_text())
    return loaded


@pytest.fixture(scope="module")
def validator() -> Any:
    schema = json.loads(SCHEMA.read_text())
    Validator.check_schema(schema)
    return Validator(schema)


def _errors(validator: Any, document: Any) -> list[str]:
    found = []
    for error in validator.iter_errors(document):
        detail = [e.message for e in error.context or []]
        found.append(f"{'/'.join(map(str, error.absolute_path))}: {error.message} {detail}")
    return found


def test_skaffold_yaml_is_valid_v4beta13(config: dict[str, Any], validator: Any) -> None:
    assert config["apiVersion"] == "skaffold/v4beta13" and config["kind"] == "Config"
    assert not _errors(validator, config)


@pytest.mark.parametrize(
    "breakage",
    [
        lambda c: c["build"]["artifacts"][0]["docker"].update(buildArg={"SERVICE": "x"}),  # misspelt field
        lambda c: c["build"]["artifacts"][0].update(jib={}),  # a builder whose schema is not vendored
        lambda c: c["profiles"][0].update(portForward=[{"resourceName": "x", "port": [8080]}]),  # wrong type
        lambda c: c["deploy"]["helm"]["releases"][0].pop("name"),  # a required field
    ],
)
def test_the_schema_rejects_a_broken_config(config: dict[str, Any], validator: Any, breakage: Any) -> None:
    broken = copy.deepcopy(config)
    breakage(broken)
    assert _errors(validator, broken)


# --- profiles, as skaffold applies them ---------------------------------------------------------


def _overlay(base: Any, override: Any) -> Any:
    """A profile's fields over the config: mappings field by field, anything else replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _overlay(base.get(key), value)
        return merged
    return copy.deepcopy(override)


def _pointer(path: str) -> list[str]:
    return [part.replace("~1", "/").replace("~0", "~") for part in path.lstrip("/").split("/")]


def _patch(document: dict[str, Any], patches: list[dict[str, Any]]) -> dict[str, Any]:
    """RFC 6902 add / replace / remove, the operations the profiles use."""
    document = copy.deepcopy(document)
    for patch in patches:
        *parents, last = _pointer(patch["path"])
        target: Any = document
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        op = patch.get("op", "replace")
        if op == "remove":
            del target[int(last) if isinstance(target, list) else last]
        elif op in ("add", "replace"):
            if op == "replace":
                assert (int(last) < len(target)) if isinstance(target, list) else last in target, patch
            if isinstance(target, list):
                target.insert(len(target) if last == "-" else int(last), patch["value"])
            else:
                target[last] = patch["value"]
        else:
            raise AssertionError(f"unexpected patch op {op}")
    return document


def effective(config: dict[str, Any], profile_name: str | None) -> dict[str, Any]:
    if profile_name is None:
        return {key: value for key, value in config.items() if key != "profiles"}
    profile = next(p for p in config["profiles"] if p["name"] == profile_name)
    fields = {key: value for key, value in profile.items() if key not in ("name", "activation", "patches")}
    applied = _overlay({key: value for key, value in config.items() if key != "profiles"}, fields)
    return _patch(applied, profile.get("patches", []))


def _set_value(values: dict[str, Any], dotted: str, raw: Any) -> None:
    """`helm --set key=value`: dotted keys nest, true/false and integers are typed."""
    text = str(raw).lower() if isinstance(raw, bool) else str(raw)
    value: Any = {"true": True, "false": False}.get(text, text)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        value = int(value)
    *parents, last = dotted.split(".")
    for part in parents:
        values = values.setdefault(part, {})
    values[last] = value


def release_values(config: dict[str, Any]) -> dict[str, Any]:
    (release,) = config["deploy"]["helm"]["releases"]
    values: dict[str, Any] = {}
    for key, value in release.get("setValues", {}).items():
        _set_value(values, key, value)
    for key, template in release.get("setValueTemplates", {}).items():
        match = TEMPLATE.match(template)
        assert match, f"{key}: {template} is not an image template"
        part, image = match.groups()
        _set_value(values, key, f"registry.test/{image.replace('_', '-')}" if part == "REPO" else "sha-test")
    return values


class Renders(dict[str | None, list[dict[str, Any]]]):
    """Each profile's release rendered on first use, so a broken profile fails only its own tests."""

    def __init__(self, config: dict[str, Any]):
        super().__init__()
        self.config = config

    def __missing__(self, profile: str | None) -> list[dict[str, Any]]:
        applied = effective(self.config, profile)
        release = applied["deploy"]["helm"]["releases"][0]
        templates = render_templates(release_values(applied), release=release["name"], namespace=release["namespace"])
        self[profile] = parse_manifests(templates)
        return self[profile]


@pytest.fixture(scope="module")
def renders(config: dict[str, Any]) -> Renders:
    return Renders(config)


def _containers(manifests: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for manifest in manifests:
        if manifest["kind"] == "Deployment":
            for container in manifest["spec"]["template"]["spec"]["containers"]:
                yield manifest, container


def test_one_artifact_per_image_from_the_shared_dockerfile(config: dict[str, Any]) -> None:
    artifacts = config["build"]["artifacts"]
    assert [a["image"] for a in artifacts] == IMAGES
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = set(re.findall(r"^FROM \S+ AS ([\w-]+)$", dockerfile, re.M))
    # The final stage is the one the SERVICE build argument names.
    assert re.findall(r"^FROM (\S+)", dockerfile, re.M)[-1] == "${SERVICE}"
    for artifact in artifacts:
        assert artifact["context"] == "." and artifact["docker"]["dockerfile"] == "Dockerfile"
        service = artifact["docker"]["buildArgs"]["SERVICE"]
        assert artifact["image"] == f"shop-{service}" and service in stages


@pytest.mark.parametrize("profile", [None, *PROFILES])
def test_every_artifact_image_is_templated_into_the_release(config: dict[str, Any], profile: str | None) -> None:
    applied = effective(config, profile)
    templates = applied["deploy"]["helm"]["releases"][0]["setValueTemplates"]
    referenced = {TEMPLATE.match(t).group(2) for t in templates.values() if TEMPLATE.match(t)}  # type: ignore[union-attr]
    for artifact in applied["build"]["artifacts"]:
        key = re.sub(r"[^A-Za-z0-9]", "_", artifact["image"])
        assert key in referenced, f"{artifact['image']} is built but never deployed"
        assert {f"{{{{.IMAGE_REPO_{key}}}}}", f"{{{{.IMAGE_TAG_{key}}}}}"} <= set(templates.values())


@pytest.mark.parametrize("profile", [None, *PROFILES])
def test_every_profile_renders_with_the_built_images(renders: Renders, profile: str | None) -> None:
    manifests = renders[profile]
    images = {container["image"] for _, container in _containers(manifests)}
    for service in SERVICES:
        assert f"registry.test/shop-{service}:sha-test" in images, (profile, service)
    for _, container in _containers(manifests):
        assert container["image"].startswith("registry.test/"), (
            f"{profile}: {container['image']} was not built by skaffold"
        )


def test_dev_syncs_sources_into_a_writable_path_on_pythonpath(config: dict[str, Any], renders: Renders) -> None:
    dev = effective(config, "dev")
    by_service = {
        deployment["metadata"]["name"].removeprefix("shop-"): (deployment, container)
        for deployment, container in _containers(renders["dev"])
    }
    for artifact in dev["build"]["artifacts"]:
        name = artifact["image"].removeprefix("shop-")
        command = artifact["custom"]["buildCommand"].split()
        assert os.access(ROOT / command[0], os.X_OK) and command[1:] == [name]
        for pattern in artifact["custom"]["dependencies"]["paths"]:
            assert glob(str(ROOT / pattern), recursive=True), f"{name}: {pattern} matches nothing"
        if name == "loadtests":
            continue
        _, container = by_service[name]
        env = {item["name"]: item.get("value") for item in container.get("env", [])}
        mounts = {mount["mountPath"] for mount in container.get("volumeMounts", [])}
        assert env.get("PYTHONPATH") == "/tmp/src" and "/tmp" in mounts, name
        # skaffold syncs only files it watches, i.e. the artifact's dependencies.
        watched = {
            f
            for pattern in artifact["custom"]["dependencies"]["paths"]
            for f in glob(str(ROOT / pattern), recursive=True)
        }
        for rule in artifact["sync"]["manual"]:
            assert rule["src"].startswith(rule["strip"]) and rule["dest"].startswith("/tmp/src/"), rule
            files = set(glob(str(ROOT / rule["src"]), recursive=True))
            assert files, f"{name}: sync rule {rule['src']} matches nothing"
            assert files <= watched, f"{name}: {rule['src']} syncs files the artifact does not depend on"
        hooks = artifact["sync"]["hooks"]
        seeded = hooks["before"][0]["container"]["command"][3:]
        assert seeded == [rule["dest"].removeprefix("/tmp/src/") for rule in artifact["sync"]["manual"]]
        assert "os.kill(1, signal.SIGTERM)" in hooks["after"][0]["container"]["command"][-1]


@pytest.mark.parametrize("profile", PROFILES)
def test_port_forwards_reach_rendered_service_ports(config: dict[str, Any], renders: Renders, profile: str) -> None:
    services = {
        m["metadata"]["name"]: {p["port"] for p in m["spec"]["ports"]}
        for m in renders[profile]
        if m["kind"] == "Service"
    }
    for forward in effective(config, profile).get("portForward", []):
        assert forward["resourceType"].lower() == "service"
        assert forward["port"] in services.get(forward["resourceName"], set()), (profile, forward)
    forwarded = {(f["resourceName"], f["port"]) for f in effective(config, profile).get("portForward", [])}
    if profile == "dev":
        assert {("shop-gateway", 8080), ("shop-gateway", 9090), ("shop-loadgen-master", 8089)} <= forwarded


def test_canary_profile_turns_checkout_into_a_rollout(renders: Renders) -> None:
    rollouts = [m["metadata"]["name"] for m in renders["canary"] if m["kind"] == "Rollout"]
    assert rollouts == ["shop-checkout"]
    assert not [m for m in renders[None] if m["kind"] == "Rollout"]


def test_load_profile_adds_the_load_generator(renders: Renders) -> None:
    def loadgen(profile: str | None) -> list[str]:
        return [
            m["metadata"]["name"]
            for m in renders[profile]
            if m["kind"] == "Deployment" and "loadgen" in m["metadata"]["name"]
        ]

    assert loadgen("load") and not loadgen(None)
    images = {c["image"] for d, c in _containers(renders["load"]) if "loadgen" in d["metadata"]["name"]}
    assert images == {"registry.test/shop-loadtests:sha-test"}
