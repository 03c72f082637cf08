# syntax=docker/dockerfile:1
#
# Sluice in a container: one static binary on distroless/static (no shell, no
# libc, no package manager), run as a fixed non-root user, with the queue on
# the /data volume. Checked offline by deploy/container_test.go.
#
#   docker build -t sluice .
#   docker run --rm -v sluice-data:/data --stop-timeout 180 --env-file deploy/systemd/sluice.env sluice drain
#   docker run -d --name sluice -v sluice-data:/data -p 9090:9090 --stop-timeout 180 sluice   # `sluice run`
#
# --stop-timeout (seconds) must exceed SLUICE_SHUTDOWN_GRACE, as TimeoutStopSec,
# kill_timeout and terminationGracePeriodSeconds do in the other deploy files:
# Docker's own default, 10 s, would kill a drain in the middle of its grace.
#
# No init is needed: run as PID 1, /sluice becomes a tiny init itself (it
# re-runs the same command as its child, forwards signals, reaps orphans),
# and every exec job runs under a per-attempt supervisor that kills all its
# processes when the attempt ends (README: "Every process dies with its attempt").
#
# Exec jobs (SLUICE_EXEC_<NAME>) run programs directly, and this image has none
# but /sluice: build FROM it and COPY your (static) programs in, or copy /sluice
# into an image that has them.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first, so editing the code does not download them again.
COPY go.mod go.sum ./
RUN go mod download && go mod verify
COPY . .
ARG VERSION=dev
# CGO_ENABLED=0: the SQLite driver is pure Go, so the binary is fully static
# and runs on distroless/static or scratch.
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/sluicehq/sluice/cli.Version=${VERSION}" \
      -o /out/sluice . \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sluice /sluice
# An empty /data owned by the runtime user: a named Docker volume mounted here
# starts with this owner, so Sluice can create the database in it.
COPY --from=build --chown=65532:65532 /out/data /data
ENV SLUICE_DB=/data/sluice.db
# /metrics and /healthz for `sluice run`, the default command, on every
# interface: probes and scrapers come from outside the container. A drain
# ignores it.
ENV SLUICE_HTTP_ADDR=:9090
VOLUME ["/data"]
# 65532 is distroless's "nonroot"; numeric so Kubernetes runAsNonRoot can check it.
USER 65532:65532
# Sluice treats SIGTERM and SIGINT alike: stop claiming, let running tasks
# finish within SLUICE_SHUTDOWN_GRACE, record everything, exit 0.
STOPSIGNAL SIGTERM
# The port of SLUICE_HTTP_ADDR above.
EXPOSE 9090
ENTRYPOINT ["/sluice"]
CMD ["run"]
