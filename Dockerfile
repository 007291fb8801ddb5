# syntax=docker/dockerfile:1
# gossip-sieve container image.
#   docker build -t gossip-sieve .
#   docker run -p 9735:9735 -p 127.0.0.1:9736:9736 -v sieve-data:/data gossip-sieve
# Port 9735: Lightning peers (BOLT 8). Port 9736: /metrics, /healthz, /readyz.

FROM rust:1-bookworm AS builder
WORKDIR /build
COPY . .
# Cache mounts keep the registry and compiled dependencies between builds; the binary is
# copied out because the target dir is not part of the image layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/build/target \
    cargo build --release --locked --bin gossip-sieve \
    && install -m 0755 target/release/gossip-sieve /usr/local/bin/gossip-sieve

FROM debian:bookworm-slim
# curl is only for the HEALTHCHECK; ca-certificates for any TLS the operator adds later.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
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
    CMD curl -fsS --max-time 4 http://127.0.0.1:9736/healthz || exit 1

ENTRYPOINT ["gossip-sieve"]
CMD ["run", "--data-dir", "/data", "--listen", "0.0.0.0:9735", "--metrics", "0.0.0.0:9736"]
