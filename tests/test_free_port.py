"""`free_port`: ports for servers the suite, `tracer up` and the benchmarks start."""

from __future__ import annotations

import socket
from pathlib import Path

from tracer.redis_server import free_port


def first_ephemeral_port() -> int:
    return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])


def test_ports_are_distinct_below_the_ephemeral_range_and_free() -> None:
    # Below the range no outgoing connection can take the port as its source port
    # between `free_port` and the server's bind.
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(1024 < port < first_ephemeral_port() for port in ports)
    for port in ports[:20]:
        with socket.socket() as sock:
            sock.bind(("0.0.0.0", port))


def test_a_port_something_listens_on_is_not_handed_out() -> None:
    # 300 listeners on ports of the range chosen here, not by `free_port`: about one
    # draw in forty lands on one of them, so 1,000 draws would find some if it did not
    # check that nothing listens.
    listeners = []
    try:
        for port in range(20_000, 20_600):
            sock = socket.socket()
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                sock.close()
                continue
            sock.listen()
            listeners.append(sock)
            if len(listeners) == 300:
                break
        held = {sock.getsockname()[1] for sock in listeners}
        assert not held & {free_port() for _ in range(1000)}
    finally:
        for sock in listeners:
            sock.close()
