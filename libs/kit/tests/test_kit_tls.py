"""Mutual TLS and the callers' allow-lists over real connections: who may connect, which identity may
call which method, the end user as a token the gateway signed (bare headers refused), and the
plain-text health port for probes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from kit_helpers import SERVICE, register, stub

from shop.common.v1 import common_pb2
from shopkit import auth, pki
from shopkit.access import allow
from shopkit.clients import make_channel
from shopkit.errors import parse_rpc_error
from shopkit.server import GrpcService
from shopkit.settings import ServiceSettings
from shopkit.testing import free_port
from shopkit.tls import Tls, TlsSettingsError
from shopkit.usertoken import Signer, TokensFor, User, Verifier

NAMES = ("server", "checkout", "cart", "gateway", "tooling")


async def whoami(request: common_pb2.Money, context: grpc.aio.ServicerContext[Any, Any]) -> common_pb2.Money:
    who = auth.caller(context)
    return common_pb2.Money(amount=request.amount, currency=f"{who.role}|{who.customer_id}|{who.identity}")


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    pki.issue(directory, NAMES)
    return directory


def files(directory: Path, name: str) -> Tls:
    return Tls.load(directory / f"{name}.pem", directory / f"{name}-key.pem", directory / "ca.pem")


def secure_settings(directory: Path, **overrides: Any) -> ServiceSettings:
    fields: dict[str, Any] = {
        "grpc_host": "127.0.0.1",
        "grpc_port": 0,
        "metrics_port": 0,
        "shutdown_grace_seconds": 1,
        "tls_cert_file": str(directory / "server.pem"),
        "tls_key_file": str(directory / "server-key.pem"),
        "tls_ca_file": str(directory / "ca.pem"),
        "user_token_issuer_cert_file": str(directory / "gateway.pem"),
    }
    return ServiceSettings(**{**fields, **overrides})


@pytest.fixture
async def server(pki_dir: Path) -> AsyncIterator[GrpcService]:
    service = GrpcService(secure_settings(pki_dir, health_port=free_port()))
    callers = {"Whoami": allow("checkout", "gateway", "tooling")}  # "Unlisted" is in no list
    service.add_servicer(register({"Whoami": whoami, "Unlisted": whoami}), None, SERVICE, callers)
    await service.start()
    yield service
    await service.stop()


def signing(
    directory: Path, name: str = "gateway", audience: str = "server", key_of: str = "", **kwargs: Any
) -> TokensFor:
    """Tokens carrying `name`'s certificate, signed with its key (or with `key_of`'s)."""
    key = (directory / f"{key_of or name}-key.pem").read_bytes()
    return TokensFor(Signer(key, (directory / f"{name}.pem").read_bytes(), **kwargs), audience)


async def call(
    server: GrpcService,
    tls: Tls | None,
    method: str = "Whoami",
    user_tokens: TokensFor | None = None,
    **kwargs: Any,
) -> common_pb2.Money:
    async with make_channel(f"127.0.0.1:{server.port}", [], tls=tls, user_tokens=user_tokens) as channel:
        return await stub(channel, method)(common_pb2.Money(amount=7), timeout=5, **kwargs)


async def refused(server: GrpcService, tls: Tls | None, method: str = "Whoami", **kwargs: Any) -> Any:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call(server, tls, method, **kwargs)
    assert error.value.code() is not grpc.StatusCode.UNKNOWN
    return parse_rpc_error(error.value)


async def test_an_allowed_identity_calls_as_itself_in_the_role_service(server: GrpcService, pki_dir: Path) -> None:
    answer = await call(server, files(pki_dir, "checkout"))
    assert answer.currency == "service||checkout"


async def test_an_identity_the_list_does_not_name_is_refused(server: GrpcService, pki_dir: Path) -> None:
    info = await refused(server, files(pki_dir, "cart"))
    assert (info.code, info.reason, info.metadata["caller"]) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "CALLER_NOT_ALLOWED",
        "cart",
    )


async def test_a_method_missing_from_the_list_is_refused_to_everyone(server: GrpcService, pki_dir: Path) -> None:
    for name in ("checkout", "gateway", "tooling"):
        info = await refused(server, files(pki_dir, name), "Unlisted")
        assert (info.code, info.reason) == (grpc.StatusCode.PERMISSION_DENIED, "CALLER_NOT_ALLOWED")


async def test_a_certificate_of_another_authority_cannot_connect(server: GrpcService, tmp_path: Path) -> None:
    pki.issue(tmp_path, ["checkout"], authority="somebody else's CA")
    info = await refused(server, files(tmp_path, "checkout"))
    assert info.code is grpc.StatusCode.UNAVAILABLE


async def test_no_certificate_and_plain_text_cannot_connect(server: GrpcService, pki_dir: Path) -> None:
    server_only = grpc.ssl_channel_credentials((pki_dir / "ca.pem").read_bytes())
    async with grpc.aio.secure_channel(f"127.0.0.1:{server.port}", server_only) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as anonymous:
            await stub(channel, "Whoami")(common_pb2.Money(), timeout=5)
    assert anonymous.value.code() is grpc.StatusCode.UNAVAILABLE
    assert (await refused(server, None)).code is grpc.StatusCode.UNAVAILABLE


AS_ADMIN = (("x-shop-role", "admin"), ("x-shop-customer-id", "c-1"))


async def test_the_user_travels_as_a_token_the_gateway_signed_for_this_service(
    server: GrpcService, pki_dir: Path
) -> None:
    gateway = await call(server, files(pki_dir, "gateway"), user_tokens=signing(pki_dir), metadata=AS_ADMIN)
    anonymous = await call(server, files(pki_dir, "gateway"), user_tokens=signing(pki_dir))
    operator = await call(server, files(pki_dir, "tooling"), user_tokens=signing(pki_dir), metadata=AS_ADMIN)
    plain_service = await call(server, files(pki_dir, "checkout"), metadata=(("x-shop-role", "service"),))

    assert gateway.currency == "admin|c-1|gateway"
    assert anonymous.currency == "||gateway"
    assert operator.currency == "admin|c-1|tooling"  # a local stack's tooling holds the gateway's key
    assert plain_service.currency == "service||checkout"


async def test_bare_user_headers_are_refused_from_every_caller(server: GrpcService, pki_dir: Path) -> None:
    for name in ("gateway", "tooling", "checkout"):
        info = await refused(server, files(pki_dir, name), metadata=AS_ADMIN)
        assert (info.code, info.reason, info.metadata["header"]) == (
            grpc.StatusCode.PERMISSION_DENIED,
            "USER_TOKEN_REQUIRED",
            "x-shop-role",
        )


async def test_a_token_for_another_service_of_another_signer_or_expired_is_refused(
    server: GrpcService, pki_dir: Path, tmp_path: Path
) -> None:
    gateway = files(pki_dir, "gateway")
    pki.issue(tmp_path, ["gateway"], authority="somebody else's CA")
    forged = [
        signing(pki_dir, audience="cart"),  # meant for the cart
        signing(pki_dir, "checkout"),  # a service's own certificate and key are not the gateway's
        signing(pki_dir, key_of="checkout"),  # the gateway's certificate, another key's signature
        signing(tmp_path),  # a "gateway" of another CA
        signing(pki_dir, clock=lambda: time.time() - 600),  # expired ten minutes ago
    ]
    for user_tokens in forged:
        info = await refused(server, gateway, user_tokens=user_tokens, metadata=AS_ADMIN)
        assert (info.code, info.reason) == (grpc.StatusCode.UNAUTHENTICATED, "USER_TOKEN_INVALID")


async def test_the_health_port_answers_in_plain_text_and_serves_nothing_else(server: GrpcService) -> None:
    address = f"127.0.0.1:{server.settings.health_port}"
    async with grpc.aio.insecure_channel(address) as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        with pytest.raises(grpc.aio.AioRpcError) as other:
            await stub(channel, "Whoami")(common_pb2.Money(), timeout=5)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert other.value.code() is grpc.StatusCode.UNIMPLEMENTED


async def test_plain_text_is_refused_beyond_loopback_except_at_the_edge() -> None:
    everywhere = ServiceSettings(grpc_host="0.0.0.0", grpc_port=0, metrics_port=0)  # type: ignore[call-arg]
    with pytest.raises(TlsSettingsError, match="TLS_CERT_FILE"):
        await GrpcService(everywhere).start()
    edge = GrpcService(everywhere, edge=True)
    await edge.start()
    await edge.stop()


def test_tls_files_are_all_three_or_none(pki_dir: Path) -> None:
    with pytest.raises(TlsSettingsError, match="all of"):
        GrpcService(ServiceSettings(tls_cert_file=str(pki_dir / "server.pem")))  # type: ignore[call-arg]
    with pytest.raises(TlsSettingsError, match="cannot read"):
        GrpcService(secure_settings(pki_dir, tls_ca_file=str(pki_dir / "missing.pem")))


def test_issuing_again_keeps_the_authority_and_valid_certificates(tmp_path: Path) -> None:
    first = pki.issue(tmp_path, ["a"])
    ca, cert = first["a"].ca_file.read_bytes(), first["a"].cert_file.read_bytes()
    second = pki.issue(tmp_path, ["a", "b"])
    assert (second["a"].ca_file.read_bytes(), second["a"].cert_file.read_bytes()) == (ca, cert)
    assert set(second) == {"a", "b"}
    assert oct(tmp_path.joinpath("b-key.pem").stat().st_mode & 0o777) == "0o600"


def test_token_caches_hold_the_users_of_the_last_minute_not_every_user_since_the_start(pki_dir: Path) -> None:
    now = [time.time()]
    key, certificate = (pki_dir / "gateway-key.pem").read_bytes(), (pki_dir / "gateway.pem").read_bytes()
    signer = Signer(key, certificate, clock=lambda: now[0])
    verifier = Verifier((pki_dir / "ca.pem").read_bytes(), "server", clock=lambda: now[0])

    def visit(customer: str) -> None:
        user = User("customer", customer)
        assert verifier.verify(signer.token(user, "server")) == user
        now[0] += 0.1

    for number in range(300):  # 30 s of new buyers
        visit(f"buyer-{number}")
    assert (len(signer._cache), len(verifier._cache)) == (300, 300)
    now[0] += 120  # they have all gone
    visit("newcomer")
    assert (len(signer._cache), len(verifier._cache)) == (1, 1)


async def test_a_client_stream_carries_the_user_token_too(pki_dir: Path) -> None:
    """A client-streaming call (catalog's ImportProducts from the gateway) reaches the service with the
    user the gateway signed for, as a unary call does."""

    async def whoami_streamed(
        requests: AsyncIterator[common_pb2.Money], context: grpc.aio.ServicerContext[Any, Any]
    ) -> common_pb2.Money:
        total = sum([request.amount async for request in requests])
        return await whoami(common_pb2.Money(amount=total), context)

    handler = grpc.stream_unary_rpc_method_handler(
        whoami_streamed,
        request_deserializer=common_pb2.Money.FromString,
        response_serializer=common_pb2.Money.SerializeToString,
    )

    def add(_servicer: Any, grpc_server: grpc.aio.Server) -> None:
        grpc_server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {"Upload": handler}),))

    service = GrpcService(secure_settings(pki_dir, health_port=free_port()))
    service.add_servicer(add, None, SERVICE, {"Upload": allow("gateway")})
    await service.start()
    try:
        target = f"127.0.0.1:{service.port}"
        async with make_channel(target, [], tls=files(pki_dir, "gateway"), user_tokens=signing(pki_dir)) as channel:
            upload = channel.stream_unary(
                f"/{SERVICE}/Upload",
                request_serializer=common_pb2.Money.SerializeToString,
                response_deserializer=common_pb2.Money.FromString,
            )
            answer = await upload(iter([common_pb2.Money(amount=2), common_pb2.Money(amount=3)]), metadata=AS_ADMIN)
        assert (answer.amount, answer.currency) == (5, "admin|c-1|gateway")
    finally:
        await service.stop()
