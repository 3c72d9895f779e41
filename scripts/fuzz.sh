#!/usr/bin/env bash
# Runs every Go fuzz target in the given packages (default: the module) for
# FUZZTIME each (default 10m) and prints one line per target, then a summary.
# FUZZJOBS targets run at once (default 1), each with FUZZWORKERS workers
# (default: all cores when FUZZJOBS is 1, else 1). New crashers are written by
# the go tool under the package's testdata/fuzz/ directory; logs go to
# FUZZLOGS (default /tmp/samizdat-fuzz).
#
#   FUZZTIME=30s ./scripts/fuzz.sh                          # all targets
#   FUZZTIME=10m FUZZJOBS=3 ./scripts/fuzz.sh ./session/...  # some packages
set -euo pipefail
cd "$(dirname "$0")/.."
export FUZZTIME=${FUZZTIME:-10m}
jobs=${FUZZJOBS:-1}
if [ "$jobs" -gt 1 ]; then export FUZZWORKERS=${FUZZWORKERS:-1}; else export FUZZWORKERS=${FUZZWORKERS:-$(nproc)}; fi
export FUZZLOGS=${FUZZLOGS:-/tmp/samizdat-fuzz}
mkdir -p "$FUZZLOGS"
pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./...)

list=$(for pkg in $(go list "${pkgs[@]}"); do
  for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do echo "$pkg $target"; done
done)

fuzz_one() {
  local pkg=$1 target=$2 log start
  log="$FUZZLOGS/$(echo "$pkg" | tr / _)-$target.log"
  start=$(date +%s)
  if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" -parallel "$FUZZWORKERS" "$pkg" >"$log" 2>&1; then
    echo "fuzz: ok   $pkg $target $(( $(date +%s) - start ))s $(grep -o 'execs: [0-9]*' "$log" | tail -1)"
  else
    echo "fuzz: FAIL $pkg $target (log: $log)"
  fi
}
export -f fuzz_one

results=$(echo "$list" | xargs -P "$jobs" -L 1 bash -c 'fuzz_one "$@"' _ | tee /dev/stderr)
ok=$(grep -c '^fuzz: ok' <<<"$results" || true)
failed=$(grep -c '^fuzz: FAIL' <<<"$results" || true)
echo "fuzz: $ok passed, $failed failed"
[ "$failed" -eq 0 ]
