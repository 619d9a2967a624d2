"""Octavia's and Tempest's own API tests against a real ``netnode serve --keystone-url``
(issue 14, item 2).

    .venv/bin/python -m tests.conformance.harness [--suite octavia|network|all]
                                                  [--concurrency N] [--keep]

What it does, all in a temporary directory and with names unique to the run:

1. starts a real Keystone (tests/functional/keystone.py, ``.venv-keystone``), makes
   netnode's service user and Octavia's ``load-balancer_*`` roles, and registers
   netnode's ``load-balancer`` and ``network`` endpoints in its catalog (ENDPOINTS);
2. starts ``netnode serve --keystone-url`` (with its reconcile loop: the load balancers
   the tests make are built, as real namespaces and HAProxy) on 127.0.0.1, its own node
   name, state directory (SQLite), integration bridge and external bridge;
3. makes the external network ``public`` as Keystone's admin through netnode's API;
4. writes a Tempest workspace and tempest.conf (TEMPEST_CONF below: every setting that
   is not Tempest's default says why), and runs ``tempest run`` for each suite (SUITES);
5. reads the results (subunit, tests/conformance/results.py) and compares them with
   tests/conformance/expectations.yaml: every skip must be listed with its reason, every
   failure must be a known failure; a known failure that passes is reported loudly;
6. stops netnode and Keystone by their pids, destroys what netnode built, removes its
   bridges, and prints passed / failed / skipped for each suite.

Exit 0 when every suite's failures are exactly its known failures and every skip is
listed; 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.functional.keystone import Admin, Keystone, free_port, missing

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
TEMPEST_VENV = ROOT / ".venv-tempest"
TEMPEST = TEMPEST_VENV / "bin" / "tempest"
STESTR = TEMPEST_VENV / "bin" / "stestr"
EXPECTATIONS = HERE / "expectations.yaml"
SERVICE_PASSWORD = "pw-of-netnode-conformance"
TOKEN_EXPIRATION = 4 * 3600  # Keystone's token lifetime: longer than any run

# The catalog's URL of each service, from netnode serve's root URL: each service at its
# own path (netnode.api.endpoints), as the README registers them.
ENDPOINTS = {"load-balancer": "{root}/load-balancer", "network": "{root}/networking"}

# Octavia's RBAC roles, which netnode maps (docs/keystone.md); Keystone's bootstrap makes
# admin, member and reader.
OCTAVIA_ROLES = (
    "load-balancer_member",
    "load-balancer_observer",
    "load-balancer_global_observer",
    "load-balancer_admin",
    "load-balancer_quota_admin",
)

# The test modules of each suite (regexes on test ids, for tempest run --regex).
SUITES: dict[str, list[str]] = {
    # octavia-tempest-plugin's whole API suite.
    "octavia": [r"octavia_tempest_plugin\.tests\.api\.v2\."],
    # Tempest's network API tests about networks, subnets (in test_networks), routers,
    # floating IPs and ports, with their negative twins.
    "network": [
        r"tempest\.api\.network\.test_networks\.",
        r"tempest\.api\.network\.test_networks_negative\.",
        r"tempest\.api\.network\.test_routers\.",
        r"tempest\.api\.network\.test_routers_negative\.",
        r"tempest\.api\.network\.test_floating_ips\.",
        r"tempest\.api\.network\.test_floating_ips_negative\.",
        r"tempest\.api\.network\.test_ports\.",
    ],
}

PUBLIC_CIDR = "172.24.4.0/24"  # the external network's subnet (devstack's)


def tempest_conf(keystone: Keystone, public_network_id: str, extensions: list[str]) -> str:
    """tempest.conf for this run. Settings that differ from Tempest's defaults say why."""
    roles = ",".join(OCTAVIA_ROLES)
    return f"""\
[DEFAULT]
log_file = tempest.log
debug = false

[auth]
admin_username = admin
admin_password = {keystone_admin_password()}
admin_project_name = admin
admin_domain_name = Default
# Tempest makes a project and users for each test class through Keystone's API.
use_dynamic_credentials = true
# Dynamic credentials would otherwise make a network, subnet and router per project:
# the Octavia tests make their own networks, and Tempest's network tests want none.
create_isolated_networks = false
tempest_roles = member

[identity]
uri_v3 = {keystone.url}
auth_version = v3
region = RegionOne

[identity-feature-enabled]
api_v2 = false

[service_available]
load_balancer = true
neutron = true
# octavia-tempest-plugin's skip_checks ask for compute and image unless test_with_noop
# (which sends made-up network ids and so cannot run against a real Neutron API); the
# api/v2 tests never call them. Nothing in these suites is served by Nova or Glance.
nova = true
glance = true
cinder = false
swift = false
horizon = false

[network]
public_network_id = {public_network_id}
floating_network_name = public
project_network_cidr = 10.100.0.0/16
project_network_mask_bits = 28
project_networks_reachable = false
shared_physical_network = false

[network-feature-enabled]
# netnode's extensions as GET /v2.0/extensions lists them (devstack does the same).
api_extensions = {",".join(extensions)}
ipv6 = false
ipv6_subnet_attributes = false
port_security = false
port_admin_state_change = true
floating_ips = true

[load_balancer]
# netnode's provider, as GET /v2/lbaas/providers names it.
provider = netnode
enabled_provider_drivers = netnode:HAProxy in a namespace on this node (netnode)
# Octavia's own roles (load-balancer_member ...), which netnode maps as Octavia's
# default policy does.
RBAC_test_type = advanced
member_role = load-balancer_member
admin_role = load-balancer_admin
observer_role = load-balancer_observer
global_observer_role = load-balancer_global_observer
test_with_noop = false
test_with_ipv6 = false
# netnode builds a load balancer in well under a second: short polls and timeouts.
build_interval = 0.5
build_timeout = 60
lb_build_interval = 0.5
lb_build_timeout = 120
check_interval = 0.5
check_timeout = 30
# Tempest makes these member and VIP networks through netnode's Neutron API.
vip_subnet_cidr = 10.1.1.0/24
member_1_ipv4_subnet_cidr = 10.2.1.0/24
member_2_ipv4_subnet_cidr = 10.2.2.0/24
# roles Tempest must find in Keystone: {roles}

[loadbalancer-feature-enabled]
# netnode has no log offload to files Tempest could read (the plugin's default).
log_offload_enabled = false
# netnode has no spare amphora pool (the plugin's default).
spare_pool_enabled = false

[enforce_scope]
octavia = false
neutron = false
keystone = false
"""


