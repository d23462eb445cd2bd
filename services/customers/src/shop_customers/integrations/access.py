"""Who may call which method of IntegrationClientsService (see shopkit.access): the gateway (for an
admin, or as itself to authenticate a client) and the operators' tooling."""

from __future__ import annotations

from shopkit.access import GATEWAY, TOOLING, Callers, allow

_EDGE = allow(GATEWAY, TOOLING)

CALLERS: Callers = {
    "CreateIntegrationClient": _EDGE,
    "RotateIntegrationClientSecret": _EDGE,
    "RevokeIntegrationClient": _EDGE,
    "GetIntegrationClient": _EDGE,
    "ListIntegrationClients": _EDGE,
    "AuthenticateIntegrationClient": _EDGE,
}
