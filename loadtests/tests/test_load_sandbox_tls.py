"""The load generator's way to the payment sandbox over TLS (shop_load/sandbox.py), against the real
sandbox serving HTTPS with certificates of a CA made for the test: it tokenises on the sandbox's
public face without a client certificate (the server face answers it 401), it verifies the server
against SHOP_SANDBOX_CA_FILE alone (another CA's sandbox, or the public roots, fail), and settings
that do not fit stop it at start with the reason.

The locust code runs in a subprocess: importing locust monkey-patches the process for gevent.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from shop_sandbox import store
from shop_sandbox.main import build
from shop_sandbox.server import HttpService
from shop_sandbox.settings import SandboxSettings
from shopkit import pki
from shopkit.testing import Postgres, running

LOADTESTS = Path(__file__).resolve().parents[1]
MIGRATIONS = Path(store.__file__).parent / "migrations"

# What a Shopper does (ShopUser.tokenise_card), then a call of the server face it must not make.
CLIENT = """
import json
import time

from locust.env import Environment

from shop_load import sandbox

session = sandbox.session(Environment(), None, network_timeout=10, connection_timeout=10)
card = {"number": "4242424242424242", "exp_month": 12, "exp_year": time.gmtime().tm_year + 3, "cvc": "123"}
answers = {}
for name, path, body in [
    ("tokenise", "/v1/payment_methods", {"card": card}),
    ("authorise", "/v1/authorizations", {"payment_method": "pm_1", "amount": 100, "currency": "EUR"}),
]:
    response = session.post(path, json=body)
    try:
        payload = response.json() if response.content else {}
    except ValueError:
        payload = {}
    answers[name] = {
        "status": response.status_code,
        "id": payload.get("id", ""),
        "code": payload.get("code", ""),
        "error": repr(getattr(response, "error", None) or ""),
    }
print(json.dumps(answers))
"""


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pki.Issued]:
    return pki.issue(tmp_path_factory.mktemp("pki"), ["sandbox"])


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> pki.Issued:
    return pki.issue(tmp_path_factory.mktemp("other-pki"), ["sandbox"], authority="another CA")["sandbox"]


@pytest.fixture(scope="module")
def database_url(postgres: Postgres) -> str:
    return postgres.migrated_database(MIGRATIONS, prefix="load_sandbox")  # alembic runs its own event loop


@pytest.fixture
async def sandbox_url(database_url: str, issued: dict[str, pki.Issued]) -> AsyncIterator[str]:
    """The sandbox serving HTTPS with its certificate of the test's CA."""
    settings = SandboxSettings(
        database_url=database_url,
        http_host="127.0.0.1",
        http_port=0,
        log_format="text",
        **issued["sandbox"].settings(),
    )
    service: HttpService
    async with running(build, settings) as service:
        yield service.base_url


async def run_client(url: str, ca_file: str | Path | None) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SHOP_SANDBOX_")}
    environment.update(SHOP_SANDBOX_URL=url, PYTHONPATH=str(LOADTESTS))
    if ca_file is not None:
        environment["SHOP_SANDBOX_CA_FILE"] = str(ca_file)
    command = [sys.executable, "-c", CLIENT]
    return await asyncio.to_thread(
        subprocess.run, command, env=environment, capture_output=True, text=True, timeout=60, cwd=LOADTESTS
    )


def answers(run: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    assert run.returncode == 0, run.stderr[-3000:]
    result: dict[str, dict[str, Any]] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.timeout(120)
async def test_it_tokenises_without_a_certificate_and_verifies_the_sandbox_with_the_ca_file(
    sandbox_url: str, issued: dict[str, pki.Issued]
) -> None:
    found = answers(await run_client(sandbox_url, issued["sandbox"].ca_file))
    assert found["tokenise"]["status"] == 201, found
    assert found["tokenise"]["id"].startswith("pm_")
    # No certificate was presented: the server face refuses it.
    assert (found["authorise"]["status"], found["authorise"]["code"]) == (401, "client_certificate_required")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("trust", ["another CA", "the public roots"])
async def test_a_sandbox_it_cannot_verify_fails_every_request(
    sandbox_url: str, other_ca: pki.Issued, trust: str
) -> None:
    """Never `insecure`: with another CA's file, or none (public roots), the sandbox's certificate fails."""
    found = answers(await run_client(sandbox_url, other_ca.ca_file if trust == "another CA" else None))
    for answer in found.values():
        assert answer["status"] == 0, found  # no answer: locust counts a failed request
        assert "CERTIFICATE_VERIFY_FAILED" in answer["error"], found


@pytest.mark.timeout(120)
async def test_settings_that_do_not_fit_stop_it_at_start(tmp_path: Path, issued: dict[str, pki.Issued]) -> None:
    plain = await run_client("http://127.0.0.1:9", issued["sandbox"].ca_file)
    missing = await run_client("https://127.0.0.1:9", tmp_path / "missing.pem")
    assert plain.returncode != 0 and "SHOP_SANDBOX_CA_FILE is set but SHOP_SANDBOX_URL is not https" in plain.stderr
    assert missing.returncode != 0 and "cannot load it" in missing.stderr
