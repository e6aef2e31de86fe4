#!/usr/bin/env bash
# The API server benchmark: starts a real `capstan server` (SQLite store,
# temporary data dir, free port, no agent), drives it with api_bench over
# HTTPS, prints a table and writes JSON. See docs/performance.md.
#
# Usage: bench/api/run.sh [api_bench flags...]   (e.g. --creates 50000)
# Env:   BUILD (build dir, default build), BENCH_JSON (output file, default
#        $BUILD/bench/api_bench.json), BENCH_DIR (where the temporary data
#        dir goes; default the build dir, so it sits on a real disk: fsync on
#        tmpfs is free and would make the floors meaningless),
#        SERVER_ARGS (extra `capstan server` flags), SERVER_WRAPPER (a
#        command that execs the server, e.g. "env GLIBC_TUNABLES=..."),
#        PERF=1 (record the server with perf into $BUILD/bench/perf.data;
#        PERF_ARGS replaces the default --call-graph dwarf).
set -euo pipefail

# shellcheck source=server.sh
source "$(dirname "$0")/server.sh"

bench_binaries api_bench
json="${BENCH_JSON:-$build/bench/api_bench.json}"

# 1,000 watchers and 64 clients need more descriptors than some defaults.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

mkdir -p "${BENCH_DIR:-$build}" "$(dirname "$json")"
tmp="$(mktemp -d "${BENCH_DIR:-$build}/api-bench.XXXXXX")"
server_pid=""
perf_pid=""
cleanup() {
  if [[ -n "$perf_pid" ]] && kill -0 "$perf_pid" 2>/dev/null; then
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" 2>/dev/null || true
  fi
  stop_server "$server_pid" 100
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$tmp/data" "$tmp/scratch"
# Port 0: the server picks a free port and writes it into its kubeconfig.
${SERVER_WRAPPER:-} "$capstan" --log-level warn server --data-dir "$tmp/data" --https-listen-port 0 --bind-address 127.0.0.1 \
  --disable-agent ${SERVER_ARGS:-} >"$tmp/server.log" 2>&1 &
server_pid=$!

url="$(server_url "$server_pid" 300)" || exit 1

if [[ "${PERF:-}" = 1 ]]; then
  perf record -F 999 ${PERF_ARGS:---call-graph dwarf,32768} -p "$server_pid" -o "$build/bench/perf.data" 2>"$tmp/perf.log" &
  perf_pid=$!
fi

echo "run.sh: capstan server pid $server_pid at $url, data in $tmp/data" >&2
status=0
label="capstan $(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)"
"$bench" --server "$url" --data-dir "$tmp/data" --scratch-dir "$tmp/scratch" --server-pid "$server_pid" \
  --json "$json" --label "$label" "$@" || status=$?
if [[ $status -ne 0 ]]; then
  echo "run.sh: api_bench exited with $status; server log tail:" >&2
  tail -20 "$tmp/server.log" >&2
fi
exit $status