def keystone_admin_password() -> str:
    from tests.functional.keystone import ADMIN_PASSWORD

    return ADMIN_PASSWORD


@dataclass
class Run:
    directory: Path
    suffix: str = field(default_factory=lambda: secrets.token_hex(3))
    # Short: HAProxy's UNIX socket paths live under the state dir (97 bytes at most).
    state: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="nn-")))
    keystone: Keystone | None = None
    serve: subprocess.Popen[bytes] | None = None
    port: int = field(default_factory=free_port)

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def node(self) -> str:
        return f"cf{self.suffix}"

    @property
    def bridges(self) -> tuple[str, str]:
        return f"nn{self.suffix}i", f"nn{self.suffix}e"

    # --- Keystone -----------------------------------------------------------------------

    def start_keystone(self) -> None:
        (self.directory / "keystone").mkdir()
        self.keystone = Keystone(
            self.directory / "keystone", token_expiration=TOKEN_EXPIRATION, threads=1
        )
        self.keystone.start()
        print(f"harness: Keystone on {self.keystone.url} in {self.keystone.started_in:.1f} s")
        admin = Admin(self.keystone)
        service = admin.create("project", {"name": "service", "domain_id": "default"})
        admin.user("netnode", SERVICE_PASSWORD, service, "service")
        for role in OCTAVIA_ROLES:
            admin.role_id(role)  # made when missing
        for kind, name in (("load-balancer", "octavia"), ("network", "neutron")):
            admin.endpoint(kind, name, ENDPOINTS[kind].format(root=self.root))

    # --- netnode serve ------------------------------------------------------------------

    def start_serve(self) -> None:
        assert self.keystone is not None
        secret = self.directory / "keystone-password"
        secret.write_text(SERVICE_PASSWORD + "\n")
        integration, _ = self.bridges
        args = [
            sys.executable,
            "-m",
            "netnode.cli.main",
            "--node",
            self.node,
            "--state-dir",
            str(self.state),
            "serve",
            "--port",
            str(self.port),
            "--keystone-url",
            self.keystone.url,
            "--keystone-password-file",
            str(secret),
            "--integration-bridge",
            integration,
        ]
        log = self.directory / "serve.log"
        with open(log, "w") as out:
            self.serve = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.serve.poll() is not None:
                raise SystemExit(f"harness: netnode serve exited:\n{log.read_text()[-3000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                print(f"harness: netnode serve on {self.root} (node {self.node})")
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit(f"harness: netnode serve did not listen:\n{log.read_text()[-3000:]}")

    def call(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        assert self.keystone is not None
        headers = {"X-Auth-Token": self.keystone.admin_token()}
        response = httpx.request(method, self.root + path, headers=headers, timeout=60, **kw)
        if response.status_code >= 400:
            raise SystemExit(f"harness: {method} {path}: {response.status_code} {response.text}")
        return dict(response.json())

    def topology(self) -> dict[str, Any]:
        """The external network, as an operator describes what the provider network
        gives (netnode's API makes external networks only on br-ex; this one has a
        bridge of the run's own)."""
        integration, external = self.bridges
        return {
            "name": "conformance",
            "integration_bridge": integration,
            "networks": [
                {
                    "name": "public",
                    "external": True,
                    "bridge": external,
                    "subnets": [
                        {
                            "name": "public-subnet",
                            "cidr": PUBLIC_CIDR,
                            "gateway_ip": PUBLIC_CIDR.replace("0/24", "1"),
                        }
                    ],
                }
            ],
        }

    def apply_topology(self) -> None:
        path = self.directory / "topology.yaml"
        path.write_text(yaml.safe_dump(self.topology()))
        run(
            [
                sys.executable,
                "-m",
                "netnode.cli.main",
                "--node",
                self.node,
                "--state-dir",
                str(self.state),
                "apply",
                "-f",
                str(path),
            ]
        )

    def public_network(self) -> str:
        nets = self.call("GET", "/v2.0/networks?name=public")["networks"]
        if len(nets) != 1:
            raise SystemExit(f"harness: expected one network named public, got {nets}")
        return str(nets[0]["id"])

    def extensions(self) -> list[str]:
        return sorted(e["alias"] for e in self.call("GET", "/v2.0/extensions")["extensions"])

    # --- Tempest ------------------------------------------------------------------------

    def workspace(self, public_network_id: str) -> Path:
        assert self.keystone is not None
        ws = self.directory / "tempest"
        run(
            [
                str(TEMPEST),
                "init",
                "--workspace-path",
                str(self.directory / "workspaces.yaml"),
                "--name",
                f"netnode-{self.suffix}",
                str(ws),
            ]
        )
        conf = tempest_conf(self.keystone, public_network_id, self.extensions())
        (ws / "etc" / "tempest.conf").write_text(conf)
        return ws

    def tempest(self, ws: Path, suite: str, concurrency: int) -> tuple[dict[str, Any], float]:
        regex = "^(" + "|".join(SUITES[suite]) + ")"
        began = time.monotonic()
        done = subprocess.run(
            [str(TEMPEST), "run", "--regex", regex, "--concurrency", str(concurrency)],
            cwd=ws,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        took = time.monotonic() - began
        (self.directory / f"{suite}.out").write_text(done.stdout)
        stream = subprocess.run(
            [str(STESTR), "last", "--subunit"],
            cwd=ws,
            capture_output=True,
            stdin=subprocess.DEVNULL,
        ).stdout
        parsed = subprocess.run(
            [str(TEMPEST_VENV / "bin" / "python"), str(HERE / "results.py")],
            input=stream,
            capture_output=True,
        )
        if parsed.returncode != 0:
            raise SystemExit(f"harness: reading {suite}'s results: {parsed.stderr.decode()}")
        results = json.loads(parsed.stdout)
        if not results:
            tail = "\n".join(done.stdout.splitlines()[-40:])
            raise SystemExit(f"harness: tempest ran no test of {suite}:\n{tail}")
        return results, took

    # --- cleaning up --------------------------------------------------------------------

    def stop(self) -> None:
        if self.serve is not None and self.serve.poll() is None:
            self.serve.send_signal(signal.SIGTERM)
            try:
                self.serve.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.serve.kill()
                self.serve.wait()
        if self.state.exists():
            destroy_built(self.state, self.node, self.topology())
        for bridge in self.bridges:
            subprocess.run(
                ["ovs-vsctl", "--if-exists", "del-br", bridge],
                capture_output=True,
                stdin=subprocess.DEVNULL,
            )
        if self.keystone is not None:
            self.keystone.stop()


def destroy_built(state: Path, node: str, topology: dict[str, Any]) -> None:
    """Destroy what netnode serve built on this node from its API's records, then the
    topology file's, as tests/functional do (Lab.destroy_api, Lab.destroy)."""
    from netnode.model.loading import load_data
    from netnode.reconcile import converge
    from netnode.reconcile.host import Host

    host = Host(state_dir=state, node=node)
    try:
        record = host.store.read("api")
        if record.topology is not None:
            converge.destroy(host, load_data(record.topology, node=node))
        converge.destroy(host, load_data(topology, node=node))
    finally:
        host.close()


def run(args: list[str]) -> None:
    done = subprocess.run(args, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise SystemExit(f"harness: {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


# --- expectations -----------------------------------------------------------------------


@dataclass
class Verdict:
    suite: str
    passed: int
    failed: int
    skipped: int
    seconds: float
    new_failures: list[str]
    fixed: list[str]
    unlisted_skips: list[str]
    # Failures not listed whose message is an unstable cause's (a status the plugin
    # polls, read before or after netnode's checks settle): reported, not fatal.
    unstable: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.new_failures and not self.unlisted_skips


def load_expectations(path: Path = EXPECTATIONS) -> dict[str, Any]:
    """The expectations file: per suite, ``skipped`` and ``known_failures``, each a list
    of entries with a ``reason``, the ``tests`` (exact test ids, Tempest's ``[id-...]``
    suffix left off) and, for a known failure, the ``fix``."""
    data = yaml.safe_load(path.read_text())
    for suite, sections in data.items():
        for entry in sections.get("unstable") or []:
            if not (entry.get("match") and entry.get("reason") and entry.get("fix")):
                raise SystemExit(f"{path}: {suite}.unstable: give each a match, reason and fix")
            re.compile(entry["match"])
        for section in ("skipped", "known_failures"):
            for entry in sections.get(section) or []:
                where = f"{path}: {suite}.{section}: {entry.get('tests')}"
                if not entry.get("reason"):
                    raise SystemExit(f"{where}: give each entry a reason")
                if section == "known_failures" and not entry.get("fix"):
                    raise SystemExit(f"{where}: give each known failure its fix")
                if not entry.get("tests"):
                    raise SystemExit(f"{where}: list the entry's tests")
    return dict(data)


def listed(entries: list[dict[str, Any]]) -> set[str]:
    return {test for entry in entries for test in entry["tests"]}


def judge(suite: str, results: dict[str, Any], expected: dict[str, Any], took: float) -> Verdict:
    skips = listed(expected.get("skipped") or [])
    known = listed(expected.get("known_failures") or [])
    causes = [re.compile(entry["match"]) for entry in expected.get("unstable") or []]
    unlisted = [t for t, r in sorted(results.items()) if r["status"] == "fail" and t not in known]
    unstable = [t for t in unlisted if any(c.search(results[t]["reason"]) for c in causes)]
    by = {
        s: sorted(t for t, r in results.items() if r["status"] == s)
        for s in ("success", "fail", "skip")
    }
    return Verdict(
        suite=suite,
        passed=len(by["success"]),
        failed=len(by["fail"]),
        skipped=len(by["skip"]),
        seconds=took,
        new_failures=[t for t in unlisted if t not in unstable],
        unstable=unstable,
        fixed=[t for t in by["success"] if t in known],
        unlisted_skips=[f"{t}: {results[t]['reason']}" for t in by["skip"] if t not in skips],
    )


def report(verdicts: list[Verdict], results: dict[str, dict[str, Any]]) -> None:
    for v in verdicts:
        for t in v.new_failures:
            print(f"\n--- NEW FAILURE ({v.suite}): {t}\n{results[v.suite][t]['reason']}")
        for t in v.unstable:
            print(f"--- UNSTABLE ({v.suite}): {t}: failed by an unstable cause this run")
        for t in v.unlisted_skips:
            print(f"--- SKIP NOT LISTED in {EXPECTATIONS.name} ({v.suite}): {t}")
        for t in v.fixed:
            print(
                f"!!! KNOWN FAILURE NOW PASSES ({v.suite}): {t}: "
                f"remove it from {EXPECTATIONS.name}'s known_failures"
            )
    print()
    for v in verdicts:
        print(
            f"=== {v.suite}: {v.passed} passed, {v.failed} failed "
            f"({v.failed - len(v.new_failures) - len(v.unstable)} known, "
            f"{len(v.unstable)} unstable, {len(v.new_failures)} new), "
            f"{v.skipped} skipped; {len(v.fixed)} known failures now pass; "
            f"in {v.seconds:.0f} s"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", choices=[*SUITES, "all"], default="all")
    parser.add_argument("--concurrency", type=int, default=2, help="tempest run's workers")
    parser.add_argument("--keep", action="store_true", help="keep the run's directory")
    parser.add_argument("--results", type=Path, help="write every test's result here (JSON)")
    args = parser.parse_args(argv)

    why = missing()
    if why is None and not TEMPEST.exists():
        why = f"{TEMPEST} is missing: `make test` installs Tempest into {TEMPEST_VENV.name}"
    if why is not None:
        print(f"harness: {why}", file=sys.stderr)
        return 1
    expectations = load_expectations()
    suites = list(SUITES) if args.suite == "all" else [args.suite]

    began = time.monotonic()
    directory = Path(tempfile.mkdtemp(prefix="nn-conf-"))
    the_run = Run(directory)
    verdicts: list[Verdict] = []
    all_results: dict[str, dict[str, Any]] = {}
    try:
        the_run.start_keystone()
        the_run.apply_topology()
        the_run.start_serve()
        ws = the_run.workspace(the_run.public_network())
        for suite in suites:
            print(f"harness: tempest run {suite} ({', '.join(SUITES[suite])})", flush=True)
            results, took = the_run.tempest(ws, suite, args.concurrency)
            all_results[suite] = results
            verdicts.append(judge(suite, results, expectations.get(suite) or {}, took))
    finally:
        the_run.stop()
        if args.keep:
            print(f"harness: kept {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)
        shutil.rmtree(the_run.state, ignore_errors=True)
    if args.results:
        args.results.write_text(json.dumps(all_results, indent=1, sort_keys=True))
    report(verdicts, all_results)
    print(f"=== conformance in {time.monotonic() - began:.0f} s")
    return 0 if all(v.ok for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
