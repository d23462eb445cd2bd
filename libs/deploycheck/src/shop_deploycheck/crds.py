"""Schema checks of custom resources (Argo Rollouts, KEDA, CloudNativePG, Prometheus Operator,
Gateway API, cert-manager) against their CRDs' OpenAPI v3 schemas, without a cluster.

The schemas in `crds/` are each CRD's `openAPIV3Schema` as JSON schema with unknown fields
rejected (`additionalProperties: false` on every object whose properties the CRD lists), which is
what the API server's strict field validation (kubectl's default) does. Where a CRD embeds a core
Kubernetes type (affinity, tolerations, resources) the schema refers to that type's strict
definition from kubernetes-validate instead of repeating it. A subtree that is not vendored is
marked `{"x-not-vendored": "<what>"}`: a manifest that uses it fails with a message saying so,
never passes unchecked. Sources and licences: crds/README.md.

`metadata` is checked as the API server does for every kind: a strict ObjectMeta with a name.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
import jsonschema.validators
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

KUBERNETES_VERSION = "1.33.0"
CORE_DEFINITIONS = "https://kubernetes.io/api/_definitions.json"

SCHEMA_FILES: dict[tuple[str, str], str] = {
    ("argoproj.io/v1alpha1", "Rollout"): "rollout_v1alpha1.json",
    ("argoproj.io/v1alpha1", "AnalysisTemplate"): "analysistemplate_v1alpha1.json",
    ("keda.sh/v1alpha1", "ScaledObject"): "scaledobject_v1alpha1.json",
    ("postgresql.cnpg.io/v1", "Cluster"): "cluster_v1.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor_v1.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule_v1.json",
    ("gateway.networking.k8s.io/v1", "GRPCRoute"): "grpcroute_v1.json",
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): "httproute_v1.json",
    ("cert-manager.io/v1", "Certificate"): "certificate_v1.json",
    ("cert-manager.io/v1", "Issuer"): "issuer_v1.json",
}
KINDS: frozenset[tuple[str, str]] = frozenset(SCHEMA_FILES)
"""(apiVersion, kind) of every custom resource `validate` knows."""

# Every manifest needs these whatever its kind; the metadata rules are the API server's own.
_ENVELOPE: dict[str, Any] = {
    "required": ["apiVersion", "kind", "metadata"],
    "properties": {
        "metadata": {
            "$ref": f"{CORE_DEFINITIONS}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
            "required": ["name"],
        }
    },
}


class UnknownKindError(LookupError):
    """`validate` got a kind it has no schema for."""


def validate(manifest: Mapping[str, Any]) -> list[str]:
    """Every schema violation of `manifest` as 'path: message' (empty when valid).

    Raises UnknownKindError for an (apiVersion, kind) outside KINDS."""
    key = (str(manifest.get("apiVersion")), str(manifest.get("kind")))
    if key not in SCHEMA_FILES:
        known = ", ".join(f"{kind} ({api})" for api, kind in sorted(KINDS))
        raise UnknownKindError(f"no schema for {key[1]} ({key[0]}); known: {known}")
    validator = _validator(key)
    errors = sorted(validator.iter_errors(manifest), key=lambda error: [str(p) for p in error.absolute_path])
    return [f"{_path(error)}: {_message(error)}" for error in errors]


def _path(error: ValidationError) -> str:
    path = ""
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(root)"


def _message(error: ValidationError) -> str:
    # anyOf/oneOf failures say little by themselves; the closest branch's reason is the useful part.
    if error.context:
        best = jsonschema.exceptions.best_match(error.context)
        if best is not None:
            return f"{error.message} ({best.message})"
    return error.message


def _not_vendored(
    validator: jsonschema.protocols.Validator, what: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    yield ValidationError(
        f"cannot check this field: the schema of {what} is not vendored in shop_deploycheck/crds "
        "(add it from the source named in crds/README.md)"
    )


_Validator = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
    jsonschema.Draft202012Validator, {"x-not-vendored": _not_vendored}
)


@cache
def _registry() -> Registry[Any]:
    core = (
        resources.files("kubernetes_validate")
        / "kubernetes-json-schema"
        / f"v{KUBERNETES_VERSION}-local-strict"
        / "_definitions.json"
    )
    definitions = json.loads(core.read_text())
    registry: Registry[Any] = Registry().with_resource(CORE_DEFINITIONS, Resource.from_contents(definitions))
    return registry


@cache
def schema(api_version: str, kind: str) -> dict[str, Any]:
    """The vendored schema of one kind (a JSON schema document)."""
    text = (resources.files(__package__) / "crds" / SCHEMA_FILES[(api_version, kind)]).read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def _validator(key: tuple[str, str]) -> jsonschema.protocols.Validator:
    document = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema(*key)}
    document = {**document, "allOf": [*document.get("allOf", []), _ENVELOPE]}
    _Validator.check_schema(document)
    validator: jsonschema.protocols.Validator = _Validator(document, registry=_registry())
    return validator
