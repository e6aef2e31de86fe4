#!/usr/bin/env bash
# Runs one libFuzzer target for CAPSTAN_FUZZ_SECONDS (default 20) on a copy
# of its seed corpus. The targets are built by `make fuzz-build`.
set -euo pipefail
target=$1
src=${CAPSTAN_SOURCE_DIR:?}
bin=${CAPSTAN_FUZZ_DIR:-$src/build-fuzz}/bin/$target
seconds=${CAPSTAN_FUZZ_SECONDS:-20}
[[ -x $bin ]] || { echo "fuzz target $bin is not built (run make fuzz-build)" >&2; exit 1; }
case $target in
  fuzz_request_body) seeds=$src/tests/fuzz/corpus/body ;;
  fuzz_selectors) seeds=$src/tests/fuzz/corpus/selectors ;;
esac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$seeds"/. "$work"/
cd "$work"
"$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 "$work"
