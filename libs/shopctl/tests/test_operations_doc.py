"""docs/operations.md stays in step with the chart and k8s/: its values reference documents every
key the values schema accepts, nothing else, each with the default values.yaml sets; and every
alert of the Prometheus rules has a runbook.

On failure the message lists the rows the reference should have (key | default); descriptions are
the doc's own. Run this file directly to print every expected row."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "operations.md"
CHART = ROOT / "charts" / "shop"
PER_SERVICE = "Per service"
# A row of a reference table: | `key` | default | description |
ROW = re.compile(r"^\| `(?P<key>[^`]+)` \| (?P<default>.*?) \| (?P<description>.+) \|$")


def resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """The node with $ref and allOf folded in (properties merged)."""
    if "$ref" in node:
        target = resolve(defs[node["$ref"].rsplit("/", 1)[1]], defs)
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    if "allOf" in node:
        merged: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
        for part in node["allOf"]:
            part = resolve(part, defs)
            merged["properties"] = {**merged.get("properties", {}), **part.get("properties", {})}
            merged.update({k: v for k, v in part.items() if k not in ("properties", "required")})
        node = merged
    return node


def leaves(node: dict[str, Any], defs: dict[str, Any], path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    node = resolve(node, defs)
    properties = node.get("properties")
    if not properties:
        yield path
        return
    for key, child in properties.items():
        yield from leaves(child, defs, (*path, key))


def services(values: dict[str, Any]) -> set[str]:
    return set(values["services"])


def normalized(path: tuple[str, ...], names: set[str]) -> tuple[str, str]:
    """(section, key): per-service keys without their `defaults.`/`services.<name>.` prefix."""
    if path[0] == "defaults":
        return PER_SERVICE, ".".join(path[1:])
    if path[0] == "services" and len(path) > 2 and path[1] in names:
        return PER_SERVICE, ".".join(path[2:])
    if path[:2] == ("postgres", "external") and len(path) > 3 and path[2] in names:
        return "", ".".join(("postgres", "external", "<service>", *path[3:]))
    return "", ".".join(path)


def lookup(values: Any, key: str) -> Any:
    for part in key.split("."):
        if not isinstance(values, dict) or part not in values:
            return KeyError
        values = values[part]
    return values


def formatted(value: Any) -> str:
    """How the reference writes a default."""
    if value is KeyError:
        return "—"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value is None:
        return "`null`"
    if isinstance(value, (int, float)):
        return f"`{value}`"
    if isinstance(value, str):
        return f"`{value}`" if value else '`""`'
    text = json.dumps(value, separators=(", ", ": "))
    return f"`{text}`" if len(text) <= 60 else "see `values.yaml`"


def expected_rows() -> dict[tuple[str, str], str]:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    defs = schema.get("$defs", {})
    names = services(values)
    rows: dict[tuple[str, str], str] = {}
    for path in leaves(schema, defs):
        section, key = normalized(path, names)
        source = values["defaults"] if section == PER_SERVICE else values
        rows[(section, key)] = formatted(lookup(source, key))
    return rows


def documented_rows() -> dict[tuple[str, str], str]:
    """Rows of the tables under `## Values reference`; a `### Per service…` heading switches to
    per-service keys."""
    text = DOC.read_text()
    start = text.index("\n## Values reference")
    end = text.index("\n## ", start + 1)
    rows: dict[tuple[str, str], str] = {}
    section = ""
    for line in text[start:end].splitlines():
        if line.startswith("### "):
            section = PER_SERVICE if line.startswith(f"### {PER_SERVICE}") else ""
        match = ROW.match(line)
        if match:
            key = (section, match["key"])
            assert key not in rows, f"documented twice: {key}"
            rows[key] = match["default"]
    return rows


def describe(rows: dict[tuple[str, str], str]) -> str:
    lines = (f"{section or 'shared'}: | `{key}` | {default} |" for (section, key), default in sorted(rows.items()))
    return "\n".join(lines)


def test_every_schema_key_is_documented_with_its_default() -> None:
    expected, documented = expected_rows(), documented_rows()

    missing = {k: v for k, v in expected.items() if k not in documented}
    stale = {k: v for k, v in documented.items() if k not in expected}
    wrong = {k: v for k, v in expected.items() if k in documented and documented[k] != v}
    assert not missing, f"keys of values.schema.json missing from the values reference:\n{describe(missing)}"
    assert not stale, f"the values reference documents keys the schema does not have:\n{describe(stale)}"
    assert not wrong, f"defaults that differ from values.yaml (expected):\n{describe(wrong)}"


def test_reference_is_not_empty() -> None:
    # The parser found the tables: a reference reformatted out of its reach would pass vacuously.
    assert len(documented_rows()) > 50


def test_every_alert_has_a_runbook() -> None:
    text = DOC.read_text()
    alerts = []
    for path in sorted((ROOT / "k8s").rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if isinstance(document, dict) and document.get("kind") == "PrometheusRule":
                for group in document["spec"]["groups"]:
                    alerts += [rule for rule in group["rules"] if "alert" in rule]
    assert alerts, "no alerting rules found under k8s/"
    for rule in alerts:
        assert f"\n### {rule['alert']}\n" in text, f"no runbook section for {rule['alert']}"
        assert "docs/operations.md" in rule.get("annotations", {}).get("runbook", ""), rule["alert"]


if __name__ == "__main__":
    print(describe(expected_rows()))
