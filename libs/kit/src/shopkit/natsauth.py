"""Who may do what on NATS: one user per service, allowed its own subjects and consumers and nothing else.

Each service connects as the NATS user named after it (credentials in its NATS_URL,
`nats://checkout:PASSWORD@host:4222`). What a user may publish and subscribe to is derived here from
two facts of the code, so the local server's configuration, the Kubernetes one and the tests all read
one table:

- every service in `SERVICES` owns the stream `SHOP_<SERVICE>` (subjects `shop.<service>.>`,
  `shopkit.events`) and creates or updates it at start;
- `CONSUMERS` lists the durable consumers each service runs (`runtime.consume(...)` in its `main`;
  a test compares the two): the service reads that stream through that durable, and copies the
  messages that keep failing to `SHOP_DLQ` (`shop.dlq.<service>.<durable>`).

A service may therefore publish its own events, look up, create and update its own stream (and the
dead-letter stream if it consumes), look up the streams it reads, create, look up and pull from its
own durables and acknowledge their messages. Replies come to its own inbox prefix
(`_INBOX.<service>`, `events.connect` sets it), the one subject tree it may subscribe to, so no service sees
the JetStream replies and deliveries of another. Deleting or purging a stream, deleting a consumer,
another service's subjects or durables: refused. The `tooling` user (operators, tests) has no limits.

A refused publish or request changes nothing on the server; the client hears of it asynchronously
(`-ERR 'Permissions Violation for Publish to "<subject>"'`, which `events.connect` logs as an error)
while a request waiting for an answer times out.
"""

from __future__ import annotations

import json
import re
import secrets
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from shopkit import events

# The services that connect to NATS (each has a stream); the gateway and the payment sandbox don't.
SERVICES = ("catalog", "pricing", "cart", "checkout", "inventory", "order", "fraud", "notifications", "customers")
# Operators' tools and the system tests: no limits (stream maintenance, reading any stream).
TOOLING = "tooling"
USERS = (*SERVICES, TOOLING)


@dataclass(frozen=True)
class Consumed:
    """A durable consumer a service runs on another service's stream."""

    source: str  # the service whose stream it reads
    name: str  # its name in the service (`runtime.consume(name=...)`); the durable is `<service>-<name>`


# Each service's `runtime.consume(...)` calls (see its main.py), in one table.
CONSUMERS: Mapping[str, tuple[Consumed, ...]] = {
    "catalog": (Consumed("pricing", "search-prices"), Consumed("inventory", "search-stock")),
    "pricing": (Consumed("inventory", "dynamic-pricing"),),
    "checkout": (Consumed("order", "order-outcomes"), Consumed("fraud", "fraud-reviews")),
    "fraud": (Consumed("order", "order-events"), Consumed("checkout", "checkout-events")),
    "notifications": (
        Consumed("order", "order-events"),
        Consumed("order", "order-webhooks"),
        Consumed("inventory", "inventory-webhooks"),
        Consumed("pricing", "pricing-webhooks"),
    ),
}


def durable_name(service: str, name: str) -> str:
    return f"{service}-{name}"


@dataclass(frozen=True)
class Permissions:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


def _stream_api(stream: str, *operations: str) -> list[str]:
    return [f"$JS.API.STREAM.{operation}.{stream}" for operation in operations]


def permissions(service: str) -> Permissions:
    """What `service`'s user may publish (events, JetStream API requests, acks) and subscribe to."""
    if service not in SERVICES:
        raise ValueError(f"{service} has no NATS user (users: {', '.join(USERS)})")
    consumed = CONSUMERS.get(service, ())
    publish = [f"shop.{service}.>", *_stream_api(events.stream_name(service), "INFO", "CREATE", "UPDATE")]
    if consumed:
        publish += [f"shop.dlq.{service}.>", *_stream_api(events.DLQ_STREAM, "INFO", "CREATE", "UPDATE")]
    for consumer in consumed:
        stream = events.stream_name(consumer.source)
        durable = durable_name(service, consumer.name)
        publish += [
            *_stream_api(stream, "INFO"),
            f"$JS.API.CONSUMER.INFO.{stream}.{durable}",
            # Servers since 2.9 take the name (and a single filter subject) in the subject.
            f"$JS.API.CONSUMER.CREATE.{stream}.{durable}",
            f"$JS.API.CONSUMER.CREATE.{stream}.{durable}.>",
            f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.{durable}",
            f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}",
            # ack, nak, in progress, term: the reply subject of each delivered message
            f"$JS.ACK.{stream}.{durable}.>",
        ]
    return Permissions(tuple(dict.fromkeys(publish)), (f"{events.inbox_prefix(service)}.>",))


