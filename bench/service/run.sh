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
#     ClusterIP beside the same against the pod IP, alternating.
#
# Traffic stays inside the namespaces created here; they (and with them the
# veth pair, the nft table and the server process) are removed on exit,
# also on failure or Ctrl-C.
#
# Usage: bench/service/run.sh [--skip-programming] [--skip-data-path]
# Env:   BUILD (build dir, default build), SERVICES (1000), BIG (10000),
#        CHANGES (50), ROUNDS (5), SECONDS_EACH (3), DATA_ROUNDS (3: pod IP and
#        ClusterIP alternate this many times; the summary takes medians),
#        BENCH_JSON (default
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
server_pid=""
tmp="$(mktemp -d)"

cleanup() {
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  # Deleting a namespace deletes its nft tables and its end of the veth
  # pair (and so the pair).
  for ns in "$ns_prog" "$ns_client" "$ns_server"; do
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
  ip netns exec "$ns_server" "$bench" serve &
  server_pid=$!
  for _ in $(seq 100); do
    ip netns exec "$ns_server" ss -ltn 2>/dev/null | grep -q ':8081 ' && break
    sleep 0.05
  done
  echo "data path, client namespace -> server namespace over veth, ${SECONDS_EACH:-3} s per measurement:"
  for round in $(seq "${DATA_ROUNDS:-3}"); do
    for target in pod-ip cluster-ip; do
      if [[ $target == pod-ip ]]; then
        args=(--target 10.254.0.2 --port-echo 8080 --port-sink 8081)
      else
        args=(--target 10.96.0.10 --port-echo 80 --port-sink 81)
      fi
      ip netns exec "$ns_client" "$bench" load "${args[@]}" --seconds "${SECONDS_EACH:-3}" \
        --label "$target" --json "$json"
    done
  done
  # Cluster DNS from a pod: the servers on the server namespace's veth
  # address, the load client in the client namespace, as a pod's queries
  # cross its veth to the node (bench/service/dns_bench.cc).
  echo "cluster DNS from a pod (client namespace -> 10.254.0.2 over veth):"
  dns_out="$(ip netns exec "$ns_server" "$build/bin/dns_bench" --address 10.254.0.2 --client-netns "$ns_client" \
    --seconds "${SECONDS_EACH:-3}" --rounds "${DATA_ROUNDS:-3}")"
  echo "$dns_out"
  grep '^{' <<<"$dns_out" >>"$json"
  python3 - "$json" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"data_path"' in l]
med = lambda label, k: statistics.median(r[k] for r in rows if r["label"] == label)
print("data path, medians: ClusterIP / pod IP")
for k, name, higher in (("conns_per_s", "new connections/s", True), ("conn_p99_ms", "connection p99", False),
                        ("rr_per_s", "round trips/s", True), ("rr_p50_ms", "round trip p50", False),
                        ("rr_p99_ms", "round trip p99", False), ("bulk_gbps", "bulk Gbit/s", True)):
    a, b = med("cluster-ip", k), med("pod-ip", k)
    print(f"  {name:<20} {a:10.3f} / {b:10.3f} = {a / b:5.3f}")
PY
fi
echo "figures as JSON lines: $json"
