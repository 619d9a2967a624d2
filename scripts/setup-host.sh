#!/usr/bin/env bash
# Prepare this host for netnode: the Debian packages it drives and a running Open vSwitch.
# Also PostgreSQL's server binaries: the tests start private clusters of their own
# (tests/postgres.py).
#
# Idempotent, quiet when there is nothing to do, never reads stdin (CI runs it).
# Needs root. Debian 12 (bookworm) or a close relative with apt.
#
# What it does not do: enable or start Debian's haproxy *service*. netnode runs its own
# HAProxy processes, one per load balancer, each in its namespace and with its own pid
# file. While this script installs packages it holds service starts back with a
# policy-rc.d (unless the host already has one), so neither the haproxy service nor an
# Open vSwitch that cannot load its kernel module is started by a postinst; Open vSwitch
# is then started below. A haproxy service started some other way (Debian's default
# config listens on nothing) is not ours: it is left alone and netnode never looks at it.
# The same goes for the postgresql service and the 'main' cluster its postinst creates:
# not started here, never used; the tests run initdb and postgres in a temporary
# directory of their own, on a unix socket only.
# And the same again for keepalived and conntrackd (high availability): Debian's
# keepalived.service and conntrackd.service are held back like haproxy's, and netnode
# never reads /etc/keepalived or /etc/conntrackd. It runs one keepalived per namespace
# with a config, pid files and a log under its own state directory
# (netnode/drivers/keepalived.py).
# chromium and chromium-driver: the headless browser tests/functional/test_ui.py drives
# (through selenium) to check the status page; no service, nothing runs outside a test.
# prometheus: for the metrics test only (tests/functional/test_metrics.py starts a private
# one on 127.0.0.1 with its data in a temporary directory); Debian's prometheus.service is
# held back like the others and never used.
# dnsmasq-base (DHCP, netnode/drivers/dnsmasq.py): the binary only, no service and no
# /etc/dnsmasq.conf (netnode passes --conf-file=/dev/null); udhcpc (busybox's DHCP
# client): run only inside lab and test namespaces, with a script of netnode's that
# never writes the host's /etc/resolv.conf.
set -euo pipefail

PACKAGES=(
    haproxy openvswitch-switch iptables conntrack curl wrk
    iputils-ping iputils-arping python3-venv make postgresql nftables openssl
    keepalived conntrackd chromium chromium-driver prometheus dnsmasq-base udhcpc
)
OVS_CTL=/usr/share/openvswitch/scripts/ovs-ctl

say() { printf 'setup-host: %s\n' "$*"; }
die() { printf 'setup-host: %s\n' "$*" >&2; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
    die "this sets up the host (apt packages, Open vSwitch) and needs root.
setup-host: run it as root, e.g. 'sudo make setup' or 'sudo scripts/setup-host.sh'.
setup-host: (to work on the pure parts without root: 'make lint', or SKIP_HOST_SETUP=1 make test)"
fi

missing_packages() {
    local pkg status
    for pkg in "${PACKAGES[@]}"; do
        status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
        [ "$status" = installed ] || printf '%s\n' "$pkg"
    done
}

install_packages() {
    local missing
    mapfile -t missing < <(missing_packages)
    [ "${#missing[@]}" -eq 0 ] && return 0
    command -v apt-get >/dev/null || die "missing packages (${missing[*]}) and no apt-get to install them"
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    hold_service_starts
    apt-get update -qq </dev/null >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
    release_service_starts
    mapfile -t missing < <(missing_packages)
    [ "${#missing[@]}" -eq 0 ] || die "still missing after apt-get install: ${missing[*]}"
}

POLICY_RC_D=/usr/sbin/policy-rc.d
POLICY_MARK="# written by netnode's scripts/setup-host.sh for the length of one apt-get install"

hold_service_starts() {
    # A policy-rc.d that exits 101 tells invoke-rc.d and deb-systemd-invoke not to start
    # services from maintainer scripts. Never replace one the host already has.
    [ -e "$POLICY_RC_D" ] && return 0
    printf '#!/bin/sh\n%s\nexit 101\n' "$POLICY_MARK" >"$POLICY_RC_D"
    chmod 0755 "$POLICY_RC_D"
    trap release_service_starts EXIT
}

release_service_starts() {
    if [ -f "$POLICY_RC_D" ] && grep -qF "$POLICY_MARK" "$POLICY_RC_D"; then
        rm -f "$POLICY_RC_D"
    fi
}

ovsdb_up() { ovs-vsctl --timeout=5 show >/dev/null 2>&1; }
vswitchd_up() { ovs-appctl --timeout=5 -t ovs-vswitchd version >/dev/null 2>&1; }

start_ovs() {
    ovsdb_up && vswitchd_up && return 0
    say "starting Open vSwitch"
    local log
    log=$(mktemp)
    # ovs-ctl prints ulimit warnings in some containers; they are harmless. It also tries
    # to load the openvswitch kernel module; netnode needs none (its bridges use the
    # userspace datapath, datapath_type=netdev), so a failed modprobe is not fatal here.
    if [ -d /run/systemd/system ]; then
        systemctl start openvswitch-switch </dev/null >"$log" 2>&1 || true
    fi
    if ! { ovsdb_up && vswitchd_up; } && [ -x "$OVS_CTL" ]; then
        "$OVS_CTL" start --system-id=random </dev/null >>"$log" 2>&1 ||
            "$OVS_CTL" start </dev/null >>"$log" 2>&1 || true
    fi
    # Where modules are supported but openvswitch is not available, ovs-ctl starts
    # ovsdb-server and then stops before ovs-vswitchd: start that one directly.
    if ovsdb_up && ! vswitchd_up; then
        mkdir -p /var/run/openvswitch /var/log/openvswitch
        ovs-vswitchd unix:/var/run/openvswitch/db.sock -vconsole:emer -vsyslog:err -vfile:info \
            --no-chdir --log-file=/var/log/openvswitch/ovs-vswitchd.log \
            --pidfile=/var/run/openvswitch/ovs-vswitchd.pid --detach --monitor \
            </dev/null >>"$log" 2>&1 || true
    fi
    if ! { ovsdb_up && vswitchd_up; }; then
        cat "$log" >&2
        rm -f "$log"
        die "Open vSwitch did not start (see the output above and /var/log/openvswitch/)"
    fi
    rm -f "$log"
}

check_tun() {
    # Userspace-datapath internal ports are tap devices.
    [ -c /dev/net/tun ] && return 0
    say "creating /dev/net/tun (OVS internal ports of netdev bridges are tap devices)"
    mkdir -p /dev/net
    mknod /dev/net/tun c 10 200
    chmod 0666 /dev/net/tun
}

release_service_starts # a policy-rc.d left behind by an interrupted earlier run
install_packages
check_tun
start_ovs
