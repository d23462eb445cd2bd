"""Outside development the webhook sender dials only public addresses, and only the address it
checked: the name is resolved once, where the connection is made, so a name that answers a public
address to a check and a private one to the connection (DNS rebinding) reaches nothing inside."""

from __future__ import annotations

import socket
import typing

import httpcore
import httpx
import pytest

from shop_notifications.webhook_domain import TargetRefused, check_url
from shop_notifications.webhook_transport import PublicOnlyBackend, webhook_client


class Answers:
    """A name server whose answers change from one lookup to the next, as a rebinding one's do."""

    def __init__(self, *answers: list[str]):
        self.answers = list(answers)
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        return self.answers.pop(0)


class Dials(httpcore.AsyncNetworkBackend):
    """Records the addresses dialled; the public internet is out of reach here, so every dial fails."""

    def __init__(self) -> None:
        self.dialled: list[str] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.dialled.append(host)
        raise httpcore.ConnectError(f"{host} is out of reach from the tests")


def client_over(backend: PublicOnlyBackend) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    transport._pool = httpcore.AsyncConnectionPool(network_backend=backend)
    return httpx.AsyncClient(transport=transport, follow_redirects=False, trust_env=False)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/x",
        "https://10.1.2.3/x",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/x",
        "https://localhost/x",
        "http://127.0.0.1:8080/x",
    ],
)
async def test_private_targets_are_refused_outside_development(url: str) -> None:
    assert check_url(url, allow_private=False)
    async with webhook_client(5.0, allow_private=False) as client:
        with pytest.raises(TargetRefused):
            await client.post(url, content=b"{}")


async def test_a_name_that_resolves_to_a_private_address_is_refused_when_dialled() -> None:
    # This machine's own name resolves to loopback or to the host's private address.
    url = f"https://{socket.gethostname()}/x"
    assert check_url(url, allow_private=False) == ""  # a name: checked when dialled
    async with webhook_client(5.0, allow_private=False) as client:
        with pytest.raises(TargetRefused, match="non-public"):
            await client.post(url, content=b"{}")


async def test_the_address_dialled_is_the_address_checked() -> None:
    answers, dials = Answers(["8.8.8.8"], ["127.0.0.1"]), Dials()
    async with client_over(PublicOnlyBackend(answers, inner=dials)) as client:
        with pytest.raises(httpx.ConnectError):
            await client.post("https://hooks.example.com/x", content=b"{}")
        assert dials.dialled == ["8.8.8.8"] and answers.lookups == ["hooks.example.com"]

        # The name now answers loopback: refused, and nothing is dialled.
        with pytest.raises(TargetRefused, match="non-public"):
            await client.post("https://hooks.example.com/x", content=b"{}")
        assert dials.dialled == ["8.8.8.8"]


async def test_a_name_mixing_public_and_private_answers_is_refused() -> None:
    answers, dials = Answers(["8.8.8.8", "10.0.0.7"]), Dials()
    async with client_over(PublicOnlyBackend(answers, inner=dials)) as client:
        with pytest.raises(TargetRefused, match=r"10\.0\.0\.7"):
            await client.post("https://hooks.example.com/x", content=b"{}")
    assert dials.dialled == []


async def test_each_public_address_is_tried_in_turn() -> None:
    answers, dials = Answers(["8.8.8.8", "8.8.4.4"]), Dials()
    async with client_over(PublicOnlyBackend(answers, inner=dials)) as client:
        with pytest.raises(httpx.ConnectError):
            await client.post("https://hooks.example.com/x", content=b"{}")
    assert dials.dialled == ["8.8.8.8", "8.8.4.4"]
