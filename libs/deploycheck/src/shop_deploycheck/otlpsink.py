"""A stand-in OpenTelemetry collector: accepts OTLP/gRPC exports and drops them.

Services started by the checks export spans like they would in the cluster; without something
that answers, their exporter retries until its timeout when they shut down. The sink runs as a
process of its own (`python -m shop_deploycheck.otlpsink PORT`): gRPC servers and fork() in one
process do not mix, and the checks fork the services.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from shop_deploycheck.workloads import LOCAL_HOST, free_port

COLLECTOR_SERVICES = (
    "opentelemetry.proto.collector.trace.v1.TraceService",
    "opentelemetry.proto.collector.metrics.v1.MetricsService",
    "opentelemetry.proto.collector.logs.v1.LogsService",
)


def _accept(request: bytes, context: Any) -> bytes:
    return b""  # an empty Export*ServiceResponse: everything accepted


def serve(port: int) -> None:
    server = grpc.server(ThreadPoolExecutor(max_workers=4))
    handler = grpc.unary_unary_rpc_method_handler(_accept, request_deserializer=None, response_serializer=None)
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(name, {"Export": handler}) for name in COLLECTOR_SERVICES]
    )
    server.add_insecure_port(f"{LOCAL_HOST}:{port}")
    server.start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    print("ready", flush=True)
    stopped.wait()
    server.stop(None)


@contextlib.contextmanager
def otlp_sink() -> Iterator[str]:
    """Run the sink in a child process; yields its endpoint (http://127.0.0.1:PORT)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "shop_deploycheck.otlpsink", str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("the OTLP sink did not start")
        yield f"http://{LOCAL_HOST}:{port}"
    finally:
        process.terminate()
        process.wait(10)


if __name__ == "__main__":
    serve(int(sys.argv[1]))
