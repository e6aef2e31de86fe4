#!/usr/bin/env bash
# Where the API server's time goes in one benchmark phase: runs `capstan
# server` under valgrind's callgrind, prepares the data the phase needs with
# collection off, collects only while api_bench runs the phase, and writes
# the inclusive top costs to $BUILD/bench/profile-PHASE.txt (the raw
# callgrind.out beside it, for kcachegrind or callgrind_annotate).
# Instrumentation is off until the phase starts (callgrind_control -i on).
#
# Usage: bench/api/profile.sh creates|gets|pods|list|watch [api_bench flags...]
# Counts are small by default: callgrind runs the server ~50x slower.
set -euo pipefail

# shellcheck source=server.sh
source "$(dirname "$0")/server.sh"

phase="${1:?usage: profile.sh creates|gets|pods|list|watch [api_bench flags...]}"
shift
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${BUILD:-build}"
[[ "$build" = /* ]] || build="$root/$build"
capstan="$build/bin/capstan"
bench="$build/bin/api_bench"
[[ -x "$capstan" && -x "$bench" ]] || { echo "profile.sh: build capstan and api_bench first" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "profile.sh: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

mkdir -p "$build/bench"
tmp="$(mktemp -d "$build/api-profile.XXXXXX")"
out="$build/bench/callgrind.out.$phase"
server_pid=""
cleanup() {
  stop_server "$server_pid" 300
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$tmp/data" "$tmp/scratch"
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" \
  "$capstan" --log-level warn server --data-dir "$tmp/data" --https-listen-port 0 --bind-address 127.0.0.1 \
  --disable-agent >"$tmp/server.log" 2>&1 &
server_pid=$!
url="$(server_url "$server_pid" 1200)" || exit 1

common=(--server "$url" --data-dir "$tmp/data" --scratch-dir "$tmp/scratch" --server-pid "$server_pid")
small=(--clients 16 --creates 2000 --gets 2000 --pods 1000 --list-runs 3 --watchers 200 --events 3)
# What the phase reads must exist first; that is not collected.
case "$phase" in
  gets) "$bench" "${common[@]}" "${small[@]}" --warmup 200 --phases creates >/dev/null ;;
  list) "$bench" "${common[@]}" "${small[@]}" --warmup 200 --phases pods >/dev/null ;;
  creates|pods|watch) "$bench" "${common[@]}" "${small[@]}" --warmup 200 --phases none >/dev/null ;;
  *) echo "profile.sh: unknown phase $phase" >&2; exit 2 ;;
esac
"$bench" "${common[@]}" "${small[@]}" --warmup 0 --phases "$phase" \
  --hook-on "callgrind_control -i on $server_pid >/dev/null 2>&1" \
  --hook-off "callgrind_control -i off $server_pid >/dev/null 2>&1" "$@" >/dev/null
kill -TERM "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=""
callgrind_annotate --inclusive=yes "$out" 2>/dev/null | head -80 >"$build/bench/profile-$phase.txt"
callgrind_annotate "$out" 2>/dev/null | head -60 >>"$build/bench/profile-$phase.txt"
echo "profile.sh: $build/bench/profile-$phase.txt (raw: $out)"
