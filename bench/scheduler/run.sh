#!/usr/bin/env bash
# The scheduler benchmark: for each mode (plain, spread, antiaffinity) a
# fresh `capstan server` (SQLite, temporary data dir, free port; scheduler
# on, no agent, no controllers) gets --nodes Node objects and --pods pods
# from scheduler_bench, which reports the scheduler's pods/s beside the
# API's own binding floor measured in the same run. See docs/performance.md.
#
# Usage: bench/scheduler/run.sh [scheduler_bench flags...]  (e.g. --nodes 5000 --pods 10000)
# Env:   BUILD (build dir, default build), MODES (default "plain spread antiaffinity"),
#        BENCH_DIR (where temporary data dirs go; default the build dir).
set -euo pipefail

# shellcheck source=../api/server.sh
source "$(dirname "$0")/../api/server.sh"

bench_binaries scheduler_bench

server_pid=""
tmp=""
cleanup() {
  stop_server "$server_pid" 100
  if [[ -n "$tmp" ]]; then rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for mode in ${MODES:-plain spread antiaffinity}; do
  mkdir -p "${BENCH_DIR:-$build}"
  tmp="$(mktemp -d "${BENCH_DIR:-$build}/sched-bench.XXXXXX")"
  mkdir -p "$tmp/data"
  "$capstan" --log-level warn server --data-dir "$tmp/data" --https-listen-port 0 --bind-address 127.0.0.1 \
    --disable-agent --disable-controller-manager >"$tmp/server.log" 2>&1 &
  server_pid=$!
  url="$(server_url "$server_pid" 300)" || exit 1
  ${BENCH_WRAP:-} "$bench" --server "$url" --ca "$tmp/data/tls/ca.crt" --token "$(cat "$tmp/data/token")" --mode "$mode" --server-pid "$server_pid" "$@"
  stop_server "$server_pid" 100
  server_pid=""
  rm -rf "$tmp"
  tmp=""
done
