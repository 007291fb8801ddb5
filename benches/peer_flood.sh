#!/usr/bin/env bash
# Peak RSS while N loopback BOLT 8 peers each send the whole mainnet-sized corpus (the demo's
# synthetic peers, in the same process, so their buffers count too). Memory must stay flat as
# peers (and so duplicate copies) grow: the table ends with RSS(max peers) / RSS(1 peer).
#
#   benches/peer_flood.sh [PEER COUNTS...]        default: 1 4 16 32
set -euo pipefail
cd "$(dirname "$0")/.."
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(1 4 16 32)
cargo build --release --locked --bin gossip-sieve >&2
bin=target/release/gossip-sieve
command -v jq >/dev/null || { echo "jq is needed (apt-get install jq)" >&2; exit 1; }
echo "$(date -u +%F) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1 /proc/loadavg)"
printf '| peers | messages | wall s | msg/s | signature checks | peak RSS MB |\n|---:|---:|---:|---:|---:|---:|\n'
first_rss=""
last_rss=""
for n in "${counts[@]}"; do
    json=$("$bin" demo --peers "$n" --json --metrics 127.0.0.1:0 --log-level warn 2>/dev/null)
    received=$(jq '[.received[]] | add' <<<"$json")
    checks=$(jq '.signature_checks.valid + .signature_checks.invalid' <<<"$json")
    wall=$(jq '.wall_seconds' <<<"$json")
    rate=$(jq '.messages_per_second | floor' <<<"$json")
    rss=$(jq '.peak_rss_bytes' <<<"$json")
    printf '| %d | %d | %.1f | %d | %d | %.1f |\n' "$n" "$received" "$wall" "$rate" "$checks" "$(awk "BEGIN{print $rss/1048576}")"
    first_rss=${first_rss:-$rss}
    last_rss=$rss
done
printf 'RSS at %s peers / RSS at %s peer(s): %.2f\n' "${counts[-1]}" "${counts[0]}" "$(awk "BEGIN{print $last_rss/$first_rss}")"