def password_variable(user: str) -> str:
    """The environment variable a server configuration reads `user`'s password from."""
    return f"NATS_PASSWORD_{user}"


def authorization(passwords: Mapping[str, str] | None = None, users: Iterable[str] = USERS) -> str:
    """The `authorization` block of a nats-server configuration: every user with its permissions.

    With `passwords` (user -> password) they are written into it (a local server's 0600 file);
    without, each is the variable `$NATS_PASSWORD_<user>`, which nats-server resolves from its
    environment (Kubernetes: a Secret), so the block itself holds no secret.
    """
    lines = [
        "# One NATS user per service (shopkit.natsauth): publish and subscribe only to its own subjects,",
        "# streams and durable consumers; `tooling` (operators, tests) without limits.",
        "authorization {",
        "  users: [",
    ]
    for user in users:
        secret = json.dumps(passwords[user]) if passwords is not None else f"${password_variable(user)}"
        entry = f"    {{user: {json.dumps(user)}, password: {secret}"
        if user == TOOLING:
            lines.append(f"{entry}}}")
            continue
        allowed = permissions(user)
        lines += [
            f"{entry}, permissions: {{",
            f"      publish: {{allow: {_list(allowed.publish, 8)}}}",
            f"      subscribe: {{allow: {_list(allowed.subscribe, 8)}}}",
            "    }}",
        ]
    lines += ["  ]", "}"]
    return "\n".join(lines) + "\n"


def _list(subjects: Iterable[str], indent: int) -> str:
    # Quoted: `$JS...` unquoted would be a variable reference.
    items = [json.dumps(s) for s in subjects]
    if len(items) == 1:
        return f"[{items[0]}]"
    pad = " " * indent
    return "[\n" + "".join(f"{pad}{item}\n" for item in items) + " " * (indent - 2) + "]"


PASSWORD_LENGTH = 32
_PASSWORD_ALPHABET = string.ascii_letters + string.digits


def new_password() -> str:
    """A password that goes into a NATS_URL as it is and survives nats-server's reading of a
    `$NATS_PASSWORD_*` reference: the server parses the variable's value as a config token, so a
    value starting with "-" (or all digits, or "true") is not a string to it. Letters and digits,
    a letter first; 190 bits."""
    first = secrets.choice(string.ascii_letters)
    return first + "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH - 1))


def with_credentials(url: str, user: str, password: str) -> str:
    """`url` (one or more comma-separated NATS URLs) with `user:password@` in each; the password
    must be URL-safe (the launcher's and `shop-dev nats-auth secrets`' are)."""
    parts = []
    for server in (u.strip() for u in url.split(",")):
        scheme, sep, rest = server.rpartition("://")
        host = rest.rsplit("@", 1)[-1]
        parts.append(f"{scheme}{sep}{user}:{password}@{host}" if sep else f"{user}:{password}@{host}")
    return ",".join(parts)


def redact(url: str) -> str:
    """The URL(s) without passwords, for printing."""
    return re.sub(r"://([^:/@,]+):[^@,]*@", r"://\1:***@", url)


def server_config(
    *, host: str, port: int, store_dir: str, passwords: Mapping[str, str], monitor_port: int | None = None
) -> str:
    """A whole nats-server configuration for one machine (the local stack, tests): JetStream with
    file storage and every user of `authorization`, with its password written in."""
    lines = [f"listen: {json.dumps(f'{host}:{port}')}"]
    if monitor_port is not None:
        lines.append(f"http: {json.dumps(f'{host}:{monitor_port}')}")
    lines.append(f"jetstream {{store_dir: {json.dumps(store_dir)}}}")
    return "\n".join(lines) + "\n" + authorization(passwords)
