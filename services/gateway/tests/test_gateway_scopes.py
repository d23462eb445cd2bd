"""Machine tokens as an identity provider may shape them: the client id and scopes are read from the
configured claims (RFC 9068 `client_id` and space-separated `scope`, or a `scp` list), a person's token
stays a person's, and a malformed claim is an invalid token."""

from __future__ import annotations

import pytest

from shop_gateway.scopes import MACHINE_ROLE, admit, machine_principal
from shopkit.errors import PermissionDenied, Unauthenticated


def test_rfc_9068_claims_make_a_machine_client() -> None:
    found = machine_principal(
        {"sub": "erp", "client_id": "erp", "scope": "catalog:read orders:read"}, "client_id", "scope"
    )
    assert found is not None and found.client_id == "erp" and found.role == MACHINE_ROLE
    assert found.scopes == ("catalog:read", "orders:read")


def test_a_scp_list_and_a_configured_client_claim_are_read_too() -> None:
    found = machine_principal({"sub": "x", "azp": "wms-1", "scp": ["inventory:write"]}, "azp", "scope")
    assert found is not None and found.client_id == "wms-1" and found.scopes == ("inventory:write",)


def test_a_persons_token_is_not_a_machine_clients() -> None:
    assert machine_principal({"sub": "ada", "role": "admin", "client_id": "spa"}, "client_id", "scope") is None
    assert machine_principal({"sub": "ada", "role": "customer"}, "client_id", "scope") is None


@pytest.mark.parametrize(
    "claims",
    [{"client_id": 7, "scope": "catalog:read"}, {"client_id": "a b", "scope": ""}, {"client_id": "x", "scope": [1]}],
)
def test_malformed_claims_are_an_invalid_token(claims: dict[str, object]) -> None:
    with pytest.raises(Unauthenticated):
        machine_principal({"sub": "x", **claims}, "client_id", "scope")


def test_a_machine_client_acts_in_the_routes_role_only_with_its_scope() -> None:
    client = machine_principal({"sub": "erp", "client_id": "erp", "scope": "pricing:write"}, "client_id", "scope")
    assert client is not None
    assert admit(client, "set_prices").role == "admin"
    with pytest.raises(PermissionDenied) as refused:
        admit(client, "refund_order")
    assert refused.value.reason == "INSUFFICIENT_SCOPE" and refused.value.metadata == {"required_scope": "orders:write"}
    with pytest.raises(PermissionDenied):
        admit(client, "place_order")  # no scope admits a machine client to a person's operation
    reader = machine_principal({"sub": "erp", "client_id": "erp", "scope": "catalog:read"}, "client_id", "scope")
    assert reader is not None and not admit(reader, "list_products").authenticated  # a public read, anonymously
