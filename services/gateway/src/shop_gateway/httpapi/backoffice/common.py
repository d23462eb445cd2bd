"""What the back-office routes share: their routers' defaults, the Idempotency-Key header, bounded bodies."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query
from pydantic import Field

from shop_gateway.httpapi.deps import ERROR_RESPONSES
from shop_gateway.httpapi.schemas import Body, MoneyBody

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="8-128 characters, one per operation: the same key again does the operation once",
    ),
]
Id = Annotated[str, Field(max_length=128)]
Text = Annotated[str, Field(max_length=2000)]
Quantity = Annotated[int, Field(ge=1, le=1_000_000)]
PageSize = Annotated[int, Query(ge=0, le=100, description="1 to 100; 0 or absent: 20")]
PageToken = Annotated[str, Query(max_length=1024, description="next_page_token of the previous page")]


def router(prefix: str, tag: str) -> APIRouter:
    return APIRouter(prefix=prefix, tags=[tag], responses=ERROR_RESPONSES)


__all__ = ["Body", "Id", "IdempotencyKey", "MoneyBody", "PageSize", "PageToken", "Quantity", "Text", "router"]
