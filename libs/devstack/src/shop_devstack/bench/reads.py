"""B4: the gateway's product page (`GET /v1/products/{id}`, anonymous) and search, requests/s against a bare
ASGI hello app on the same uvicorn/uvloop settings (shop_devstack.bench.hello_app), measured with `wrk`
(one thread, keep-alive connections), best of a few rounds, target and baseline alternately.

Without `wrk` (the Makefile's bench target installs it on Debian) a Python client (httpx, its own process)
measures instead, which says so: it is the limit of both figures then, so the ratio means less.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from shop_devstack.bench.report import Figure, Report, Target, say
from shop_devstack.bench.rig import BenchError, free_port
from shop_devstack.bench.stack import BenchStack
from shop_devstack.processes import ChildProcess

CONNECTIONS = 16
SEARCH_QUERY = "trail"
_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
_ERRORS = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")


def wrk(url: str, seconds: float) -> tuple[float, int]:
    """(requests/s, non-2xx answers) of `wrk -t1 -c16` for `seconds`."""
    argv = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", url]
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    rate = _RATE.search(completed.stdout)
    if completed.returncode != 0 or rate is None:
        raise BenchError(f"wrk failed: {completed.stdout}{completed.stderr}")
    errors = _ERRORS.search(completed.stdout)
    return float(rate.group(1)), int(errors.group(1)) if errors else 0


def python_client(url: str, seconds: float) -> tuple[float, int]:
    """The fallback: shop_devstack.bench.http_load in its own process."""
    argv = [sys.executable, "-m", "shop_devstack.bench.http_load", url, str(CONNECTIONS), str(seconds)]
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    if completed.returncode != 0:
        raise BenchError(f"the HTTP load client failed: {completed.stderr[-2000:]}")
    rate, errors = completed.stdout.split()
    return float(rate), int(errors)


def start_hello(folder: Path) -> tuple[str, ChildProcess]:
    port = free_port()
    hello = ChildProcess(
        "hello",
        [sys.executable, "-m", "shop_devstack.bench.hello_app", str(port)],
        dict(os.environ),
        folder / "hello.log",
    )
    hello.start()
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url, timeout=1.0)
            return url, hello
        except httpx.HTTPError:
            if not hello.running() or time.monotonic() > deadline:
                raise BenchError("the hello app did not start") from None
            time.sleep(0.05)


def product_id(stack: BenchStack) -> str:
    found = httpx.get(f"{stack.gateway_url}/v1/products", params={"query": SEARCH_QUERY, "page_size": 1}, timeout=30)
    found.raise_for_status()
    return str(found.json()["products"][0]["id"])


def reads_case(stack: BenchStack, report: Report, folder: Path, *, seconds: float, rounds: int) -> None:
    measure = wrk if shutil.which("wrk") else python_client
    client = "wrk -t1 -c16" if measure is wrk else "a Python client (wrk not installed): it is the limit"
    hello_url, hello = start_hello(folder)
    try:
        urls = {
            "hello": hello_url,
            "product page": f"{stack.gateway_url}/v1/products/{product_id(stack)}",
            "search": f"{stack.gateway_url}/v1/products?query={SEARCH_QUERY}",
        }
        best: dict[str, float] = {}
        errors: dict[str, int] = {}
        for _ in range(rounds):
            for name, url in urls.items():
                rate, failed = measure(url, seconds)
                best[name] = max(best.get(name, 0.0), rate)
                errors[name] = errors.get(name, 0) + failed
    finally:
        hello.signal(15)
    say(f"B4: {client}, {seconds:g} s per round, best of {rounds}")
    for name in ("product page", "search"):
        report.add(
            Figure(
                "B4",
                f"gateway {name}",
                best[name],
                "req/s",
                Target("ratio", ">=", 0.5),
                baseline=best["hello"],
                baseline_name="ASGI hello",
                note=f"{errors[name]} non-2xx answers" if errors[name] else "",
            )
        )
