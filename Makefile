# netnode: set up a host, run the seed scenario, test, benchmark.
#
#   make demo    set up the host and a virtualenv, then build the seed scenario (netnode demo)
#   make test    set up, then the checks of make lint and the whole test suite (functional
#                tests included, as root), then the conformance suites (about 12 minutes;
#                NETNODE_CONFORMANCE=0 leaves them out)
#   make bench   set up, then time the seed's shell commands against netnode apply
#   make bench-live  set up, then the live-operations benchmarks: member changes under
#                load, a member killed under load, 10..100 load balancers
#   make bench-load  set up, then 100 API clients for 60 s of mixed reads and writes:
#                5xx, lost writes, p99, memory growth (BENCH_LOAD_ARGS=--db URL)
#   make bench-api   set up, then the REST API: requests/s, and 100 load balancers to
#                ACTIVE through the API beside netnode apply (BENCH_API_ARGS=--profile)
#   make bench-ha    set up, then high availability: VRRP takeover after the master's
#                keepalived is killed, default profile against fast (BENCH_HA_ARGS=--rounds 10);
#                a dead node's load balancer serving again from another node; an HA
#                router's takeover and the established connections it keeps
#   make bench-startup  each netnode command's start-up beside the bare interpreter's
#                (needs no root; BENCH_STARTUP_ARGS=--rounds 20)
#   make conformance  set up, then octavia-tempest-plugin's api/v2 and Tempest's network API
#                tests against netnode serve --keystone-url and a real Keystone
#                (tests/conformance; CONFORMANCE_ARGS=--suite octavia; make test runs it too)
#   make lint    ruff check and format --check, lint-imports (the layering contracts in pyproject.toml) and
#                mypy netnode (needs no root)
#   make clean   remove the virtualenv and its stamp
#
# Host set-up (scripts/setup-host.sh) needs root. SKIP_HOST_SETUP=1 skips it, for working
# on the pure parts as a normal user; then also set NETNODE_REQUIRE_FUNCTIONAL=0.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.netnode-installed
# The real OpenStack clients the API tests drive, in a virtualenv of their own (their
# pins are theirs, not netnode's).
CLIENTS := .venv-clients
CLIENTS_STAMP := $(CLIENTS)/.installed
CLIENT_PACKAGES := python-openstackclient python-octaviaclient openstacksdk
# A real Keystone for tests/functional/test_keystone.py (netnode serve --keystone-url),
# served by gunicorn, in a virtualenv of its own too.
KEYSTONE := .venv-keystone
KEYSTONE_STAMP := $(KEYSTONE)/.installed
KEYSTONE_PACKAGES := keystone==30.0.0 gunicorn==27.0.1
# Tempest and octavia-tempest-plugin for tests/conformance, pinned to the versions
# tests/conformance/expectations.yaml was written against.
TEMPEST := .venv-tempest
TEMPEST_STAMP := $(TEMPEST)/.installed
TEMPEST_PACKAGES := tempest==47.0.0 octavia-tempest-plugin==3.5.0
CONFORMANCE_ARGS ?=
SKIP_HOST_SETUP ?=
# Tells the test suite that skipping the functional tests is a failure, not a shrug.
NETNODE_REQUIRE_FUNCTIONAL ?= 1
BENCH_ARGS ?=
BENCH_API_ARGS ?=
BENCH_LOAD_ARGS ?=
BENCH_HA_ARGS ?=
BENCH_STARTUP_ARGS ?=
LINT_PATHS := netnode tests bench

.PHONY: help setup host demo test conformance lint bench bench-live bench-api bench-load bench-ha bench-startup clean
# In order: the host set-up installs python3-venv before the virtualenv is made.
.NOTPARALLEL:

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

setup: host $(STAMP)

host:
ifeq ($(SKIP_HOST_SETUP),)
	@scripts/setup-host.sh
else
	@echo "make: SKIP_HOST_SETUP is set: not checking packages or Open vSwitch"
endif

$(VPY):
	@command -v $(PYTHON) >/dev/null || { \
	    echo "make: no '$(PYTHON)' found; netnode needs Python >= 3.11 (Debian 12: apt-get install python3)" >&2; \
	    exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	    echo "make: netnode needs Python >= 3.11; '$(PYTHON)' is $$($(PYTHON) --version 2>&1)." >&2; \
	    echo "make: put a newer python3 first on PATH, or run: make PYTHON=/path/to/python3.11 ..." >&2; \
	    exit 1; }
	@echo "make: creating $(VENV) with $$(command -v $(PYTHON)) ($$($(PYTHON) --version 2>&1))"
	@rm -rf $(VENV)
	@$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
	    echo "make: could not create $(VENV) (Debian: apt-get install python3-venv)" >&2; exit 1; }

$(STAMP): pyproject.toml | $(VPY)
	@echo "make: installing netnode and its dev tools into $(VENV)"
	@$(VPY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

$(CLIENTS_STAMP): | $(VPY)
	@echo "make: installing the OpenStack clients (openstack CLI, octavia plugin, openstacksdk) into $(CLIENTS)"
	@rm -rf $(CLIENTS)
	@$(PYTHON) -m venv $(CLIENTS)
	@$(CLIENTS)/bin/pip install --quiet --disable-pip-version-check $(CLIENT_PACKAGES)
	@touch $@

$(KEYSTONE_STAMP): | $(VPY)
	@echo "make: installing Keystone and gunicorn into $(KEYSTONE) (for the Keystone tests)"
	@rm -rf $(KEYSTONE)
	@$(PYTHON) -m venv $(KEYSTONE)
	@$(KEYSTONE)/bin/pip install --quiet --disable-pip-version-check $(KEYSTONE_PACKAGES)
	@touch $@

$(TEMPEST_STAMP): | $(VPY)
	@echo "make: installing Tempest and octavia-tempest-plugin into $(TEMPEST) (for tests/conformance)"
	@rm -rf $(TEMPEST)
	@$(PYTHON) -m venv $(TEMPEST)
	@$(TEMPEST)/bin/pip install --quiet --disable-pip-version-check $(TEMPEST_PACKAGES)
	@touch $@

demo: setup
	$(VENV)/bin/netnode demo

# The static checks come first: a broken layer or type stops the run before the tests.
test: setup $(CLIENTS_STAMP) $(KEYSTONE_STAMP) $(TEMPEST_STAMP) lint
	NETNODE_REQUIRE_FUNCTIONAL=$(NETNODE_REQUIRE_FUNCTIONAL) scripts/test.sh

conformance: setup $(KEYSTONE_STAMP) $(TEMPEST_STAMP)
	$(VPY) -m tests.conformance.harness $(CONFORMANCE_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy netnode

bench: setup
	$(VPY) bench/apply_vs_seed.py $(BENCH_ARGS)

bench-live: setup
	$(VPY) bench/member_changes.py
	$(VPY) bench/failover.py
	$(VPY) bench/scale.py

bench-load: setup
	$(VPY) bench/load.py $(BENCH_LOAD_ARGS)

bench-api: setup
	$(VPY) bench/api.py $(BENCH_API_ARGS)

bench-ha: setup
	$(VPY) bench/ha.py $(BENCH_HA_ARGS)
	$(VPY) bench/ha_nodes.py

# No host set-up: it starts commands that need neither root nor Open vSwitch.
bench-startup: $(STAMP)
	$(VPY) bench/startup.py $(BENCH_STARTUP_ARGS)

clean:
	rm -rf $(VENV) $(CLIENTS) $(KEYSTONE) $(TEMPEST)
