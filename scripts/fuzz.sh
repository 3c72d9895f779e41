#!/usr/bin/env bash
# Runs every Go fuzz target in the module for FUZZTIME (default 10m) each,
# one after another, and prints a summary line per target. New crashers are
# written by the go tool under the package's testdata/fuzz/ directory.
#
#   FUZZTIME=30s ./scripts/fuzz.sh              # all targets
#   FUZZTIME=10m ./scripts/fuzz.sh ./session/...  # some packages
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-10m}
pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./...)

failed=0
ran=0
for pkg in $(go list "${pkgs[@]}"); do
  for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    ran=$((ran + 1))
    start=$(date +%s)
    if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" >"/tmp/fuzz-${target}.log" 2>&1; then
      echo "fuzz: ok   $pkg $target ($(( $(date +%s) - start ))s)"
    else
      failed=$((failed + 1))
      echo "fuzz: FAIL $pkg $target (log: /tmp/fuzz-${target}.log)"
      tail -20 "/tmp/fuzz-${target}.log"
    fi
  done
done
echo "fuzz: $((ran - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
