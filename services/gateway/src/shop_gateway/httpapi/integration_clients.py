"""Machine clients over HTTP: the admin API of integration clients (role admin), the dev issuer's
client-credentials token endpoint (RFC 6749 §4.4), and the OpenAPI document's word on scopes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from shop_gateway.app import integration_clients as clients
from shop_gateway.httpapi.backoffice.common import Body, router
from shop_gateway.httpapi.deps import ERROR_RESPONSES, Client, ShopDep, SignedIn, gateway_of
from shop_gateway.httpapi.document import PROBLEM_JSON
from shop_gateway.machine_clients import OAuthError, credentials, granted_scopes, issue, oauth_error_body
from shop_gateway.scopes import SCOPES, grant_of

ClientId = Annotated[str, Field(max_length=64)]
admin = router("/v1/admin/integration-clients", "back office: integration clients")
oauth = APIRouter(tags=["dev issuer (GATEWAY_DEV_MODE only)"])
TOKEN_PATH = "/v1/oauth/token"
SECURITY_SCHEME = "machineClient"


class NewClientBody(Body):
    name: str = Field(max_length=200, description="who the client is, e.g. 'ERP (SAP) production'")
    scopes: list[str] = Field(max_length=len(SCOPES), description=f"from: {', '.join(SCOPES)}")
    request_id: str = Field("", max_length=128, description="repeat it to get the same client (without its secret)")


class RotateBody(Body):
    grace_seconds: int = Field(0, ge=0, le=30 * 86_400, description="the old secret's grace period; 0: a day")


class IntegrationClientView(BaseModel):
    client_id: str
    name: str
    scopes: list[str]
    revoked: bool
    created_at: datetime | None
    secret_rotated_at: datetime | None
    previous_secret_expires_at: datetime | None = Field(description="until when the previous secret still works")
    revoked_at: datetime | None
    client_secret: str | None = Field(
        None, description="only in the answer that made it: keep it, it is not shown again"
    )


class IntegrationClientList(BaseModel):
    clients: list[IntegrationClientView]


def _view(found: clients.IntegrationClient) -> IntegrationClientView:
    return IntegrationClientView(
        client_id=found.client_id,
        name=found.name,
        scopes=list(found.scopes),
        revoked=found.revoked,
        created_at=found.created_at,
        secret_rotated_at=found.secret_rotated_at,
        previous_secret_expires_at=found.previous_secret_expires_at,
        revoked_at=found.revoked_at,
        client_secret=found.client_secret or None,
    )


@admin.post("", status_code=201, summary="Create an integration client; its secret is answered once (admin)")
async def create_integration_client(body: NewClientBody, shop: ShopDep, who: SignedIn) -> IntegrationClientView:
    return _view(await clients.create(shop, who, body.name, body.scopes, body.request_id))


@admin.get("", summary="Integration clients, newest first (admin)")
async def list_integration_clients(shop: ShopDep, who: SignedIn) -> IntegrationClientList:
    return IntegrationClientList(clients=[_view(c) for c in await clients.list_all(shop, who)])


@admin.get("/{client_id}", summary="An integration client (admin)")
async def get_integration_client(client_id: ClientId, shop: ShopDep, who: SignedIn) -> IntegrationClientView:
    return _view(await clients.get(shop, who, client_id))


@admin.post("/{client_id}/rotate-secret", summary="A new secret; the old one works for a grace period (admin)")
async def rotate_integration_client_secret(
    client_id: ClientId, body: RotateBody, shop: ShopDep, who: SignedIn
) -> IntegrationClientView:
    return _view(await clients.rotate(shop, who, client_id, body.grace_seconds))


@admin.post("/{client_id}/revoke", summary="Revoke a client: no new tokens, its tokens refused (admin)")
async def revoke_integration_client(
    client_id: ClientId, request: Request, shop: ShopDep, who: SignedIn
) -> IntegrationClientView:
    revoked = await clients.revoke(shop, who, client_id)
    registry = gateway_of(request).clients
    if registry is not None:
        registry.forget(client_id)  # this replica refuses at once; the others within their cache time
    return _view(revoked)


class OAuthToken(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int = Field(description="seconds")
    scope: str = Field(description="the granted scopes, space-separated")


class OAuthProblem(BaseModel):
    error: str = Field(description="invalid_request, invalid_client, invalid_scope or unsupported_grant_type")
    error_description: str


def _oauth_error(error: OAuthError) -> JSONResponse:
    headers = {"Cache-Control": "no-store"}
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="shop"'
    return JSONResponse(oauth_error_body(error), status_code=error.status, headers=headers)


@oauth.post(
    TOKEN_PATH,
    summary="Client-credentials token for an integration client (dev mode only)",
    response_model=OAuthToken,
    responses={**ERROR_RESPONSES, 400: {"model": OAuthProblem}, 401: {"model": OAuthProblem}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["grant_type"],
                        "properties": {
                            "grant_type": {"type": "string", "enum": ["client_credentials"]},
                            "scope": {"type": "string", "description": "space-separated; absent: all of the client's"},
                            "client_id": {"type": "string", "description": "unless HTTP Basic is used"},
                            "client_secret": {"type": "string", "description": "unless HTTP Basic is used"},
                        },
                    }
                }
            },
        }
    },
)
async def issue_client_token(request: Request, client: Client) -> JSONResponse:
    """RFC 6749 §4.4: `grant_type=client_credentials`, the client's id and secret in HTTP Basic or the
    form. Errors are RFC 6749 §5.2 JSON (`error`, `error_description`), not problem+json."""
    gateway = gateway_of(request)
    gateway.limiter.check("", client.ip)  # a wrong secret costs the address like a wrong token
    assert gateway.issuer is not None and gateway.clients is not None  # the route exists in dev mode only
    try:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
            raise OAuthError("invalid_request", "the body must be application/x-www-form-urlencoded")
        try:
            form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True, strict_parsing=False))
        except UnicodeDecodeError:
            raise OAuthError("invalid_request", "the body is not UTF-8") from None
        grant = form.get("grant_type")
        if not grant:
            raise OAuthError("invalid_request", "grant_type is required")
        if grant != "client_credentials":
            raise OAuthError("unsupported_grant_type", "only client_credentials is supported here")
        found = await gateway.clients.authenticate(credentials(request.headers.get("authorization"), form))
        scopes = granted_scopes(form.get("scope"), tuple(found.scopes))
    except OAuthError as error:
        return _oauth_error(error)
    token, expires_in = issue(gateway.issuer, gateway.settings, found.client_id, scopes)
    body = OAuthToken(access_token=token, expires_in=expires_in, scope=" ".join(scopes))
    return JSONResponse(body.model_dump(), headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def document_scopes(app: FastAPI) -> None:
    """The OpenAPI document names the scope of each operation a machine client may call: the
    `machineClient` scheme (OAuth 2.0 client credentials) with the vocabulary, and on those
    operations `security` (a person's bearer token, or a machine client's with the scope) and
    `x-required-scope`."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def with_scopes() -> dict[str, Any]:
        document = build()
        schemes = document.setdefault("components", {}).setdefault("securitySchemes", {})
        if SECURITY_SCHEME in schemes:
            return document
        schemes[SECURITY_SCHEME] = {
            "type": "oauth2",
            "description": "integration clients (ERP, procurement, WMS): a token of the client-credentials grant, "
            "admitted to the operations whose scope it holds; locally from the dev issuer, in production from "
            "the identity provider",
            "flows": {"clientCredentials": {"tokenUrl": TOKEN_PATH, "scopes": dict(SCOPES)}},
        }
        token = document.get("paths", {}).get(TOKEN_PATH, {}).get("post", {}).get("responses", {})
        for code in ("400", "401"):  # RFC 6749 §5.2 errors are plain JSON, not problem+json
            content = token.get(code, {}).get("content", {})
            if PROBLEM_JSON in content:
                content["application/json"] = content.pop(PROBLEM_JSON)
        for path, operations in document.get("paths", {}).items():
            for method, operation in operations.items():
                grant = grant_of(operation.get("operationId", ""), f"{method.upper()} {path}")
                if grant is not None:
                    people = operation.get("security") or [{"HTTPBearer": []}]
                    operation["security"] = [*people, {SECURITY_SCHEME: [grant.scope]}]
                    operation["x-required-scope"] = grant.scope
        return document

    app.openapi = with_scopes  # type: ignore[method-assign]
