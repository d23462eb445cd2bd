"""The shop gateway: the edge that serves clients over HTTP/JSON and gRPC."""
