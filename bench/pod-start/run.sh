#!/usr/bin/env bash
# The pod start benchmark (issue 4's Proof): a fresh `capstan server` with
# its node agent (real crun, real CNI; own node name, bridge and pod/service
# ranges, --isolate-pod-network, DNS upstream on a closed loopback port so
# no query leaves the machine, no ingress, temporary data dir) and the
# busybox test image imported; then pod_start_bench measures pods one at a
# time, --burst pods at once, the server's idle CPU/RSS with them running,
# crash -> restart, and the floor (CNI ADD + crun create/start by
# themselves) in the same run. See docs/performance.md. Needs root.
#
# Everything it makes is removed on exit, also on failure or Ctrl-C: pods,
# the server, then `capstan cleanup` (containers, netns, veths, bridge,
# cgroups, rules) and the floor's own leftovers.
#
# Usage: bench/pod-start/run.sh [pod_start_bench flags...]  (e.g. --serial 50 --burst 100)
# Env:   BUILD (build dir, default build), BENCH_DIR (where the temporary
#        data dir goes; default the build dir), METRICS_OUT (a file to keep
#        the agent's /metrics in after the run: its runtime operation and
#        pod worker histograms break the pod start down), SERVER_FLAGS
#        (more `capstan server` flags, e.g. --prepare-restarts=false to
#        compare restarts made from scratch), SERVER_LOG_OUT (a file to
#        keep the server's log in).
set -euo pipefail

# shellcheck source=../api/server.sh
source "$(dirname "$0")/../api/server.sh"

[[ "$(id -u)" = 0 ]] || { echo "run.sh: needs root (crun, CNI)" >&2; exit 1; }
bench_binaries pod_start_bench

suffix="$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
node="bench-$suffix"
bridge="cpb$suffix"
floor_bridge="cpf$suffix"

# Pod and service ranges no other cluster on this machine uses (the e2e
# tests' reservation scheme, tests/e2e/cluster.py).
ranges_dir="${TMPDIR:-/tmp}/capstan-e2e-ranges"
mkdir -p "$ranges_dir"
reservation=""
for _ in $(seq 200); do
  a=$((64 + RANDOM % 64))
  ip -4 route | grep -q "10\.$a\.\|10\.$((a + 64))\." && continue
  if (set -o noclobber; : >"$ranges_dir/$a") 2>/dev/null; then reservation="$ranges_dir/$a"; break; fi
done
[[ -n "$reservation" ]] || { echo "run.sh: no free 10.x range" >&2; exit 1; }

server_pid=""
tmp=""
cleanup() {
  set +e
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    KUBECONFIG="$tmp/data/kubeconfig.yaml" timeout 90 kubectl delete pods --all -A --wait=true --timeout=60s \
      >/dev/null 2>&1
  fi
  stop_server "$server_pid" 200
  [[ -n "${SERVER_LOG_OUT:-}" && -n "$tmp" ]] && cp "$tmp/server.log" "$SERVER_LOG_OUT"
  if [[ -n "$tmp" ]]; then
    "$capstan" cleanup --data-dir "$tmp/data" --node-name "$node" --cni-bridge "$bridge" --isolate-pod-network \
      >"$tmp/cleanup.log" 2>&1 || cat "$tmp/cleanup.log" >&2
    "$bench" --cleanup-floor --work "$tmp/work" --floor-bridge "$floor_bridge"
    # The iptables-nft tables the agent's rules brought, if now empty.
    [[ -f "$tmp/netfilter-before.json" ]] &&
      /usr/bin/python3 "$root/tests/netfilter_tables.py" sweep "$tmp/netfilter-before.json" >/dev/null
    rm -rf "$tmp"
  fi
  rm -f "$reservation"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "${BENCH_DIR:-$build}"
tmp="$(mktemp -d "${BENCH_DIR:-$build}/pod-bench.XXXXXX")"
mkdir -p "$tmp/data" "$tmp/work"
/usr/bin/python3 "$root/tests/netfilter_tables.py" record "$tmp/netfilter-before.json"
/usr/bin/python3 "$root/tests/images/build_busybox_image.py" --archive "$tmp/busybox.tar" --tag 1 >/dev/null
"$capstan" image import "$tmp/busybox.tar" --name capstan.test/busybox:1 --data-dir "$tmp/data" >/dev/null
# A loopback port nobody listens on: the cluster DNS's upstream (pods here resolve nothing).
dns_port="$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

"$capstan" --log-level warn server --data-dir "$tmp/data" --https-listen-port 0 --bind-address 127.0.0.1 \
  --node-name "$node" --cni-bridge "$bridge" --cluster-cidr "10.$a.0.0/16" --service-cidr "10.$((a + 64)).0.0/16" \
  --isolate-pod-network --dns-upstream "127.0.0.1:$dns_port" --kubelet-port 0 --disable-ingress ${SERVER_FLAGS:-} \
  >"$tmp/server.log" 2>&1 &
server_pid=$!
url="$(server_url "$server_pid" 300)" || exit 1
export KUBECONFIG="$tmp/data/kubeconfig.yaml"
for _ in $(seq 600); do
  kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/server.log" >&2; exit 1; }
  ready="$(kubectl get node "$node" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true)"
  [[ "$ready" = True ]] && kubectl get serviceaccount default >/dev/null 2>&1 && break
  sleep 0.1
done
[[ "$ready" = True ]] || { echo "run.sh: node $node not Ready" >&2; tail -50 "$tmp/server.log" >&2; exit 1; }

rc=0
"$bench" --server "$url" --ca "$tmp/data/tls/ca.crt" --token "$(cat "$tmp/data/token")" --server-pid "$server_pid" \
  --work "$tmp/work" --floor-subnet "10.$a.255.0/24" --floor-bridge "$floor_bridge" \
  --sandbox-dir "/run/capstan/$node/netns" "$@" || rc=$?
if [[ -n "${METRICS_OUT:-}" ]]; then
  kubectl get --raw "/api/v1/nodes/$node/proxy/metrics" >"$METRICS_OUT" || echo "run.sh: no agent metrics" >&2
fi
if [[ $rc != 0 ]]; then
  echo "run.sh: pod_start_bench failed; server log tail:" >&2
  tail -30 "$tmp/server.log" >&2
  exit "$rc"
fi
