"""``netnode agent --metrics-listen ADDR``: the agent's metrics over HTTP, from a small
server thread of the agent's process (prometheus_client's ``start_http_server``)."""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
from collections.abc import Iterator
from typing import TYPE_CHECKING

# Light at import (the parser uses listen_address); serving imports the rest.
if TYPE_CHECKING:
    from netnode.reconcile.agent import Agent


def listen_address(text: str) -> tuple[str, int]:
    """``--metrics-listen``: ``ADDRESS:PORT`` (an IPv4 address, or ``[IPv6]:PORT``)."""
    host, sep, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    try:
        ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        number = -1
    if not sep or not 0 < number < 65536:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not ADDRESS:PORT (for example 127.0.0.1:9105)"
        )
    return host, number


@contextlib.contextmanager
def serving(agent: Agent, address: tuple[str, int] | None) -> Iterator[None]:
    """Serve ``agent``'s metrics (and its load balancers') on ``address`` (None:
    nothing) until the block ends."""
    if address is None:
        yield
        return
    from prometheus_client import start_http_server

    from netnode.reconcile.metrics import LoadBalancers, Metrics

    metrics = agent.metrics if agent.metrics is not None else Metrics()
    agent.metrics = metrics
    metrics.registry.register(LoadBalancers(agent.host.haproxy, agent.targets))
    server, thread = start_http_server(address[1], address[0], registry=metrics.registry)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
