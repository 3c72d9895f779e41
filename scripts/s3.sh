#!/usr/bin/env bash
# s3.sh: a throwaway SeaweedFS S3 gateway for tests and benchmarks.
#
#   eval "$(scripts/s3.sh start)"   # build weed once, start it; prints export lines
#   scripts/s3.sh stop [DIR]        # stop it and delete its folder
#   scripts/s3.sh run CMD ARGS...   # start, run CMD with SAMIZDAT_S3_URL set, stop
#   scripts/s3.sh build             # only build (or find) the weed binary
#
# The server (master, volume, filer and S3 gateway in one process) lives in
# a fresh temporary folder, listens on 127.0.0.1 only at free ports, has
# its telemetry off (it would otherwise report to seaweedfs.com) and one
# S3 identity with a random secret. The weed binary is built once from the
# pinned module into $SAMIZDAT_CACHE (default ~/.cache/samizdat); WEED
# overrides it.
#
# start prints:
#   export SAMIZDAT_S3_DIR=/tmp/samizdat-s3.XXXXXX
#   export SAMIZDAT_S3_URL=s3+http://samizdat:SECRET@127.0.0.1:PORT/samizdat
set -euo pipefail

SEAWEEDFS=github.com/seaweedfs/seaweedfs
SEAWEEDFS_VERSION=v0.0.0-20261109003541-7506e5f91cd6
CACHE=${SAMIZDAT_CACHE:-$HOME/.cache/samizdat}

die() { echo "s3.sh: $*" >&2; exit 1; }

# weed prints the path of the weed binary, building it if needed. The
# module has a replace directive, so `go install pkg@version` refuses it:
# it is built inside its own (downloaded) module instead.
weed() {
	if [ -n "${WEED:-}" ]; then
		echo "$WEED"
		return
	fi
	local bin=$CACHE/weed-$SEAWEEDFS_VERSION
	if [ ! -x "$bin" ]; then
		mkdir -p "$CACHE"
		local src
		src=$(go mod download -json "$SEAWEEDFS@$SEAWEEDFS_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
		[ -d "$src" ] || die "could not download $SEAWEEDFS@$SEAWEEDFS_VERSION"
		echo "s3.sh: building weed (once; several minutes)" >&2
		(cd "$src" && GOFLAGS=-mod=mod go build -o "$bin.tmp" ./weed) || die "building weed failed"
		mv "$bin.tmp" "$bin"
	fi
	echo "$bin"
}

# free_ports prints n distinct free ports on 127.0.0.1.
free_ports() {
	local n=$1 p got=()
	for _ in $(seq 1 200); do
		[ ${#got[@]} -ge "$n" ] && break
		# Below the kernel's ephemeral range (32768 and up by default), so
		# that no outgoing connection made meanwhile takes a port chosen here.
		p=$((20000 + RANDOM % 12000))
		[[ " ${got[*]} " == *" $p "* ]] && continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			got+=("$p")
		fi
	done
	[ ${#got[@]} -ge "$n" ] || die "no free ports found"
	echo "${got[@]}"
}

start() {
	local bin dir
	bin=$(weed)
	dir=$(mktemp -d "${TMPDIR:-/tmp}/samizdat-s3.XXXXXX")
	mkdir -p "$dir/data"
	local secret
	secret=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
	cat >"$dir/s3.json" <<JSON
{"identities": [{"name": "samizdat",
  "credentials": [{"accessKey": "samizdat", "secretKey": "$secret"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
JSON
	read -r pm pmg pv pvg pf pfg ps psg < <(free_ports 8)
	"$bin" server -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$dir/data" \
		-master.port="$pm" -master.port.grpc="$pmg" -master.telemetry=false \
		-master.volumeSizeLimitMB=64 -volume.max=0 \
		-volume.port="$pv" -volume.port.grpc="$pvg" \
		-filer -filer.port="$pf" -filer.port.grpc="$pfg" \
		-s3 -s3.port="$ps" -s3.port.grpc="$psg" -s3.port.iceberg=0 -s3.port.lance=0 \
		-s3.config="$dir/s3.json" -s3.localSocket="$dir/s3.sock" \
		>"$dir/server.log" 2>&1 &
	echo $! >"$dir/pid"
	# Ready when the gateway answers an authenticated bucket listing.
	local deadline=$((SECONDS + 180))
	until curl -sf -o /dev/null --aws-sigv4 "aws:amz:us-east-1:s3" --user "samizdat:$secret" "http://127.0.0.1:$ps/"; do
		if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
			tail -20 "$dir/server.log" >&2
			stop "$dir"
			die "the server did not start"
		fi
		sleep 0.5
	done
	echo "export SAMIZDAT_S3_DIR=$dir"
	echo "export SAMIZDAT_S3_URL='s3+http://samizdat:$secret@127.0.0.1:$ps/samizdat'"
}

stop() {
	local dir=${1:-${SAMIZDAT_S3_DIR:-}}
	[ -n "$dir" ] || die "no server: pass its folder or set SAMIZDAT_S3_DIR (from s3.sh start)"
	[ -f "$dir/s3.json" ] || die "$dir is not an s3.sh server folder"
	if [ -f "$dir/pid" ]; then
		local pid
		pid=$(cat "$dir/pid")
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -rf "$dir"
}

case "${1:-}" in
build) weed ;;
start) start ;;
stop) stop "${2:-}" ;;
run)
	shift
	[ $# -gt 0 ] || die "usage: s3.sh run CMD ARGS..."
	eval "$(start)"
	trap 'stop "$SAMIZDAT_S3_DIR"' EXIT
	"$@"
	;;
*) die "usage: s3.sh build|start|stop [DIR]|run CMD ARGS..." ;;
esac
