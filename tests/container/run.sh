#!/usr/bin/env bash
# Container test (issue 16): builds the shipped Dockerfile, unchanged, with podman and checks the
# image the way an operator uses it. Called from test.sh; runs alone too:
#   tests/container/run.sh            (as root, or with sudo available)
#
# There is no Docker engine and no image registry here, so:
#  - the Debian base is made locally with mmdebstrap and imported as
#    localhost/debian-bookworm-minbase (honestly named: it is not the official debian image);
#  - the builder is localhost/gossip-sieve-builder (that base + Debian's rustc-web/cargo-web),
#    passed to the Dockerfile with --build-arg BUILDER_IMAGE, the base with --build-arg BASE_IMAGE;
#  - crates come from `cargo vendor` on the host, bind-mounted read-only into the build, which
#    runs with --network none (README "Container image" says why this and not the CA bundle).
# Everything it installs or writes outside the checkout is idempotent and lives in $STATE.
#
# Skips (exit 0 with a message) only where podman cannot run at all: not Linux, or neither root
# nor sudo to install it. GOSSIP_SIEVE_SKIP_CONTAINER=1 skips on purpose (said loudly).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$REPO/tests/container"
STATE=${GOSSIP_SIEVE_CONTAINER_STATE:-/var/cache/gossip-sieve-ci}
BASE=localhost/debian-bookworm-minbase
BUILDER=localhost/gossip-sieve-builder
PROMETHEUS=localhost/gossip-sieve-prometheus
IMAGE=localhost/gossip-sieve:ci
# Every container, volume and network this script makes carries this prefix (podman-compose
# adds `_service_1`, `_volume` and `_default` to it as the project name).
P=gossip-sieve-ci
PYTHON=${GOSSIP_SIEVE_TEST_PYTHON:-python3}

