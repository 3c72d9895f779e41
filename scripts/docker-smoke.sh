#!/usr/bin/env bash
# docker-smoke.sh: build the relay image from the Dockerfile, run it as a relay
# on loopback and check that two clients (this checkout's binary, on the host)
# register with it and exchange a message through it. Prints the image size.
#
#   scripts/docker-smoke.sh            # build samizdat:smoke, run, check, clean up
#   IMAGE=samizdat:x NO_BUILD=1 scripts/docker-smoke.sh   # check an image built already
#
# The container shares the host's network namespace (--network host) and the
# relay listens on 127.0.0.1 only, so no traffic leaves loopback. Without a
# docker daemon it says so and exits 0 (skipped). The build needs the base
# image golang:1.26 (pulled from Docker Hub, or tagged locally beforehand) and
# the Go module proxy (the build stage runs go mod download on the host's
# network).
set -euo pipefail

IMAGE=${IMAGE:-samizdat:smoke}
NAME=samizdat-smoke-$$
cd "$(dirname "$0")/.."

if ! command -v docker >/dev/null || ! docker info >/dev/null 2>&1; then
	echo "docker-smoke: SKIP: no docker daemon reachable"
	exit 0
fi
tmp=$(mktemp -d)
cleanup() {
	docker rm -f "$NAME" >/dev/null 2>&1 || true
	docker volume rm "$NAME" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

if [ "${NO_BUILD:-0}" != 1 ]; then
	version=$(git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null || true)
	DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0} docker build --network host --build-arg "VERSION=$version" -t "$IMAGE" .
fi
go build -o "$tmp/samizdat" ./cmd/samizdat

docker run --rm --network none "$IMAGE" version
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
docker volume create "$NAME" >/dev/null
docker run -d --name "$NAME" --network host -v "$NAME:/data" "$IMAGE" \
	relay --data /data --listen "tcp://127.0.0.1:$port" >/dev/null
for _ in $(seq 1 120); do
	docker logs "$NAME" 2>&1 | grep -q '^invite written' && break
	sleep 0.5
done
docker logs "$NAME" 2>&1 | grep -q '^invite written' || { docker logs "$NAME"; echo "docker-smoke: the relay did not start" >&2; exit 1; }
[ "$(docker inspect -f '{{.Config.User}}' "$IMAGE")" = 65532:65532 ] || { echo "docker-smoke: the image runs as root" >&2; exit 1; }

docker cp "$NAME:/data/invite.txt" "$tmp/invite.txt"
"$tmp/samizdat" --home "$tmp/alice" init --invite "$tmp/invite.txt" --name smokealice
"$tmp/samizdat" --home "$tmp/bob" init --invite "$tmp/invite.txt" --name smokebob
"$tmp/samizdat" --home "$tmp/alice" send smokebob "through the container"
got=$("$tmp/samizdat" --home "$tmp/bob" recv)
case "$got" in
*"smokealice: through the container"*) ;;
*) echo "docker-smoke: bob received: $got" >&2; exit 1 ;;
esac
echo "docker-smoke: ok; image $IMAGE is $(docker image inspect -f '{{.Size}}' "$IMAGE") bytes"
