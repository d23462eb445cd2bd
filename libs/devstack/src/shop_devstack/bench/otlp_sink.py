"""B6's trace receiver: a real OTLP/gRPC TraceService/Export server in a process of its own.

Unlike the kit's test receiver (shopkit.testing_otlp) it keeps nothing: it decodes each export, counts
its spans and answers, as a collector's receiver would before its pipeline. Run:
python -m shop_devstack.bench.otlp_sink PORT; prints "ready", then on SIGTERM the spans it received.
"""

from __future__ import annotations

import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from shopkit.testing_otlp import TRACE_SERVICE


class Sink:
    def __init__(self) -> None:
        self.spans = 0
        self.lock = threading.Lock()

    def export(self, request: ExportTraceServiceRequest, context: grpc.ServicerContext) -> ExportTraceServiceResponse:
        received = sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)
        with self.lock:
            self.spans += received
        return ExportTraceServiceResponse()


def main() -> None:
    sink = Sink()
    server = grpc.server(ThreadPoolExecutor(max_workers=4, thread_name_prefix="otlp-sink"))
    handler = grpc.unary_unary_rpc_method_handler(
        sink.export,
        request_deserializer=ExportTraceServiceRequest.FromString,
        response_serializer=ExportTraceServiceResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(TRACE_SERVICE, {"Export": handler}),))
    server.add_insecure_port(f"127.0.0.1:{int(sys.argv[1])}")
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print("ready", flush=True)
    while not stop.wait(1.0):
        print(f"spans {sink.spans}", flush=True)
    server.stop(1.0).wait()
    print(f"spans {sink.spans}", flush=True)


if __name__ == "__main__":
    main()
