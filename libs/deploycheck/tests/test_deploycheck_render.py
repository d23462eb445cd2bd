"""Values merging as Helm does it, and the parsing of rendered templates."""

from __future__ import annotations

from pathlib import Path

import pytest

from shop_deploycheck.render import CHART, CI_VALUES, load_values, merge_values, parse_manifests


def test_maps_merge_and_everything_else_is_replaced() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": "x"}
    merged = merge_values(base, {"a": {"c": [3], "e": False}, "d": None})
    assert merged == {"a": {"b": 1, "c": [3], "e": False}, "d": None}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": "x"}, "inputs stay untouched"


def test_later_files_win(tmp_path: Path) -> None:
    first, second = tmp_path / "1.yaml", tmp_path / "2.yaml"
    first.write_text("services:\n  catalog:\n    replicas: 2\n    logLevel: DEBUG\n")
    second.write_text("services:\n  catalog:\n    replicas: 3\n")
    assert load_values([first, second]) == {"services": {"catalog": {"replicas": 3, "logLevel": "DEBUG"}}}


def test_a_values_file_must_hold_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n")
    with pytest.raises(ValueError, match="mapping"):
        load_values([path])


def test_parse_skips_notes_and_empty_documents() -> None:
    templates = {
        "shop/templates/NOTES.txt": "hello",
        "shop/templates/a.yaml": "---\n# only a comment\n---\nkind: A\nmetadata: {name: a}\n",
        "shop/templates/b.yaml": "",
    }
    assert parse_manifests(templates) == [{"kind": "A", "metadata": {"name": "a"}}]


def test_parse_names_the_template_of_invalid_yaml() -> None:
    with pytest.raises(ValueError, match=r"shop/templates/bad\.yaml"):
        parse_manifests({"shop/templates/bad.yaml": "a: b: c"})


def test_chart_paths() -> None:
    assert (CHART / "Chart.yaml").is_file()
    assert CI_VALUES and all(path.parent == CHART / "ci" for path in CI_VALUES)
