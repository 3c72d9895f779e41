# A samizdat relay in a container: a static binary (CGO_ENABLED=0), run as
# a user without privileges, its data directory a volume.
#
#   docker build --build-arg VERSION=$(git describe --tags --match 'v[0-9]*' --dirty) -t samizdat .
#   docker run -d --name relay -p 443:443 -v samizdat-relay:/data samizdat \
#       relay --data /data --listen 'wss://0.0.0.0:443?sni=relay.example.org'
#   docker exec relay /samizdat relay backup --data /data /data/relay.backup
#
# Docker lets a container's processes bind ports below 1024 without
# privileges (net.ipv4.ip_unprivileged_port_start=0), so no capability is
# added. The invite for clients is written to /data/invite.txt.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/samizdat ./cmd/samizdat
RUN mkdir -p /out/data

FROM scratch
# CA roots for ACME and --decoy-proxy; nothing else from the build image.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/samizdat /samizdat
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV HOME=/data
VOLUME /data
EXPOSE 443 80 7443
ENTRYPOINT ["/samizdat"]
CMD ["relay", "--data", "/data", "--listen", "tcp://0.0.0.0:7443"]
