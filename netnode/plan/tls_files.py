"""The files a topology's TLS settings name, and where HAProxy reads its copies. Pure.

A listener's certificates, a client CA and CRL, a pool's client certificate, CA and
CRL, a lab instance's certificate: each is a file on this node that the topology names
(``*_container_ref``). HAProxy does not read them where they are: the reconcile layer
checks them (``netnode.reconcile.certificates``) and the driver copies each into the
directory of the process that uses it, named after the digest of its content::

    <run_dir>/<process>/tls/<sha256>.pem

so a new content at the same path is a new name in haproxy.cfg, which makes the next
apply reload HAProxy with it (and an unchanged one changes nothing).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Literal

from netnode.model.topology import Instance, LoadBalancer, Topology
from netnode.plan.spec import ProcessFile

# keypair: certificate (+ chain) and its private key; ca: certificates to verify with;
# crl: a certificate revocation list.
Kind = Literal["keypair", "ca", "crl"]

TLS_DIR = "tls"


@dataclass(frozen=True)
class Reference:
    field: str  # where the topology names it: "load_balancers[0].listeners[1].default_..."
    file: str  # the file it names
    kind: Kind


def lb_references(lb: LoadBalancer, path: str) -> Iterator[Reference]:
    for j, x in enumerate(lb.listeners):
        if x.protocol != "TERMINATED_HTTPS":
            continue
        at = f"{path}.listeners[{j}]"
        if x.default_tls_container_ref is not None:
            yield Reference(
                f"{at}.default_tls_container_ref", x.default_tls_container_ref, "keypair"
            )
        for k, ref in enumerate(x.sni_container_refs):
            yield Reference(f"{at}.sni_container_refs[{k}]", ref, "keypair")
        if x.client_authentication != "NONE" and x.client_ca_tls_container_ref is not None:
            yield Reference(
                f"{at}.client_ca_tls_container_ref", x.client_ca_tls_container_ref, "ca"
            )
            if x.client_crl_container_ref is not None:
                yield Reference(f"{at}.client_crl_container_ref", x.client_crl_container_ref, "crl")
    for j, pool in enumerate(lb.pools):
        if not pool.tls_enabled:
            continue
        at = f"{path}.pools[{j}]"
        if pool.tls_container_ref is not None:
            yield Reference(f"{at}.tls_container_ref", pool.tls_container_ref, "keypair")
        if pool.ca_tls_container_ref is not None:
            yield Reference(f"{at}.ca_tls_container_ref", pool.ca_tls_container_ref, "ca")
            if pool.crl_container_ref is not None:
                yield Reference(f"{at}.crl_container_ref", pool.crl_container_ref, "crl")


def instance_references(inst: Instance, path: str) -> Iterator[Reference]:
    if inst.https_port is not None and inst.tls_container_ref is not None:
        yield Reference(f"{path}.tls_container_ref", inst.tls_container_ref, "keypair")


def references(topo: Topology) -> list[Reference]:
    """Every file the topology's TLS settings use, in document order."""
    refs: list[Reference] = []
    for i, lb in enumerate(topo.load_balancers):
        refs += lb_references(lb, f"load_balancers[{i}]")
    for i, inst in enumerate(topo.lab.instances):
        refs += instance_references(inst, f"lab.instances[{i}]")
    return refs


def installed(
    refs: Iterator[Reference] | list[Reference],
    digests: Mapping[str, str],
    process_dir: PurePath,
) -> tuple[dict[str, str], tuple[ProcessFile, ...]]:
    """For one process: the path HAProxy reads for each file (for the renderer) and the
    copies to install. A file without a digest (not checked: a destroy, which renders
    nothing it starts) keeps its own path and is not copied."""
    paths: dict[str, str] = {}
    files: dict[str, ProcessFile] = {}
    for ref in refs:
        digest = digests.get(ref.file)
        if digest is None:
            continue
        name = f"{TLS_DIR}/{digest}.pem"
        paths[ref.file] = str(process_dir / name)
        files.setdefault(name, ProcessFile(name, ref.file, digest))
    return paths, tuple(sorted(files.values(), key=lambda f: f.name))
