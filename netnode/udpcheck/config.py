"""The UDP checker's configuration, from the model. Pure."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from netnode.model.topology import LoadBalancer
from netnode.render.nftables import UdpBalancer

# HAProxy's default rise, which netnode's TCP pools get when max_retries is not set.
DEFAULT_RISE = 2


@dataclass(frozen=True)
class Target:
    member_id: str
    address: str
    port: int


@dataclass(frozen=True)
class Monitor:
    pool_id: str
    type: str  # UDP-CONNECT | TCP | HTTP | PING
    delay: int
    timeout: int
    rise: int
    fall: int
    targets: tuple[Target, ...]
    http_method: str = "GET"
    url_path: str = "/"
    expected_codes: str = "200"
    domain_name: str | None = None


@dataclass(frozen=True)
class CheckerConfig:
    namespace: str
    state_root: str
    balancer: UdpBalancer
    monitors: tuple[Monitor, ...]

    def dumps(self) -> str:
        return json.dumps(
            {
                "namespace": self.namespace,
                "state_root": self.state_root,
                "balancer": self.balancer.to_json(),
                "monitors": [
                    {**vars(m), "targets": [vars(t) for t in m.targets]} for m in self.monitors
                ],
            },
            sort_keys=True,
            indent=1,
        )

    @classmethod
    def loads(cls, text: str) -> CheckerConfig:
        data: dict[str, Any] = json.loads(text)
        return cls(
            namespace=str(data["namespace"]),
            state_root=str(data["state_root"]),
            balancer=UdpBalancer.from_json(data["balancer"]),
            monitors=tuple(
                Monitor(
                    **{k: v for k, v in m.items() if k != "targets"},
                    targets=tuple(Target(**t) for t in m["targets"]),
                )
                for m in data["monitors"]
            ),
        )


def monitors(lb: LoadBalancer, balancer: UdpBalancer) -> tuple[Monitor, ...]:
    """The checks ``lb`` needs: one per enabled monitor of a UDP pool that an enabled
    listener uses, over the pool's enabled members (at monitor_address/monitor_port
    when given)."""
    used = {s.pool_id for s in balancer.services if s.monitored}
    result = []
    for pool in lb.pools:
        hm = pool.healthmonitor
        if pool.protocol != "UDP" or pool.uid not in used or hm is None:
            continue
        targets = tuple(
            Target(
                m.uid,
                str(m.monitor_address or m.address),
                m.monitor_port or m.protocol_port,
            )
            for m in pool.members
            if m.admin_state_up
        )
        result.append(
            Monitor(
                pool_id=pool.uid,
                type=hm.type,
                delay=hm.delay,
                timeout=hm.timeout,
                rise=hm.max_retries or DEFAULT_RISE,
                fall=hm.max_retries_down,
                targets=targets,
                http_method=hm.http_method,
                url_path=hm.url_path,
                expected_codes=hm.expected_codes,
                domain_name=hm.domain_name,
            )
        )
    return tuple(result)
