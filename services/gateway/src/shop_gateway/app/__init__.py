"""The application layer: one function per use case, shared by the HTTP routes and the gRPC servicer.

Each use case takes the `Shop` (backend stubs, settings), the caller's `Principal` and plain
values; it authorizes, validates, calls the services through the kit's channels (deadlines,
retries of idempotent calls, trace context) with the caller's identity, and returns plain results
(`models`). Errors are shopkit DomainErrors, so both adapters report them the same way.
"""
