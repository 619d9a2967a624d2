#!/usr/bin/env bash
# The seed's own command sequence (docs/seed.md, sections 8.1 and 8.2), command
# by command and in the author's order, one process per step: the baseline that
# bench/apply_vs_seed.py times against `netnode apply`.
#
# Usage: bench/seed.sh up|up81|down|names
#   up     8.1 (load balancer) then 8.2 (router, floating IP), plus the lab around them
#   up81   8.1 only
#   down   remove exactly what up/up81 created (also after a failed up)
#   names  print the names this run uses, as KEY=value lines
#
# Environment (so that runs never collide with each other or with anything else):
#   SUFFIX   appended to every namespace and port name, 1-10 of [A-Za-z0-9_.-]
#            (default -seed); ports such as tap04$SUFFIX must stay within 15 characters
#   BR_INT   the integration bridge to create (default bi$SUFFIX), stands in for br-int
#   BR_EX    the external bridge to create (default be$SUFFIX), stands in for br-ex
#   WORK     directory for the HAProxy configs, pid files and stats socket
#            (default /tmp/netnode-seed$SUFFIX)
#   SEED_TIMING_FILE  if set, up appends "arping <start> <end>" (bash $EPOCHREALTIME) to
#            it: the seed's `arping -c 3` alone takes about 3 s of its wall time
#
# Adapted to the lab only where it has to be:
# - bridges are datapath_type=netdev (this kernel has no openvswitch module); the seed
#   assumes br-int exists, here it is created first;
# - br-ex is attached to no physical NIC: where the seed adds eth3, an internal port
#   goes into an "external client" namespace holding the upstream gateway 10.255.253.1;
# - vm1 and vm2 are namespaces with an internal port on the integration bridge (tag 1),
#   answering HTTP with HAProxy (`http-request return`) instead of `nc` loops, as
#   netnode's lab does;
# - files live in $WORK instead of /root, and the stats socket is mode 600, not 0666;
# - `route add default gw` needs net-tools; without it, the same route via `ip route`;
# - up refuses to start if any of its names is already taken (the seed's
#   `--if-exists del-br br-ex` would otherwise delete someone's bridge), and tags its
#   bridges so that down deletes only bridges this script created.
set -eu
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

SUFFIX=${SUFFIX--seed}
BR_INT=${BR_INT:-bi$SUFFIX}
BR_EX=${BR_EX:-be$SUFFIX}
WORK=${WORK:-/tmp/netnode-seed$SUFFIX}

NS_LB=qlbaas-01$SUFFIX
NS_ROUTER=qrouter01$SUFFIX
NS_VM1=seedvm1$SUFFIX
NS_VM2=seedvm2$SUFFIX
NS_EXT=seedext$SUFFIX
TAP=tap04$SUFFIX
QR=qr01$SUFFIX
QG=qg01$SUFFIX
VM1=vm81$SUFFIX
VM2=vm82$SUFFIX
EXT=ext01$SUFFIX
OWNER_KEY=netnode-seed-bench
NAMESPACES="$NS_LB $NS_ROUTER $NS_VM1 $NS_VM2 $NS_EXT"
PORTS="$TAP $QR $QG $VM1 $VM2 $EXT"
BRIDGES="$BR_INT $BR_EX"
WORK_FILES="haproxy.cfg pid sock vm1.cfg vm1.pid vm2.cfg vm2.pid"

die() { printf 'seed.sh: %s\n' "$*" >&2; exit 1; }

