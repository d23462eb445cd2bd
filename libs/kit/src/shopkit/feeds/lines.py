"""Reading a feed's lines: a CSV upload as JSON objects (the gateway), and a line's object and
whole numbers (the services' appliers)."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from typing import Any

from shopkit.errors import Violations

MAX_LINE_CHARS = 4096  # a stock or price line is far shorter: a longer one is reported, not applied


def csv_to_objects(lines: Sequence[str]) -> list[str]:
    """CSV lines (a header row first) as JSON objects keyed by the header, one per line; the header and
    blank lines become "" so that line numbers stay those of the upload. A row with more cells than
    the header keeps them under "" (the service reports it)."""
    if not lines:
        return []
    header = [name.strip() for name in next(csv.reader([lines[0]]))]
    out = [""]
    for text in lines[1:]:
        if not text.strip():
            out.append("")
            continue
        cells = next(csv.reader([text]), [])
        row: dict[str, Any] = {name: cell.strip() for name, cell in zip(header, cells, strict=False) if name}
        if len(cells) > len(header):
            row[""] = cells[len(header) :]
        out.append(json.dumps(row, separators=(",", ":")))
    return out


def read_object(text: str) -> dict[str, Any] | str:
    """A line's JSON object, or why it is none."""
    if len(text) > MAX_LINE_CHARS:
        return f"the line is longer than {MAX_LINE_CHARS} characters"
    try:
        found = json.loads(text)
    except ValueError as error:
        return f"not a JSON object: {error}"
    if not isinstance(found, dict):
        return "not a JSON object"
    if "" in found:
        return "the row has more cells than the header"
    return found


def whole_number(row: dict[str, Any], name: str, violations: Violations, *, required: bool = True) -> int | None:
    """An integer field given as a JSON number or (CSV) as digits."""
    value = row.get(name)
    if value is None or value == "":
        if required:
            violations.add(name, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        violations.add(name, "must be a whole number")
        return None
    try:
        return int(value)
    except ValueError:
        violations.add(name, "must be a whole number")
        return None
