# syntax=docker/dockerfile:1
# gossip-sieve container image.
#   docker build -t gossip-sieve .
#   docker run -p 9735:9735 -p 127.0.0.1:9736:9736 -v sieve-data:/data gossip-sieve
# Port 9735: Lightning peers (BOLT 8). Port 9736: /metrics, /healthz, /readyz.
#
# Both images are pinned by digest, so a build today and a build next month start from the same
# bytes. To move to a newer image (e.g. for Debian security updates), pull it and take its
# digest, then replace the sha256 below:
#   docker pull debian:bookworm-slim
#   docker inspect --format '{{index .RepoDigests 0}}' debian:bookworm-slim
# (same for rust:1-bookworm). Either image can also be replaced at build time without editing
# this file: --build-arg BUILDER_IMAGE=... / --build-arg BASE_IMAGE=... (CI does this to build
# offline from a locally made Debian base, see tests/container/run.sh).
ARG BUILDER_IMAGE=rust:1-bookworm@sha256:93ce27a88655056a51dbdd8f5f2d7ddc071c7b0070fb288a37b5a285fc83971e
ARG BASE_IMAGE=debian:bookworm-slim@sha256:3783cc01769c7b2b1b83a5c5ad96c815348e28ed7da68e2e3687004faa906251

FROM ${BUILDER_IMAGE} AS builder
WORKDIR /build
COPY . .
# Cache mounts keep the registry and compiled dependencies between builds; the binary is
# copied out because the target dir is not part of the image layer. The release profile keeps
# line tables for profiling on a host; the image drops them (symbols stay, so backtraces still
# name functions), which takes the binary from about 60 MB to under 10 MB.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/build/target \
    cargo build --release --locked --bin gossip-sieve \
    && install -m 0755 target/release/gossip-sieve /usr/local/bin/gossip-sieve \
    && strip --strip-debug /usr/local/bin/gossip-sieve

FROM ${BASE_IMAGE}
# No packages are added: the HEALTHCHECK uses the binary's own `healthcheck` subcommand (no
# curl), and gossip-sieve makes no TLS connections (no ca-certificates).
RUN groupadd --system --gid 10001 sieve \
    && useradd --system --uid 10001 --gid sieve --home-dir /data --shell /usr/sbin/nologin sieve \
    && mkdir -p /data /etc/gossip-sieve \
    && chown sieve:sieve /data
COPY --from=builder /usr/local/bin/gossip-sieve /usr/local/bin/gossip-sieve
COPY examples/gossip-sieve.toml /etc/gossip-sieve/gossip-sieve.toml

USER sieve
VOLUME /data
ENV GOSSIP_SIEVE_LOG_LEVEL=info
EXPOSE 9735 9736

# /healthz answers while the process is alive and serving; the metrics listener must stay on
# 9736 inside the container for this check (publish it on another host port if needed).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["gossip-sieve", "healthcheck", "--url", "http://127.0.0.1:9736/healthz"]

# SIGTERM (docker stop) makes `run` stop accepting, close sessions, drain the pipeline and
# fsync the store, then exit 0 well inside the default 10 s grace period.
STOPSIGNAL SIGTERM
ENTRYPOINT ["gossip-sieve"]
CMD ["run", "--data-dir", "/data", "--listen", "0.0.0.0:9735", "--metrics", "0.0.0.0:9736"]