say() { printf '   container: %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
podman() { as_root env CONTAINERS_CONF="$STATE/containers.conf" podman "$@"; }

ours() { grep "^$P[-_]" || true; }
# Removes what this script made, including leftovers of an interrupted run.
cleanup() {
  local name
  for name in $(podman ps -a --format '{{.Names}}' 2>/dev/null | ours); do
    podman rm -f -v "$name" >/dev/null 2>&1 || true
  done
  for name in $(podman volume ls --format '{{.Name}}' 2>/dev/null | ours); do
    podman volume rm -f "$name" >/dev/null 2>&1 || true
  done
  for name in $(podman network ls --format '{{.Name}}' 2>/dev/null | ours); do
    podman network rm -f "$name" >/dev/null 2>&1 || true
  done
}

# Prints why, with the logs of every container of ours, and fails the script.
fail() {
  echo "container test FAILED: $*" >&2
  for name in $(podman ps -a --format '{{.Names}}' 2>/dev/null | ours); do
    echo "---- podman logs $name" >&2
    podman logs "$name" 2>&1 | tail -n 40 >&2 || true
  done
  exit 1
}

# Polls `$@` until it succeeds or `secs` pass; no fixed sleeps stand in for readiness.
wait_for() {
  local secs=$1 what=$2
  shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || fail "$what: not true after ${secs}s ($*)"
    sleep 0.5
  done
}

if [ "${GOSSIP_SIEVE_SKIP_CONTAINER:-}" = 1 ]; then
  echo "SKIPPED: container test (GOSSIP_SIEVE_SKIP_CONTAINER=1); the image was NOT checked"
  exit 0
fi
if [ "$(uname -s)" != Linux ] || { [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null; }; then
  echo "SKIPPED: container test needs Linux and root (or sudo) to run podman; the image was NOT checked"
  exit 0
fi

# ------------------------------------------------------------------------------------------
say "installing podman, runc, mmdebstrap, podman-compose, docker-compose (once)"
need=()
# Each package installs a command of its own name (netavark and aardvark-dns in /usr/lib/podman;
# they give compose networks DNS for service names).
for pkg in podman runc mmdebstrap podman-compose docker-compose netavark aardvark-dns curl; do
  if ! command -v "$pkg" >/dev/null 2>&1 && [ ! -x "/usr/lib/podman/$pkg" ]; then need+=("$pkg"); fi
done
if [ "${#need[@]}" -gt 0 ]; then
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
    uidmap fuse-overlayfs "${need[@]}" >/dev/null
fi

# Pitfalls found by hand on this machine kind (issue 16): crun fails on the hybrid cgroups,
# runc cannot raise rlimits above the hard limit, and there is no systemd for events or timers.
# A config of our own (CONTAINERS_CONF) leaves /etc/containers alone.
as_root mkdir -p "$STATE"
hard_nofile=$(ulimit -Hn)
# runc can set the limit to the hard limit but not above it; "unlimited" is not a number here.
[ "$hard_nofile" = unlimited ] && hard_nofile=1048576
as_root tee "$STATE/containers.conf" >/dev/null <<EOF
# Written by gossip-sieve tests/container/run.sh.
[containers]
default_ulimits = ["nofile=$hard_nofile:$hard_nofile", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"

[network]
network_backend = "netavark"
EOF
podman info >/dev/null || fail "podman is installed but cannot run (podman info failed)"
cleanup
trap cleanup EXIT

# ------------------------------------------------------------------------------------------
if ! podman image exists "$BASE"; then
  say "making $BASE with mmdebstrap (Debian bookworm minbase, ~1 min)"
  tar="$STATE/bookworm-minbase.tar"
  as_root rm -rf "$tar.part"
  # The dpkg excludes are what the official -slim images drop (docs, man pages, locales).
  as_root mmdebstrap --quiet --variant=minbase --format=tar \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*' \
    bookworm "$tar.part" \
    "deb http://deb.debian.org/debian bookworm main" \
    "deb http://deb.debian.org/debian bookworm-updates main" \
    "deb http://deb.debian.org/debian-security bookworm-security main"
  as_root mv "$tar.part" "$tar"
  podman import --quiet --change 'CMD ["/bin/bash"]' "$tar" "$BASE" >/dev/null
fi

say "vendoring crates for the offline build ($STATE/vendor)"
(cd "$REPO" && as_root env "PATH=$PATH" cargo vendor --locked --versioned-dirs --quiet \
  "$STATE/vendor" >/dev/null) || fail "cargo vendor failed"

say "building $BUILDER (cached after the first run)"
podman build --quiet --format docker --pull=never --build-arg "BASE_IMAGE=$BASE" \
  -t "$BUILDER" -f "$HERE/builder.Containerfile" "$HERE" >/dev/null \
  || fail "the builder image did not build"

say "building the shipped Dockerfile, offline (release build inside the container: minutes)"
build_start=$SECONDS
podman build --format docker --pull=never --network none \
  --build-arg "BUILDER_IMAGE=$BUILDER" --build-arg "BASE_IMAGE=$BASE" \
  --volume "$STATE/vendor:/vendor:ro" \
  -t "$IMAGE" -f "$REPO/Dockerfile" "$REPO" >"$STATE/build.log" 2>&1 \
  || { tail -n 60 "$STATE/build.log" >&2; fail "the Dockerfile did not build (log: $STATE/build.log)"; }
say "image built in $((SECONDS - build_start)) s"

# ------------------------------------------------------------------------------------------
# Helpers for the checks.

# Host address of a published container port, e.g. 127.0.0.1:43127.
published() { podman port "$1" "$2/tcp" | head -n 1; }
http_ok() { curl -fsS --max-time 5 "http://$1" >/dev/null; }
scrape() { curl -fsS --max-time 5 "http://$1/metrics"; }
# Sum of every series of metric $2 whose labels contain $3, in the scrape text $1.
msum() {
  awk -v name="$2" -v filter="${3:-}" '
    ($1 == name || index($1, name "{") == 1) && index($1, filter) { sum += $2 }
    END { printf "%d\n", sum }' <<<"$1"
}
# The `node_id <hex>` line `run` prints on stdout once it is up.
node_id_of() { podman logs "$1" 2>/dev/null | awk '$1 == "node_id" { id = $2 } END { if (id == "") exit 1; print id }'; }
# podman without systemd complains on stderr that it cannot schedule periodic healthchecks
# (expected here: they are run on demand with `podman healthcheck run`). Its stderr is kept in
# a file and shown only when the command fails.
quiet() { "$@" >/dev/null 2>"$STATE/podman.err" || { cat "$STATE/podman.err" >&2; return 1; }; }
health_status() { podman inspect --format '{{.State.Health.Status}}' "$1"; }
run_args=(run --data-dir /data --listen 0.0.0.0:9735)

# ------------------------------------------------------------------------------------------
say "image hygiene: size, healthcheck kept (docker format), no curl"
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
base_size=$(podman image inspect --format '{{.Size}}' "$BASE")
say "image $IMAGE: $((size / 1000000)) MB; base $BASE: $((base_size / 1000000)) MB"
healthcheck=$(podman image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE")
grep -q '"gossip-sieve","healthcheck"' <<<"$healthcheck" \
  || fail "the image has no HEALTHCHECK running gossip-sieve healthcheck (built without --format docker?): $healthcheck"
if podman run --rm --entrypoint /bin/sh "$IMAGE" -c 'command -v curl' 2>/dev/null; then
  fail "curl is in the runtime image; the healthcheck should not need it"
fi

# ------------------------------------------------------------------------------------------
say "default container: uid, /healthz /readyz /metrics through published ports, healthcheck"
c=$P-default
quiet podman run -d --name "$c" -p 127.0.0.1::9735 -p 127.0.0.1::9736 "$IMAGE" \
  || fail "the image does not start with its default command"
wait_for 60 "$c answers /healthz on its published metrics port" \
  bash -c "curl -fsS --max-time 5 http://\$(CONTAINERS_CONF=$STATE/containers.conf podman port $c 9736/tcp | head -n 1)/healthz"
metrics_at=$(published "$c" 9736)
wait_for 60 "$c /readyz answers 200 through $metrics_at" http_ok "$metrics_at/readyz"
# (Captured first: `grep -q` on a pipe would close it early and fail curl under pipefail.)
first_scrape=$(scrape "$metrics_at") || fail "/metrics through $metrics_at does not answer"
grep -q '^gossip_sieve_messages_received_total{' <<<"$first_scrape" \
  || fail "/metrics through $metrics_at lacks gossip_sieve_messages_received_total"
uid=$(podman exec "$c" awk '/^Uid:/ { print $2 }' /proc/1/status)
[ "$uid" = 10001 ] || fail "PID 1 of $c runs as uid '$uid', not 10001"
[ "$(podman exec "$c" id -u)" = 10001 ] || fail "podman exec in $c is not uid 10001"
[ "$(podman exec "$c" cat /proc/1/comm)" = gossip-sieve ] || fail "PID 1 of $c is not gossip-sieve"
podman healthcheck run "$c" >/dev/null || fail "podman healthcheck run $c is not healthy"
[ "$(health_status "$c")" = healthy ] || fail "$c health status is '$(health_status "$c")' after a passing check"

say "healthcheck goes unhealthy when the metrics port is moved"
c=$P-moved
quiet podman run -d --name "$c" "$IMAGE" "${run_args[@]}" --metrics 0.0.0.0:9737
wait_for 60 "$c serves /healthz on the moved port 9737" \
  podman exec "$c" gossip-sieve healthcheck --url http://127.0.0.1:9737/healthz
if podman healthcheck run "$c" >/dev/null 2>&1; then
  fail "podman healthcheck run $c passed although nothing listens on 9736 (the check cannot fail?)"
fi

# ------------------------------------------------------------------------------------------
say "demo inside the container"
demo_json=$(podman run --rm --name "$P-demo" "$IMAGE" demo --peers 2 --nodes 400 --channels 1200 \
  --json 2>"$STATE/demo.err") || { cat "$STATE/demo.err" >&2; fail "demo failed inside the container"; }
python3 - "$demo_json" <<'PY' || fail "demo summary is wrong: $demo_json"
import json, sys
s = json.loads(sys.argv[1].strip().splitlines()[-1])
assert s["graph_channels"] == 1200, s["graph_channels"]
assert s["signature_checks"]["valid"] > 0, s["signature_checks"]
assert s["accepted"]["channel_announcement"] == 1200, s["accepted"]
PY

# ------------------------------------------------------------------------------------------
say "run with a named volume: a pyln-proto peer on the host sends real gossip"
shared_store() {
  local dir
  for dir in "$REPO/.." "$REPO/../.." "$REPO/../../.." /work; do
    if [ -f "$dir/shared/gossip_store/$1" ]; then echo "$dir/shared/gossip_store/$1"; return; fi
  done
  fail "no shared/gossip_store/$1 above $REPO"
}
"$PYTHON" -c 'import pyln.proto' 2>/dev/null \
  || fail "$PYTHON cannot import pyln.proto (test.sh makes .venv and sets GOSSIP_SIEVE_TEST_PYTHON)"
c=$P-node
podman volume create "$P-data" >/dev/null
node_run() {
  quiet podman run -d --name "$c" -p 127.0.0.1::9735 -p 127.0.0.1::9736 -v "$P-data:/data" "$IMAGE" \
    "${run_args[@]}" --metrics 0.0.0.0:9736 --network bitcoin --historical
}
node_run || fail "run with a named volume did not start"
wait_for 60 "$c prints its node_id" node_id_of "$c"
node_id=$(node_id_of "$c")
peer_at=$(published "$c" 9735)
metrics_at=$(published "$c" 9736)
wait_for 60 "$c /readyz through $metrics_at" http_ok "$metrics_at/readyz"

# The peer reads commands on stdin and answers one JSON line each (tests/interop/pyln_peer.py).
coproc PEER { exec "$PYTHON" -u "$REPO/tests/interop/pyln_peer.py" "$node_id" "$peer_at" \
  "$(shared_store gossip_store-part1.xz)" "$(shared_store gossip_store-part2.xz)" 2>&1; }
peer_pid=$PEER_PID # bash unsets PEER_PID when the peer exits
peer_line() {
  local line
  IFS= read -r -t 60 line <&"${PEER[0]}" || fail "the pyln peer said nothing for 60 s (wanted $1)"
  grep -q "\"event\": \"$1\"" <<<"$line" || fail "the pyln peer said $line (wanted $1)"
  printf '%s\n' "$line"
}
peer_line ready >/dev/null
echo valid >&"${PEER[1]}"
sent_line=$(peer_line sent)
sent=$(python3 -c 'import json,sys; print(sum(json.loads(sys.argv[1])["sent"].values()))' "$sent_line")
# Settled: everything the peer sent was received, nothing is in flight, and two scrapes agree.
previous=""
settled() {
  local m now
  m=$(scrape "$metrics_at") || return 1
  [ "$(msum "$m" gossip_sieve_messages_received_total)" = "$sent" ] || return 1
  [ "$(msum "$m" gossip_sieve_in_flight_messages)" = 0 ] || return 1
  now="$(msum "$m" gossip_sieve_messages_accepted_total) $(msum "$m" gossip_sieve_graph_channels)"
  [ "$now" = "$previous" ] && return 0
  previous=$now
  return 1
}
wait_for 120 "$c ingests all $sent messages from the peer" settled
echo stop >&"${PEER[1]}"
peer_line done >/dev/null
wait "$peer_pid" 2>/dev/null || true
before=$(scrape "$metrics_at")
channels=$(msum "$before" gossip_sieve_graph_channels)
nodes=$(msum "$before" gossip_sieve_graph_nodes)
checked=$(msum "$before" gossip_sieve_signature_checks_total 'result="valid"')
[ "$channels" -gt 0 ] || fail "no channels in the graph after the peer's gossip"
[ "$checked" -gt 0 ] || fail "no valid signature checks while ingesting the peer's gossip"
say "ingested $sent messages: $channels channels, $nodes nodes, $checked valid signatures"

say "SIGTERM (podman stop) drains and exits 0 within the 10 s grace"
stop_start=$(date +%s%N)
quiet podman stop -t 10 "$c"
stop_ms=$((($(date +%s%N) - stop_start) / 1000000))
code=$(podman inspect --format '{{.State.ExitCode}}' "$c")
[ "$code" = 0 ] || fail "$c exited with $code after SIGTERM (podman stop), not 0"
[ "$stop_ms" -lt 10000 ] || fail "$c took ${stop_ms} ms to stop: SIGKILL after the 10 s grace?"
grep -q "shutting down" <<<"$(podman logs "$c" 2>&1)" || fail "$c did not log its shutdown"
say "stopped in ${stop_ms} ms, exit code 0"

say "restart: same graph from the volume, no signature checks"
quiet podman start "$c" || fail "$c does not start again"
metrics_at=$(published "$c" 9736)
wait_for 60 "$c /readyz after the restart" http_ok "$metrics_at/readyz"
after=$(scrape "$metrics_at")
[ "$(msum "$after" gossip_sieve_graph_channels)" = "$channels" ] \
  || fail "after restart the graph has $(msum "$after" gossip_sieve_graph_channels) channels, before $channels"
[ "$(msum "$after" gossip_sieve_graph_nodes)" = "$nodes" ] \
  || fail "after restart the graph has $(msum "$after" gossip_sieve_graph_nodes) nodes, before $nodes"
[ "$(msum "$after" gossip_sieve_signature_checks_total)" = 0 ] \
  || fail "the restart verified $(msum "$after" gossip_sieve_signature_checks_total) signatures; the store should load without"
[ "$(node_id_of "$c")" = "$node_id" ] || fail "the node id changed across the restart (key not on the volume?)"
quiet podman stop -t 10 "$c"

# ------------------------------------------------------------------------------------------
say "SIGTERM while a peer is still sending: drains, exits 0 in the grace, store intact"
# 20,000 validly signed synthetic messages (gen-corpus, in the image), rewritten as the
# gossip_store file pyln_peer.py reads: far more than arrive before the stop below.
as_root rm -rf "$STATE/drain" && as_root mkdir -p "$STATE/drain"
quiet podman run --rm --user 0:0 -v "$STATE/drain:/out" "$IMAGE" \
  gen-corpus --nodes 2000 --channels 6000 --out /out/corpus.raw || fail "gen-corpus failed in the image"
as_root python3 - "$STATE/drain/corpus.raw" "$STATE/drain/corpus.gossip_store.xz" <<'PY'
import lzma, struct, sys
raw, out, off = open(sys.argv[1], "rb").read(), bytearray(b"\x10"), 0
while off + 2 <= len(raw):  # raw dump: u16 length, message
    (length,) = struct.unpack(">H", raw[off:off + 2])
    out += struct.pack(">HHII", 0, length, 0, 0) + raw[off + 2:off + 2 + length]
    off += 2 + length
with lzma.open(sys.argv[2], "wb") as f:
    f.write(bytes(out))
PY
c=$P-drain
quiet podman run -d --name "$c" -p 127.0.0.1::9735 -p 127.0.0.1::9736 -v "$P-drain-data:/data" \
  "$IMAGE" "${run_args[@]}" --metrics 0.0.0.0:9736 --network bitcoin || fail "$c did not start"
wait_for 60 "$c prints its node_id" node_id_of "$c"
metrics_at=$(published "$c" 9736)
wait_for 60 "$c /readyz" http_ok "$metrics_at/readyz"
coproc DRAIN { exec "$PYTHON" -u "$REPO/tests/interop/pyln_peer.py" "$(node_id_of "$c")" \
  "$(published "$c" 9735)" "$STATE/drain/corpus.gossip_store.xz" >"$STATE/drain/peer.log" 2>&1; }
drain_pid=$DRAIN_PID # bash unsets DRAIN_PID when the peer exits (the node closes it below)
echo valid >&"${DRAIN[1]}"
mid_flow() {
  local received
  received=$(msum "$(scrape "$metrics_at")" gossip_sieve_messages_received_total)
  [ "$received" -ge 2000 ]
}
wait_for 120 "$c receives the first 2,000 of 20,000 messages" mid_flow
last=$(scrape "$metrics_at")
received=$(msum "$last" gossip_sieve_messages_received_total)
[ "$received" -lt 20000 ] || fail "the peer had sent everything before the stop; no drain was tested"
stop_start=$(date +%s%N)
quiet podman stop -t 10 "$c"
stop_ms=$((($(date +%s%N) - stop_start) / 1000000))
kill "$drain_pid" 2>/dev/null || true
wait "$drain_pid" 2>/dev/null || true
code=$(podman inspect --format '{{.State.ExitCode}}' "$c")
[ "$code" = 0 ] || fail "$c exited with $code on SIGTERM mid-flow, not 0"
[ "$stop_ms" -lt 10000 ] || fail "$c took ${stop_ms} ms to stop mid-flow: SIGKILL after the 10 s grace?"
quiet podman start "$c" || fail "$c does not start again after the mid-flow stop"
metrics_at=$(published "$c" 9736)
wait_for 60 "$c /readyz after the mid-flow stop" http_ok "$metrics_at/readyz"
store_line=$(podman logs "$c" 2>&1 | grep '^store: ' | tail -n 1)
grep -q '"bytes_truncated":0,' <<<"$store_line" \
  || fail "the store was torn by the mid-flow stop: $store_line"
after=$(scrape "$metrics_at")
[ "$(msum "$after" gossip_sieve_graph_channels)" -ge "$(msum "$last" gossip_sieve_graph_channels)" ] \
  || fail "channels accepted before SIGTERM ($(msum "$last" gossip_sieve_graph_channels)) are missing after the restart ($(msum "$after" gossip_sieve_graph_channels))"
[ "$(msum "$after" gossip_sieve_signature_checks_total)" = 0 ] \
  || fail "the restart after the mid-flow stop verified signatures again"
say "stopped after $received of 20000 messages in ${stop_ms} ms, exit 0; $(msum "$after" gossip_sieve_graph_channels) channels back from the store"
quiet podman stop -t 10 "$c"

# ------------------------------------------------------------------------------------------
say "docker-compose.yml is valid (docker-compose config: the Compose schema, no engine needed)"
# podman-compose 1.0.3 has no `config`; Debian's docker-compose 1.29 validates the file against
# the Compose specification's schema and resolves it without talking to any engine.
(cd "$REPO" && docker-compose -f docker-compose.yml config >"$STATE/compose.config.yml" 2>"$STATE/compose.err") \
  || { cat "$STATE/compose.err" >&2; fail "docker-compose config rejects docker-compose.yml"; }
for service in gossip-sieve prometheus grafana; do
  grep -q "^  $service:" "$STATE/compose.config.yml" \
    || fail "docker-compose config shows no $service service"
done
compose=(podman-compose --project-name "$P" -f "$REPO/docker-compose.yml")

# ------------------------------------------------------------------------------------------
say "compose stack: gossip-sieve and a Prometheus from Debian's package, on the compose network"
podman build --quiet --format docker --pull=never --build-arg "BASE_IMAGE=$BASE" \
  -t "$PROMETHEUS" -f "$HERE/prometheus.Containerfile" "$HERE" >/dev/null \
  || fail "the Prometheus image (Debian package) did not build"
# The compose file's own name for the image its `build: .` makes: this very image.
podman tag "$IMAGE" localhost/gossip-sieve:local
# Only the image of prometheus is replaced (prom/prometheus cannot be pulled here); its mounts,
# ports and network come from docker-compose.yml. Grafana cannot run here at all.
as_root tee "$STATE/compose.ci.yml" >/dev/null <<YML
services:
  prometheus:
    image: $PROMETHEUS
YML
compose_ci=("${compose[@]}" -f "$STATE/compose.ci.yml")
for port in 9735 9736 9090; do
  if curl -s --max-time 2 "http://127.0.0.1:$port/" >/dev/null 2>&1; then
    fail "host port $port is busy; the compose stack publishes it"
  fi
done
compose_down() { as_root env CONTAINERS_CONF="$STATE/containers.conf" "${compose_ci[@]}" down -v >/dev/null 2>&1 || true; }
trap 'compose_down; cleanup' EXIT
as_root env CONTAINERS_CONF="$STATE/containers.conf" "${compose_ci[@]}" up -d --no-build \
  gossip-sieve prometheus >"$STATE/compose.up.log" 2>&1 \
  || { cat "$STATE/compose.up.log" >&2; fail "podman-compose up failed"; }
# Prometheus resolves gossip-sieve:9736 (prometheus.yml) by the service name on the compose
# network, scrapes it, and loads the shipped rules.
target_up() {
  curl -fsS --max-time 5 http://127.0.0.1:9090/api/v1/targets | python3 -c '
import json, sys
targets = json.load(sys.stdin)["data"]["activeTargets"]
ours = [t for t in targets if t["labels"].get("job") == "gossip-sieve"]
assert ours and ours[0]["scrapeUrl"] == "http://gossip-sieve:9736/metrics", ours
assert ours[0]["health"] == "up", ours[0].get("lastError")
'
}
wait_for 120 "Prometheus scrapes gossip-sieve:9736 on the compose network" target_up
channels_series() {
  curl -fsS --max-time 5 'http://127.0.0.1:9090/api/v1/query?query=gossip_sieve_graph_channels' \
    | python3 -c 'import json,sys; assert json.load(sys.stdin)["data"]["result"]'
}
wait_for 60 "Prometheus has gossip_sieve_graph_channels from the scrape" channels_series
rules=$(curl -fsS --max-time 5 http://127.0.0.1:9090/api/v1/rules \
  | python3 -c 'import json,sys; print(sum(len(g["rules"]) for g in json.load(sys.stdin)["data"]["groups"]))')
[ "$rules" -gt 0 ] || fail "Prometheus loaded no rules from metrics/rules"
say "Prometheus scrapes gossip-sieve by service name; $rules rules loaded"
compose_down

say "all container checks passed"
