"""The port offset of a test stack: every port free, none where an outgoing connection may take it."""

from __future__ import annotations

import socket

from shop_devstack.harness import STACK_PORTS, ephemeral_ports, free_port_offset


def _outside_ephemeral(offset: int) -> bool:
    ephemeral = ephemeral_ports()
    return all(port + offset not in ephemeral for port in STACK_PORTS)


def test_a_preferred_offset_in_the_ephemeral_range_is_passed_over() -> None:
    # 3000 puts the gRPC ports at 53051+: a connection's local port may take one before the server binds.
    assert not _outside_ephemeral(3000)
    offset = free_port_offset(preferred=3000)
    assert offset != 3000
    assert _outside_ephemeral(offset)


def test_a_preferred_offset_with_a_taken_port_is_passed_over() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 50054 + 12000))
        taken.listen()
        offset = free_port_offset(preferred=12000)
    assert offset != 12000
    assert _outside_ephemeral(offset)


def test_a_free_offset_outside_the_ephemeral_range_is_kept() -> None:
    assert free_port_offset(preferred=12750) == 12750
