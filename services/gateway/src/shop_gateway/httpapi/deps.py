"""What the route modules share: the dependencies that admit the caller (authentication and the
rate limit come first, before the body is read, so that 401 and 429 come before 400), and the error
responses every /v1 route documents."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shop_gateway.app import models
from shop_gateway.app.access import require_token
from shop_gateway.app.shop import Shop
from shop_gateway.gateway import Gateway
from shop_gateway.httpapi.schemas import Problem
from shop_gateway.principal import CART_TOKEN_HEADER, ClientInfo, Principal
from shop_gateway.scopes import admit

# Documented on every /v1 route; the bodies are application/problem+json.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": Problem, "description": "client error (problem+json)"},
    "5XX": {"model": Problem, "description": "server or backend error (problem+json)"},
}

_bearer = HTTPBearer(auto_error=False, description="JWT access token (dev mode: POST /v1/auth/token)")


def gateway_of(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


def _shop(request: Request) -> Shop:
    return gateway_of(request).shop


def _client(request: Request) -> ClientInfo:
    gateway = gateway_of(request)
    header = gateway.settings.ip_country_header
    return gateway.client_info(
        request.client.host if request.client else "",
        request.headers.get("x-forwarded-for"),
        request.headers.get(header) if header else None,
        request.headers.get("x-device-id"),
    )


async def _caller(
    request: Request,
    client: Annotated[ClientInfo, Depends(_client)],
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    who = await gateway_of(request).admit(request.headers.get("authorization"), client)
    return _scoped(who, request)


def _scoped(who: Principal, request: Request) -> Principal:
    """A machine client is admitted per operation: by the route's operationId (its function's name,
    shopkit.openapi.operation_id) or its method and path template."""
    route = request.scope.get("route")
    name, path = str(getattr(route, "name", "")), str(getattr(route, "path", ""))
    return admit(who, name, f"{request.method} {path}")


async def _signed_in(who: Annotated[Principal, Depends(_caller)]) -> Principal:
    """The caller, who must have a token (checked before the body, so that 401 comes before 400)."""
    return require_token(who)


async def _cart_holder(
    request: Request,
    client: Annotated[ClientInfo, Depends(_client)],
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cart_token: Annotated[
        str | None,
        Header(alias=CART_TOKEN_HEADER, description="a guest's cart: the cart_id that POST /v1/guest-carts answered"),
    ] = None,
) -> Principal:
    """The caller of the cart and checkout routes: signed in, or a guest naming its cart (a token
    wins); 401 before the body otherwise."""
    who = await gateway_of(request).admit(request.headers.get("authorization"), client, cart_token)
    return who if who.is_guest else require_token(_scoped(who, request))


ShopDep = Annotated[Shop, Depends(_shop)]
Caller = Annotated[Principal, Depends(_caller)]
SignedIn = Annotated[Principal, Depends(_signed_in)]
CartHolder = Annotated[Principal, Depends(_cart_holder)]
Client = Annotated[ClientInfo, Depends(_client)]


def cart_response(response: Response, result: models.Cart) -> models.Cart:
    if result.cart_id:
        response.headers["ETag"] = f'"{result.version}"'
    return result
