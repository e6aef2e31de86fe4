#!/usr/bin/env bash
# The services benchmark (issue 6). Needs root (network namespaces, nft).
# Every figure is measured beside its floor in the same run:
#
#  1. Network programming: in a scratch network namespace, full syncs of
#     1,000 services x 10 endpoints and single-service changes with 10,000
#     services present, by the proxy's rule generator + libnftables, beside
#     the same transactions applied by `nft -f` alone.
#  2. Data path: two namespaces joined by a veth pair, a client ("pod",
#     10.254.0.1) and a server ("pod", 10.254.0.2, echo on :8080, sink on
#     :8081); the proxy's table in the client's namespace with a ClusterIP
#     10.96.0.10 (ports 80, 81) for the server among 1,000 other services.
#     New connections/s, round-trip latency and bulk throughput through the
#     ClusterIP beside the same against the pod IP, in alternating pairs;
#     each figure is the median of the pairs' ratios. Then the same from a
#     pod: pods A and B on a node's bridge (br_netfilter on), the table in
#     the node's namespace, as on a capstan node.
#
# Traffic stays inside the namespaces created here; they (and with them the
# veth pair, the nft table and the server process) are removed on exit,
# also on failure or Ctrl-C.
#
# Usage: bench/service/run.sh [--skip-programming] [--skip-data-path]
# Env:   BUILD (build dir, default build), SERVICES (1000), BIG (10000),
#        CHANGES (50), ROUNDS (5), PAIRS (12: data-path pairs, pod IP and
#        ClusterIP, per measurement), SECONDS_EACH (1: each half of a pair),
#        DNS_ROUNDS (3), BENCH_JSON (default
#        $BUILD/bench/service_bench.json).
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${BUILD:-build}"
[[ "$build" = /* ]] || build="$root/$build"
bench="$build/bin/service_bench"
[[ -x "$bench" && -x "$build/bin/dns_bench" ]] || ninja -C "$build" service_bench dns_bench
[[ $EUID -eq 0 ]] || { echo "run.sh: needs root (network namespaces, nftables)" >&2; exit 1; }

programming=1
data_path=1
for arg in "$@"; do
  case "$arg" in
    --skip-programming) programming=0 ;;
    --skip-data-path) data_path=0 ;;
    *) echo "run.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done

json="${BENCH_JSON:-$build/bench/service_bench.json}"
mkdir -p "$(dirname "$json")"
: >"$json"

tag="$$"
ns_prog="capstan-sb-prog-$tag"
ns_client="capstan-sb-cli-$tag"
ns_server="capstan-sb-srv-$tag"
ns_node="capstan-sb-node-$tag"
ns_pod_a="capstan-sb-pa-$tag"
ns_pod_b="capstan-sb-pb-$tag"
server_pids=()
tmp="$(mktemp -d)"

cleanup() {
  for pid in "${server_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  # Deleting a namespace deletes its nft tables, its bridge and its end of
  # each veth pair (and so the pair).
  for ns in "$ns_prog" "$ns_client" "$ns_server" "$ns_node" "$ns_pod_a" "$ns_pod_b"; do
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "service_bench at $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) CPUs," \
  "load average $(cut -d' ' -f1-3 /proc/loadavg), $(nft --version)"

if [[ $programming -eq 1 ]]; then
  ip netns add "$ns_prog"
  ip netns exec "$ns_prog" "$bench" program --services "${SERVICES:-1000}" --big "${BIG:-10000}" \
    --changes "${CHANGES:-50}" --rounds "${ROUNDS:-5}" --dir "$tmp" --json "$json"
  ip netns del "$ns_prog"
fi

# Starts the echo/sink server in a namespace and waits until it listens.
serve_in() {
  ip netns exec "$1" "$bench" serve &
  server_pids+=($!)
  for _ in $(seq 100); do
    ip netns exec "$1" ss -ltn 2>/dev/null | grep -q ':8081 ' && break
    sleep 0.05
  done
}

# ClusterIP beside pod IP from namespace $2 (pod IP $3): first through the
# nftables rules alone (DNAT), then with the agent's socket load balancer
# balancing the sockets of namespace $4 at connect(), as capstan runs.
compare_both() {
  local label="$1" ns="$2" target="$3" lb_netns="$4"
  echo "ClusterIP through the rules alone (DNAT) / pod IP, ${PAIRS:-12} alternating pairs of ${SECONDS_EACH:-1} s:"
  ip netns exec "$ns" "$bench" compare --target "$target" --cluster-ip 10.96.0.10 \
    --pairs "${PAIRS:-12}" --seconds "${SECONDS_EACH:-1}" --label "$label-dnat" --json "$json"
  "$bench" socket-lb --cluster-ip 10.96.0.10 --endpoint "$target" --services "${SERVICES:-1000}" \
    --netns "$lb_netns" >"$tmp/socket-lb.out" &
  local lb_pid=$!
  server_pids+=("$lb_pid")
  for _ in $(seq 100); do
    grep -q "socket load balancer" "$tmp/socket-lb.out" && break
    kill -0 "$lb_pid" 2>/dev/null || { echo "run.sh: socket-lb failed" >&2; exit 1; }
    sleep 0.05
  done
  echo "ClusterIP with socket load balancing (as capstan runs) / pod IP:"
  ip netns exec "$ns" "$bench" compare --target "$target" --cluster-ip 10.96.0.10 \
    --pairs "${PAIRS:-12}" --seconds "${SECONDS_EACH:-1}" --label "$label" --json "$json"
  kill "$lb_pid"
  wait "$lb_pid" 2>/dev/null || true
}

if [[ $data_path -eq 1 ]]; then
  ip netns add "$ns_client"
  ip netns add "$ns_server"
  ip link add sb-c-$tag netns "$ns_client" type veth peer name sb-s-$tag netns "$ns_server"
  ip -n "$ns_client" addr add 10.254.0.1/24 dev sb-c-$tag
  ip -n "$ns_server" addr add 10.254.0.2/24 dev sb-s-$tag
  for ns in "$ns_client" "$ns_server"; do ip -n "$ns" link set lo up; done
  ip -n "$ns_client" link set sb-c-$tag up
  ip -n "$ns_server" link set sb-s-$tag up
  # The service range is routed to the veth, as a node routes it to its
  # pods' bridge; DNAT in the output hook then picks the endpoint.
  ip -n "$ns_client" route add 10.96.0.0/16 dev sb-c-$tag
  ip netns exec "$ns_client" "$bench" rules --cluster-ip 10.96.0.10 --endpoint 10.254.0.2 \
    --services "${SERVICES:-1000}"
  serve_in "$ns_server"
  echo "data path from the node: client namespace (the table in its output hook) -> server namespace over a veth;"
  compare_both from-node "$ns_client" 10.254.0.2 "/run/netns/$ns_client"

  # From a pod, as on a capstan node: two pods on the node's bridge (CNI
  # bridge, hairpin on, br_netfilter on), the table in the node's
  # namespace. The pod IP is reached by bridging; the ClusterIP goes to
  # the gateway, is DNATed in the node's prerouting and bridged on.
  ip netns add "$ns_node"
  ip netns add "$ns_pod_a"
  ip netns add "$ns_pod_b"
  for ns in "$ns_node" "$ns_pod_a" "$ns_pod_b"; do ip -n "$ns" link set lo up; done
  ip -n "$ns_node" link add br0 type bridge
  ip -n "$ns_node" addr add 10.254.1.1/24 dev br0
  ip -n "$ns_node" link set br0 up
  n=2
  for ns in "$ns_pod_a" "$ns_pod_b"; do
    ip -n "$ns_node" link add "v$n" type veth peer name eth0 netns "$ns"
    ip -n "$ns_node" link set "v$n" master br0 up
    ip -n "$ns_node" link set "v$n" type bridge_slave hairpin on
    ip -n "$ns" addr add "10.254.1.$n/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" route add default via 10.254.1.1
    n=$((n + 1))
  done
  ip netns exec "$ns_node" sysctl -qw net.ipv4.ip_forward=1
  ip netns exec "$ns_node" sh -c 'echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables'
  ip netns exec "$ns_node" "$bench" rules --cluster-ip 10.96.0.10 --endpoint 10.254.1.3 \
    --services "${SERVICES:-1000}"
  serve_in "$ns_pod_b"
  echo "data path from a pod: pod A -> pod B over the node's bridge, the table in the node's namespace;"
  compare_both from-pod "$ns_pod_a" 10.254.1.3 "/run/netns/$ns_pod_a"
  # Cluster DNS from a pod: the servers on the server namespace's veth
  # address, the load client in the client namespace, as a pod's queries
  # cross its veth to the node (bench/service/dns_bench.cc).
  echo "cluster DNS from a pod (client namespace -> 10.254.0.2 over veth):"
  dns_out="$(ip netns exec "$ns_server" "$build/bin/dns_bench" --address 10.254.0.2 --client-netns "$ns_client" \
    --seconds 3 --rounds "${DNS_ROUNDS:-3}")"
  echo "$dns_out"
  grep '^{' <<<"$dns_out" >>"$json"
fi
echo "figures as JSON lines: $json"
