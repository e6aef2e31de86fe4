#!/usr/bin/env bash
# Installs every Debian package capstan needs to build, run and test.
# Idempotent and quick when everything is already present: it asks dpkg
# first and only calls apt-get for what is missing.
set -euo pipefail

PACKAGES=(
  # toolchain
  g++ cmake ninja-build make pkg-config ccache
  # libraries (chosen once for the whole code base)
  libboost1.81-dev libboost-url1.81-dev
  nlohmann-json3-dev libsqlite3-dev libssl-dev libyaml-cpp-dev
  libcli11-dev libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev prometheus-cpp-dev
  libprotobuf-dev
  # the memory allocator of the capstan binary: glibc's malloc took about
  # 30 % of the server's CPU under load (docs/performance.md)
  libjemalloc-dev
  # SPDY header compression (kubectl exec/port-forward over SPDY/3.1)
  zlib1g-dev
  # cluster DNS: query parsing
  libldns-dev
  # service-account tokens (JWT, ES256)
  libjwt-dev
  # fuzzing (libFuzzer ships with clang's runtime)
  clang libclang-rt-14-dev
  # end-to-end tests: the official Python client, openssl CLI, curl
  python3-kubernetes python3-yaml openssl curl procps
  # (nodejs and npm, for the JavaScript client in tests/e2e/clients/node, are
  # asked for by command below: a nodejs from elsewhere, e.g. NodeSource,
  # ships npm itself and conflicts with Debian's npm package)
  # node agent: container runtime, CNI plugins, packet filters, image layers
  # (libarchive), registry pulls (libcurl); busybox-static builds the test
  # image and docker-registry serves it for pull tests; kmod's modprobe
  # loads br_netfilter where the kernel has it as a module
  crun containernetworking-plugins iproute2 iptables nftables kmod
  libarchive-dev libcurl4-openssl-dev busybox-static docker-registry
  # service proxy: nftables rules through libnftables, in-process; element
  # changes as nfnetlink batches through libnftnl and libmnl
  libnftables-dev libnftnl-dev libmnl-dev
  # socket-level load balancing for ClusterIPs: a BPF program built by clang
  # (above), made a skeleton header by bpftool, loaded by libbpf
  libbpf-dev bpftool
  # stale UDP flows of removed endpoints deleted from conntrack
  libnetfilter-conntrack-dev
  # observability e2e: a real Prometheus scraping capstan and a real
  # Alertmanager receiving its alerts (tests start their own on free ports;
  # the packaged services are never started, see below)
  prometheus prometheus-alertmanager
  # dashboard browser tests: headless Chromium driven by playwright-core
  chromium
)

# Packages that ship a daemon the tests run themselves: their services must
# not start on install nor stay enabled.
NO_SERVICE=(prometheus prometheus-alertmanager)

disable_services() {
  [[ $(id -u) -eq 0 ]] && command -v systemctl >/dev/null || return 0
  for s in "${NO_SERVICE[@]}"; do
    # `disable` works offline (symlinks); `--now` only with a running systemd.
    if systemctl is-enabled --quiet "$s" 2>/dev/null; then
      echo "deps: disabling the packaged $s service"
      systemctl disable "$s" >/dev/null 2>&1 || true
    fi
    if [[ -d /run/systemd/system ]] && systemctl is-active --quiet "$s" 2>/dev/null; then
      systemctl stop "$s" || true
    fi
  done
}

missing=()
for p in "${PACKAGES[@]}"; do
  # Comments in the array are not packages.
  [[ "$p" == \#* ]] && continue
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)

# The npm trees, exactly as their package-lock.json pins them: the
# JavaScript client the e2e tests drive (tests/e2e/clients/node) and the
# dashboard's front end and browser-test driver (dashboard/). `npm ci`
# starts from an empty node_modules, so it runs only when the lock file
# changed since the last install (its hash is kept inside node_modules) or
# node_modules is missing.
npm_tree() {
  local dir="$1" stamp want
  stamp="$dir/node_modules/.capstan-lock.sha256"
  want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && return 0
  echo "deps: npm ci in ${dir#"$PWD"/}"
  # No install scripts in these trees; --ignore-scripts keeps it that way.
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
}

node_clients() {
  local root
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  npm_tree "$root/tests/e2e/clients/node"
  npm_tree "$root/dashboard"
}

if ((${#missing[@]} == 0)); then
  disable_services
  node_clients
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "deps: missing packages: ${missing[*]}; run as root (or install them) to continue" >&2
  exit 1
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# invoke-rc.d and deb-systemd-invoke ask policy-rc.d: 101 means "do not
# start services" during this install (an existing policy is left alone).
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
disable_services
node_clients
