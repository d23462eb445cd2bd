"""Render charts/shop with Helm's own engine (helm-python-sdk), no cluster and no helm binary.

`render()` returns every manifest the chart produces for a release — hooks and `helm test` pods
included — as plain dicts, so the checks can validate exactly what an install would send.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import helm_python
import yaml

CHART: Path = Path(__file__).resolve().parents[4] / "charts" / "shop"
CI_VALUES: list[Path] = sorted(CHART.glob("ci/*-values.yaml"))


def merge_values(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge two values documents the way `helm -f a.yaml -f b.yaml` does: maps merge key by key,
    anything else (lists included) is replaced by the later file."""
    merged = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = merge_values(current, value)
        else:
            merged[key] = value
    return merged


def load_values(values_files: Sequence[Path]) -> dict[str, Any]:
    """The user-supplied values of `helm install -f FILE...` (chart defaults not included)."""
    values: dict[str, Any] = {}
    for path in values_files:
        document = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(document, dict):
            raise ValueError(f"{path}: a values file must hold a mapping")
        values = merge_values(values, document)
    return values


def render_templates(
    values: Mapping[str, Any] | None = None,
    *,
    release: str = "shop",
    namespace: str = "shop",
    chart: Path | None = None,
) -> dict[str, str]:
    """Template path -> rendered text, after validating the values against values.schema.json
    (as `helm install` does). Raises helm_python.HelmError on invalid values or a template error."""
    with helm_python.Chart.load(chart or CHART) as loaded:
        user_values = dict(values or {})
        loaded.validate_schema(loaded.merge_values(user_values))
        return loaded.render(user_values, name=release, namespace=namespace, is_install=True)


def parse_manifests(templates: Mapping[str, str]) -> list[dict[str, Any]]:
    """Every non-empty YAML document of the rendered templates, in template order."""
    manifests: list[dict[str, Any]] = []
    for name in sorted(templates):
        if not name.endswith((".yaml", ".yml")):
            continue  # NOTES.txt and the like
        try:
            # libyaml's loader: the same documents as yaml.safe_load_all, about 7 times faster (a
            # render is ~140 manifests, and the chart checks render a few hundred times).
            documents = list(yaml.load_all(templates[name], Loader=yaml.CSafeLoader))
        except yaml.YAMLError as error:
            raise ValueError(f"{name} rendered invalid YAML: {error}\n{templates[name]}") from error
        for document in documents:
            if document:
                if not isinstance(document, dict):
                    raise ValueError(f"{name}: rendered a document that is not a mapping")
                manifests.append(document)
    return manifests


def render(
    values_files: Sequence[Path] = (),
    *,
    release: str = "shop",
    namespace: str = "shop",
    values: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Every manifest `helm install -f values_files... --set values` would create, hooks and tests
    included. `values` (optional) is merged over the files, like `--set`."""
    merged = merge_values(load_values(values_files), values or {})
    return parse_manifests(render_templates(merged, release=release, namespace=namespace))


def render_yaml(
    values_files: Sequence[Path] = (),
    *,
    release: str = "shop",
    namespace: str = "shop",
    values: Mapping[str, Any] | None = None,
) -> str:
    """The same manifests as one multi-document YAML stream (input for checkov and friends)."""
    manifests = render(values_files, release=release, namespace=namespace, values=values)
    text: str = yaml.dump_all(manifests, Dumper=yaml.CSafeDumper, sort_keys=False)
    return text
