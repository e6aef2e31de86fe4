# Sourced by the benchmarks' run.sh scripts and profile.sh: where the
# binaries are and the benchmarked server's lifecycle.
# Callers set $tmp (a scratch dir holding data/ and server.log).

# bench_binaries NAME: sets $root, $build (from $BUILD, default build),
# $capstan and $bench ($build/bin/NAME, built if missing); fails without
# the capstan binary.
bench_binaries() {
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  build="${BUILD:-build}"
  [[ "$build" = /* ]] || build="$root/$build"
  capstan="$build/bin/capstan"
  bench="$build/bin/$1"
  [[ -x "$capstan" ]] || { echo "run.sh: $capstan is missing; run 'make build'" >&2; return 1; }
  [[ -x "$bench" ]] || ninja -C "$build" "$1"
}

# stop_server PID TENTHS: SIGTERM, wait up to TENTHS tenths of a second, then SIGKILL.
stop_server() {
  local pid=$1 tenths=$2
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq "$tenths"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# server_url PID TENTHS: waits for the server's kubeconfig and prints the URL
# in it (the server picked its port); fails if the server exits first.
server_url() {
  local pid=$1 tenths=$2 url=""
  for _ in $(seq "$tenths"); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "capstan server exited:" >&2; cat "$tmp/server.log" >&2; return 1
    fi
    if [[ -f "$tmp/data/kubeconfig.yaml" ]]; then
      url="$(sed -n 's/^ *server: *\(https:\/\/[^ ]*\).*/\1/p' "$tmp/data/kubeconfig.yaml" | head -1)"
      [[ -n "$url" ]] && { echo "$url"; return 0; }
    fi
    sleep 0.1
  done
  echo "no server URL in $tmp/data/kubeconfig.yaml" >&2
  return 1
}