check_names() {
    case $SUFFIX in
        '' | *[!A-Za-z0-9_.-]*) die "SUFFIX must be 1-10 characters of [A-Za-z0-9_.-]" ;;
    esac
    [ "${#SUFFIX}" -le 10 ] || die "SUFFIX '$SUFFIX' is longer than 10 characters"
    local name
    for name in $BRIDGES; do
        case $name in
            '' | *[!A-Za-z0-9_.-]*) die "bridge name '$name' is not allowed" ;;
        esac
        [ "${#name}" -le 15 ] || die "bridge name '$name' is longer than 15 characters"
    done
    [ "$BR_INT" != "$BR_EX" ] || die "BR_INT and BR_EX must differ"
    case $WORK in # it goes into haproxy.cfg unquoted
        /*[!A-Za-z0-9_./-]* | [!/]*) die "WORK must be an absolute path of [A-Za-z0-9_./-]" ;;
    esac
}

# Every name up is about to create must be free: nothing here may touch what it did not
# create. Three processes, a rounding error next to the ninety that follow.
check_free() {
    local taken="" name
    local namespaces ports links
    namespaces=" $(ip netns list | cut -d' ' -f1 | tr '\n' ' ') "
    # OVS ports on any bridge (every bridge has a port of its own name), then host links.
    ports=" $(ovs-vsctl --timeout=10 --bare --columns=name list Port | tr '\n' ' ') "
    links=" $(ip -o link show | cut -d: -f2 | cut -d@ -f1 | tr -d ' ' | tr '\n' ' ') "
    for name in $NAMESPACES; do
        case $namespaces in *" $name "*) taken="$taken namespace:$name" ;; esac
    done
    for name in $BRIDGES $PORTS; do
        case "$ports$links" in *" $name "*) taken="$taken port/link:$name" ;; esac
    done
    [ -z "$taken" ] || die "already present:$taken (another run? 'bench/seed.sh down' with the same SUFFIX removes a run's leftovers)"
    if [ -e "$WORK/pid" ] || [ -e "$WORK/vm1.pid" ] || [ -e "$WORK/vm2.pid" ]; then
        die "$WORK holds pid files of an earlier run: run 'bench/seed.sh down' first"
    fi
}

default_gw() { # the seed's `route add default gw`, which needs net-tools
    if command -v route >/dev/null; then
        ip netns exec "$1" route add default gw "$2"
    else
        ip netns exec "$1" ip route add default via "$2"
    fi
}

# ---------------------------------------------------------------------------------------
# 8.1 The load-balancing service

seed_81() {
    # (lab) the integration bridge the seed takes for granted, in the userspace datapath
    ovs-vsctl --timeout=10 add-br "$BR_INT" -- set bridge "$BR_INT" datapath_type=netdev \
        "external_ids:$OWNER_KEY=$SUFFIX"

    # 2. the load-balancer namespace and its port
    ovs-vsctl -- --if-exists del-port "$TAP" -- add-port "$BR_INT" "$TAP" -- set interface "$TAP" type=internal
    ovs-vsctl set Port "$TAP" tag=1
    ip link set "$TAP" address fa:16:3e:f4:8f:ae
    ip netns add "$NS_LB"
    ip netns exec "$NS_LB" sysctl -w net.ipv4.conf.all.promote_secondaries=1 >/dev/null
    ip link set "$TAP" netns "$NS_LB"
    ip netns exec "$NS_LB" ip link set lo up
    ip netns exec "$NS_LB" ip link set "$TAP" up
    ip netns exec "$NS_LB" ip addr show "$TAP" permanent scope global >/dev/null
    ip netns exec "$NS_LB" ip -4 addr add 10.0.0.100/24 brd 10.0.0.255 scope global dev "$TAP"
    ip netns exec "$NS_LB" ip route list dev "$TAP" scope link >/dev/null
    default_gw "$NS_LB" 10.0.0.1
    local t0=$EPOCHREALTIME
    ip netns exec "$NS_LB" arping -U -I "$TAP" -c 3 10.0.0.100 >/dev/null
    [ -z "${SEED_TIMING_FILE:-}" ] || echo "arping $t0 $EPOCHREALTIME" >>"$SEED_TIMING_FILE"

    # 3. the HAProxy configuration (the seed's, but the stats socket is not world-writable)
    mkdir -p "$WORK"
    sed "s|stats socket /root/sock mode 0666 level user|stats socket $WORK/sock mode 600 level user|" \
        "$BENCH_DIR/seed-haproxy.cfg" >"$WORK/haproxy.cfg"
    grep -q "stats socket $WORK/sock mode 600" "$WORK/haproxy.cfg"

    # 4. HAProxy inside the namespace
    ip netns exec "$NS_LB" haproxy -f "$WORK/haproxy.cfg" -p "$WORK/pid"

    # 5. vm1 and vm2 serve HTTP on port 80 (lab: a namespace each, HAProxy for `nc`)
    lab_vm vm1 "$NS_VM1" "$VM1" 10.0.0.81 server_81
    lab_vm vm2 "$NS_VM2" "$VM2" 10.0.0.82 server_82
}

lab_vm() {
    local vm=$1 ns=$2 port=$3 address=$4 body=$5
    ovs-vsctl -- add-port "$BR_INT" "$port" -- set interface "$port" type=internal -- set Port "$port" tag=1
    ip netns add "$ns"
    ip link set "$port" netns "$ns"
    ip netns exec "$ns" ip link set lo up
    ip netns exec "$ns" ip link set "$port" up
    ip netns exec "$ns" ip -4 addr add "$address/24" brd 10.0.0.255 scope global dev "$port"
    ip netns exec "$ns" ip route add default via 10.0.0.1
    cat >"$WORK/$vm.cfg" <<EOF
global
    daemon
    user haproxy
    group haproxy
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend $vm
    bind $address:80
    http-request return status 200 content-type text/plain string "$body\n"
EOF
    ip netns exec "$ns" haproxy -f "$WORK/$vm.cfg" -p "$WORK/$vm.pid"
}

# ---------------------------------------------------------------------------------------
# 8.2 A floating IP for the VIP, reachable from the external network

seed_82() {
    # 1. the external bridge (lab: netdev, and the external client where eth3 would be)
    ovs-vsctl --timeout=10 -- --if-exists del-br "$BR_EX"
    ovs-vsctl --timeout=10 -- --may-exist add-br "$BR_EX" -- set bridge "$BR_EX" datapath_type=netdev \
        "external_ids:$OWNER_KEY=$SUFFIX"
    ovs-vsctl add-port "$BR_EX" "$EXT" -- set interface "$EXT" type=internal
    ip netns add "$NS_EXT"
    ip link set "$EXT" netns "$NS_EXT"
    ip netns exec "$NS_EXT" ip link set lo up
    ip netns exec "$NS_EXT" ip link set dev "$EXT" up
    ip netns exec "$NS_EXT" ip -4 addr add 10.255.253.1/24 brd 10.255.253.255 scope global dev "$EXT"
    ip link set dev "$BR_EX" up

    # 2. the router namespace and the tenant gateway port (10.0.0.1)
    ovs-vsctl -- --if-exists del-port "$QR" -- add-port "$BR_INT" "$QR" -- set interface "$QR" type=internal
    ovs-vsctl --timeout=10 set Port "$QR" tag=1
    ip netns add "$NS_ROUTER"
    ip netns exec "$NS_ROUTER" ip link set lo up
    ip link set "$QR" netns "$NS_ROUTER"
    ip netns exec "$NS_ROUTER" ip link set "$QR" up
    ip netns exec "$NS_ROUTER" ip -4 addr add 10.0.0.1/24 brd 10.0.0.255 scope global dev "$QR"

    # 3. the router's external port (10.255.253.10)
    ovs-vsctl -- --if-exists del-port "$QG" -- add-port "$BR_EX" "$QG" -- set interface "$QG" type=internal
    ip link set "$QG" netns "$NS_ROUTER"
    ip netns exec "$NS_ROUTER" ip link set "$QG" up
    ip netns exec "$NS_ROUTER" ip -4 addr add 10.255.253.10/24 brd 10.255.253.255 scope global dev "$QG"
    ip netns exec "$NS_ROUTER" ip route replace default via 10.255.253.1 dev "$QG"
    ip netns exec "$NS_ROUTER" sysctl -w net.ipv4.ip_forward=1 >/dev/null

    # 4. SNAT/DNAT in Neutron's L3-agent chain layout, rule by rule as the author typed them
    local r=$NS_ROUTER
    ip netns exec "$r" iptables -N neutron-filter-top
    ip netns exec "$r" iptables -A FORWARD -j neutron-filter-top
    ip netns exec "$r" iptables -A OUTPUT -j neutron-filter-top
    ip netns exec "$r" iptables -N neutron-l3-agent-local
    ip netns exec "$r" iptables -A neutron-filter-top -j neutron-l3-agent-local
    ip netns exec "$r" iptables -N neutron-l3-agent-INPUT
    ip netns exec "$r" iptables -N neutron-l3-agent-OUTPUT
    ip netns exec "$r" iptables -N neutron-l3-agent-FORWARD
    ip netns exec "$r" iptables -A INPUT -j neutron-l3-agent-INPUT
    ip netns exec "$r" iptables -A OUTPUT -j neutron-l3-agent-OUTPUT
    ip netns exec "$r" iptables -A FORWARD -j neutron-l3-agent-FORWARD
    ip netns exec "$r" iptables -t nat -N neutron-l3-agent-PREROUTING
    ip netns exec "$r" iptables -t nat -N neutron-l3-agent-OUTPUT
    ip netns exec "$r" iptables -t nat -N neutron-l3-agent-POSTROUTING
    ip netns exec "$r" iptables -t nat -A PREROUTING -j neutron-l3-agent-PREROUTING
    ip netns exec "$r" iptables -t nat -A OUTPUT -j neutron-l3-agent-OUTPUT
    ip netns exec "$r" iptables -t nat -A POSTROUTING -j neutron-l3-agent-POSTROUTING
    ip netns exec "$r" iptables -t nat -N neutron-postrouting-bottom
    ip netns exec "$r" iptables -t nat -N neutron-l3-agent-snat
    ip netns exec "$r" iptables -t nat -N neutron-l3-agent-float-snat
    ip netns exec "$r" iptables -t nat -A POSTROUTING -j neutron-postrouting-bottom
    ip netns exec "$r" iptables -t nat -A neutron-postrouting-bottom -j neutron-l3-agent-snat
    ip netns exec "$r" iptables -t nat -A neutron-l3-agent-snat -j neutron-l3-agent-float-snat
    ip netns exec "$r" iptables -A neutron-l3-agent-INPUT -s 0.0.0.0/0 -d 127.0.0.1 -p tcp -m tcp --dport 9697 -j ACCEPT
    ip netns exec "$r" iptables -t nat -A neutron-l3-agent-PREROUTING -s 0.0.0.0/0 -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j REDIRECT --to-port 9697
    ip netns exec "$r" iptables -t nat -A neutron-l3-agent-snat -j neutron-l3-agent-float-snat
    ip netns exec "$r" iptables -t nat -A neutron-l3-agent-POSTROUTING ! -i "$QG" ! -o "$QG" -m conntrack ! --ctstate DNAT -j ACCEPT
    ip netns exec "$r" iptables -t nat -A neutron-l3-agent-snat -s 10.0.0.0/24 -j SNAT --to-source 10.255.253.100
    ip netns exec "$r" ip -4 addr add 10.255.253.100/24 brd 10.255.253.255 scope global dev "$QG"
    ip netns exec "$r" iptables -t nat -A neutron-l3-agent-PREROUTING -d 10.255.253.100/32 -j DNAT --to 10.0.0.100
    ip netns exec "$r" iptables -t nat -A neutron-l3-agent-OUTPUT -d 10.255.253.100/32 -j DNAT --to 10.0.0.100
    ip netns exec "$r" iptables -t nat -A neutron-l3-agent-float-snat -s 10.0.0.100 -j SNAT --to 10.255.253.100
}

# ---------------------------------------------------------------------------------------
# down: exactly what up created, whatever state a failed up left

stop_haproxy() { # by the pid file up wrote, and only a haproxy in the namespace up made
    local pidfile=$1 ns=$2 pid tries
    [ -f "$pidfile" ] || return 0
    for pid in $(cat "$pidfile"); do
        case $pid in '' | *[!0-9]*) continue ;; esac
        [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = haproxy ] || continue
        [ "$(ip netns identify "$pid" 2>/dev/null)" = "$ns" ] || continue
        kill -TERM "$pid" 2>/dev/null || continue
        tries=0
        while alive "$pid" && [ "$tries" -lt 50 ]; do
            sleep 0.1
            tries=$((tries + 1))
        done
        ! alive "$pid" || kill -KILL "$pid" 2>/dev/null || true
    done
    rm -f "$pidfile"
}

alive() { # running, not a zombie (a container's pid 1 may be slow to reap orphans)
    local _pid _comm state
    read -r _pid _comm state _ <"/proc/$1/stat" 2>/dev/null || return 1
    [ "$state" != Z ]
}

down() {
    local name present
    stop_haproxy "$WORK/pid" "$NS_LB"
    stop_haproxy "$WORK/vm1.pid" "$NS_VM1"
    stop_haproxy "$WORK/vm2.pid" "$NS_VM2"
    # Deleting a bridge deletes its ports, and with them the tap devices in the namespaces.
    for name in $BRIDGES; do
        if ovs-vsctl --timeout=10 br-exists "$name" &&
            [ "$(ovs-vsctl --timeout=10 br-get-external-id "$name" "$OWNER_KEY")" = "$SUFFIX" ]; then
            ovs-vsctl --timeout=10 del-br "$name"
        fi
    done
    present=" $(ip netns list | cut -d' ' -f1 | tr '\n' ' ') "
    for name in $NAMESPACES; do
        case $present in *" $name "*) ip netns delete "$name" ;; esac
    done
    if [ -d "$WORK" ]; then
        for name in $WORK_FILES; do rm -f "$WORK/$name"; done
        rmdir "$WORK" 2>/dev/null || true
    fi
}

names() {
    printf '%s\n' "NS_LB=$NS_LB" "NS_ROUTER=$NS_ROUTER" "NS_VM1=$NS_VM1" "NS_VM2=$NS_VM2" \
        "NS_EXT=$NS_EXT" "BR_INT=$BR_INT" "BR_EX=$BR_EX" "WORK=$WORK"
}

on_failure() {
    printf 'seed.sh: %s failed; this removes what it created:\n  %s\n' "$1" \
        "SUFFIX=$SUFFIX BR_INT=$BR_INT BR_EX=$BR_EX WORK=$WORK bench/seed.sh down" >&2
}

[ "$#" -eq 1 ] || die "usage: bench/seed.sh up|up81|down|names"
check_names
case $1 in
    up | up81)
        [ "$(id -u)" -eq 0 ] || die "needs root (namespaces, Open vSwitch, iptables)"
        check_free
        trap "on_failure $1" EXIT # $1 is up or up81 here
        seed_81
        [ "$1" = up81 ] || seed_82
        trap - EXIT
        ;;
    down)
        [ "$(id -u)" -eq 0 ] || die "needs root (namespaces, Open vSwitch, iptables)"
        down
        ;;
    names) names ;;
    *) die "usage: bench/seed.sh up|up81|down|names" ;;
esac
