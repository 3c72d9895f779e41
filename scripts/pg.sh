#!/usr/bin/env bash
# pg.sh: a throwaway PostgreSQL 15 for tests and benchmarks.
#
#   eval "$(scripts/pg.sh start)"   # initdb + start; prints export lines
#   scripts/pg.sh url               # the URL of the server in $SAMIZDAT_PG_DIR
#   scripts/pg.sh stop              # stop it and delete its folder
#   scripts/pg.sh run CMD ARGS...   # start, run CMD with SAMIZDAT_PG_URL set, stop
#
# The server lives in a fresh temporary folder (data directory and unix
# socket), listens on that unix socket only (no TCP unless PG_TCP=1, then on
# 127.0.0.1 at a free port), trusts local connections, and runs with fsync
# and synchronous_commit on, so write figures measured against it are
# durable ones. initdb refuses to run as root, so as root the server runs as
# the image's postgres user. PG_BIN overrides /usr/lib/postgresql/15/bin.
#
# start prints:
#   export SAMIZDAT_PG_DIR=/tmp/samizdat-pg.XXXXXX
#   export SAMIZDAT_PG_URL=postgres://postgres@/postgres?host=/tmp/samizdat-pg.XXXXXX&sslmode=disable
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

die() { echo "pg.sh: $*" >&2; exit 1; }

# as runs a command as the server's owner: postgres when we are root.
as() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

url_for() {
	local dir=$1
	if [ -f "$dir/port" ]; then
		echo "postgres://postgres@127.0.0.1:$(cat "$dir/port")/postgres?sslmode=disable"
	else
		echo "postgres://postgres@/postgres?host=$dir&sslmode=disable"
	fi
}

free_port() {
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	die "no free port found"
}

start() {
	[ -x "$PG_BIN/initdb" ] || die "no PostgreSQL at $PG_BIN (set PG_BIN)"
	local dir
	dir=$(mktemp -d "${TMPDIR:-/tmp}/samizdat-pg.XXXXXX")
	chmod 0755 "$dir"
	if [ "$(id -u)" = 0 ]; then
		id postgres >/dev/null 2>&1 || die "running as root and there is no postgres user"
		chown postgres: "$dir"
	fi
	as "$PG_BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; rm -rf "$dir"; die "initdb failed"; }
	local listen="''"
	if [ "${PG_TCP:-0}" = 1 ]; then
		free_port >"$dir/port"
		listen="'127.0.0.1'"
	fi
	cat >>"$dir/data/postgresql.conf" <<EOF

# scripts/pg.sh
listen_addresses = $listen
port = $(cat "$dir/port" 2>/dev/null || echo 5432)
unix_socket_directories = '$dir'
fsync = on
synchronous_commit = on
full_page_writes = on
max_connections = 300
shared_buffers = 128MB
EOF
	as "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null ||
		{ cat "$dir/server.log" >&2; rm -rf "$dir"; die "the server did not start"; }
	echo "export SAMIZDAT_PG_DIR=$dir"
	echo "export SAMIZDAT_PG_URL='$(url_for "$dir")'"
}

need_dir() {
	local dir=${1:-${SAMIZDAT_PG_DIR:-}}
	[ -n "$dir" ] || die "no server: pass its folder or set SAMIZDAT_PG_DIR (from pg.sh start)"
	[ -d "$dir/data" ] || die "$dir is not a pg.sh server folder"
	echo "$dir"
}

stop() {
	local dir
	dir=$(need_dir "${1:-}")
	as "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
	rm -rf "$dir"
}

case "${1:-}" in
start) start ;;
stop) stop "${2:-}" ;;
url) url_for "$(need_dir "${2:-}")" ;;
run)
	shift
	[ $# -gt 0 ] || die "usage: pg.sh run CMD ARGS..."
	eval "$(start)"
	trap 'stop "$SAMIZDAT_PG_DIR"' EXIT
	"$@"
	;;
*) die "usage: pg.sh start|stop [DIR]|url [DIR]|run CMD ARGS..." ;;
esac
