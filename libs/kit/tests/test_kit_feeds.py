"""Reading ERP feed lines (shopkit.feeds): CSV rows become JSON objects by their header with the upload's
line numbers kept; a line is one JSON object or the reason it is not; whole numbers from JSON or CSV."""

from __future__ import annotations

import json

from shopkit.errors import Violations
from shopkit.feeds import csv_to_objects, read_object, whole_number


def test_csv_rows_become_objects_keyed_by_the_header() -> None:
    lines = ["sku, location_id ,on_hand", "A,wh-1,5", "", '"B,1",wh-2,"7"', "C,wh-3", "D,wh-4,1,extra"]
    objects = csv_to_objects(lines)
    assert objects[0] == "" and objects[2] == ""  # header and blank lines keep their numbers
    assert json.loads(objects[1]) == {"sku": "A", "location_id": "wh-1", "on_hand": "5"}
    assert json.loads(objects[3]) == {"sku": "B,1", "location_id": "wh-2", "on_hand": "7"}
    assert json.loads(objects[4]) == {"sku": "C", "location_id": "wh-3"}  # a short row: on_hand is missing
    assert read_object(objects[5]) == "the row has more cells than the header"
    assert csv_to_objects([]) == []


def test_a_line_is_one_json_object() -> None:
    assert read_object('{"sku": "A"}') == {"sku": "A"}
    assert isinstance(read_object("[1]"), str)
    assert str(read_object("{nope")).startswith("not a JSON object")
    assert "longer than" in str(read_object('{"a": "' + "x" * 5000 + '"}'))


def test_whole_numbers_come_as_json_numbers_or_digits() -> None:
    v = Violations()
    row = {"a": 3, "b": "-4", "c": "x", "d": True, "e": 1.5, "f": ""}
    assert [whole_number(row, k, v) for k in "abcdef"] == [3, -4, None, None, None, None]
    assert whole_number(row, "g", v, required=False) is None
    assert [(x.field, x.description) for x in v.items] == [
        ("c", "must be a whole number"),
        ("d", "must be a whole number"),
        ("e", "must be a whole number"),
        ("f", "is required"),
    ]
