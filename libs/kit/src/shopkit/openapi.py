"""The OpenAPI document of an HTTP process: FastAPI's own, with stable operation ids and what the
process adds to each operation (problem+json errors, headers, links) applied once, when it is first
asked for. Requires FastAPI (the kit's `http` extra)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute


def operation_id(route: APIRoute) -> str:
    """The route function's name: stable across paths and methods, unique in the API (FastAPI's
    `generate_unique_id_function`)."""
    return route.name


def describe_operations(app: FastAPI, describe: Callable[[dict[str, Any]], None]) -> None:
    """Serve FastAPI's document with `describe` applied to every operation (built once)."""

    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for path in document.get("paths", {}).values():
            for operation in path.values():
                describe(operation)
        app.openapi_schema = document
        return document

    app.openapi = build  # type: ignore[method-assign]
