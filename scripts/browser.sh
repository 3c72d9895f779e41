#!/usr/bin/env bash
# browser.sh: make sure a Chromium is installed for the browser tests of
# `samizdat web` (e2etest/web_test.go), installing Debian's package when
# none is (as root: apt-get; otherwise with sudo, if there is one).
#
#   scripts/browser.sh            # install if missing; print the path
#   scripts/browser.sh run CMD... # then run CMD with SAMIZDAT_REQUIRE_BROWSER=1
set -euo pipefail

find_browser() {
	local b
	for b in chromium chromium-browser google-chrome google-chrome-stable; do
		if command -v "$b" >/dev/null 2>&1; then
			command -v "$b"
			return 0
		fi
	done
	return 1
}

if ! find_browser >/dev/null; then
	echo "browser.sh: no Chromium found; installing Debian's chromium package" >&2
	sudo=""
	[ "$(id -u)" = 0 ] || sudo="sudo"
	$sudo apt-get install -y chromium >&2 || { $sudo apt-get update >&2 && $sudo apt-get install -y chromium >&2; }
fi
path=$(find_browser) || { echo "browser.sh: chromium could not be installed" >&2; exit 1; }

if [ "${1:-}" = run ]; then
	shift
	SAMIZDAT_REQUIRE_BROWSER=1 exec "$@"
fi
echo "$path"
