"""`shop-dev bench`: catalog GetProduct against a bare grpc.aio echo server, measured in one run."""
