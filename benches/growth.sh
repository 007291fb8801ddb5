#!/usr/bin/env bash
# Cost growth with graph size: `gossip-sieve replay` of generated corpora at 1/4, 1/2, 1x and 2x
# mainnet (17,000 nodes, 54,000 channels), one unique pass and one pass with K duplicate copies.
# Prints a markdown table: time per message and peak RSS at each scale, and each relative to the
# smallest scale (linear growth keeps time per message flat; RSS grows with the graph). The cost
# of a duplicate is `gossip-sieve bench`'s: discarded after the graph is complete, one feed.
#
# usage: benches/growth.sh [--copies K] [--repeat R] [--dir DIR] [--scales "0.25 0.5 1 2"]
#
# Corpora are deterministic (seed 7) and cached in DIR (default /tmp/gossip-sieve-growth);
# they are regenerated when older than a day, since replay drops gossip over two weeks old.
# Each run is repeated R times (default 3): wall and CPU time are the fastest run (the machine
# may be shared), peak RSS the largest. The binary is built with `cargo build --release`.
set -euo pipefail

copies=4
repeat=3
dir=/tmp/gossip-sieve-growth
scales="0.25 0.5 1 2"
while [ $# -gt 0 ]; do
    case "$1" in
        --copies) copies=$2; shift 2 ;;
        --repeat) repeat=$2; shift 2 ;;
        --dir) dir=$2; shift 2 ;;
        --scales) scales=$2; shift 2 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/.."
cargo build --release --quiet --bin gossip-sieve
bin="${CARGO_TARGET_DIR:-target}/release/gossip-sieve"
mkdir -p "$dir"

# One replay: prints "wall_s cpu_s rss_bytes accepted received".
run_once() {
    local file=$1 n=$2 times out
    times=$(mktemp)
    out=$(/usr/bin/time -f '%U %S' -o "$times" "$bin" replay "$file" --copies "$n" --json 2>/dev/null)
    echo "$out" | jq -r --arg cpu "$(awk '{print $1 + $2}' "$times")" \
        '"\(.wall_seconds) \($cpu) \(.peak_rss_bytes) \(.accepted | add) \(.received | add)"'
    rm -f "$times"
}

# Fastest of `repeat` runs of `bench`: ns per duplicate discarded once the graph is complete.
dup_ns() {
    local file=$1 best="" ns
    for _ in $(seq "$repeat"); do
        ns=$("$bin" bench --corpus-file "$file" --duplicate-copies "$copies" --raw-sample 1000 \
            --json 2>/dev/null | jq -r '.duplicate_ns_per_message')
        best=$(awk -v a="$ns" -v b="${best:-$ns}" 'BEGIN {print (a < b ? a : b)}')
    done
    echo "$best"
}

# Best (min) wall and CPU, max RSS over `repeat` runs: "wall cpu rss".
measure() {
    local file=$1 n=$2 expected=$3 best_wall="" best_cpu="" max_rss=0 line wall cpu rss accepted
    for _ in $(seq "$repeat"); do
        line=$(run_once "$file" "$n")
        read -r wall cpu rss accepted _ <<<"$line"
        if [ "$accepted" != "$expected" ]; then
            echo "replay --copies $n of $file accepted $accepted of $expected messages" >&2
            exit 1
        fi
        best_wall=$(awk -v a="$wall" -v b="${best_wall:-$wall}" 'BEGIN {print (a < b ? a : b)}')
        best_cpu=$(awk -v a="$cpu" -v b="${best_cpu:-$cpu}" 'BEGIN {print (a < b ? a : b)}')
        max_rss=$(( rss > max_rss ? rss : max_rss ))
    done
    echo "$best_wall $best_cpu $max_rss"
}

echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "command: benches/growth.sh --copies $copies --repeat $repeat --scales \"$scales\""
echo
echo "| scale | nodes | channels | messages | wall s | CPU µs/msg | CPU/msg vs first | peak RSS MB | RSS vs first | ns/duplicate | +${copies} copies: peak RSS MB |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
first_cpu_per_msg=""
first_rss=""
for scale in $scales; do
    nodes=$(awk -v s="$scale" 'BEGIN {printf "%d", 17000 * s}')
    channels=$(awk -v s="$scale" 'BEGIN {printf "%d", 54000 * s}')
    corpus="$dir/growth-$nodes-$channels.gsd"
    if [ -z "$(find "$corpus" -mtime -1 2>/dev/null)" ]; then
        "$bin" gen-corpus --out "$corpus" --nodes "$nodes" --channels "$channels" --seed 7 >/dev/null
    fi
    messages=$(run_once "$corpus" 1 | awk '{print $5}')
    read -r wall cpu rss <<<"$(measure "$corpus" 1 "$messages")"
    drss=$(run_once "$corpus" $((copies + 1)) | awk '{print $3}')
    dup=$(dup_ns "$corpus")
    cpu_per_msg=$(awk -v c="$cpu" -v m="$messages" 'BEGIN {print c / m}')
    first_cpu_per_msg=${first_cpu_per_msg:-$cpu_per_msg}
    first_rss=${first_rss:-$rss}
    # CPU time, unlike wall time, hardly depends on what else the machine runs.
    awk -v scale="$scale" -v nodes="$nodes" -v channels="$channels" -v m="$messages" \
        -v wall="$wall" -v cpu="$cpu" -v rss="$rss" -v dup="$dup" -v drss="$drss" -v k="$copies" \
        -v c0="$first_cpu_per_msg" -v r0="$first_rss" 'BEGIN {
        printf "| %s× | %d | %d | %d | %.2f | %.1f | %.2f | %.1f | %.2f | %.0f | %.1f |\n",
            scale, nodes, channels, m, wall, cpu / m * 1e6, cpu / m / c0, rss / 1e6, rss / r0,
            dup, drss / 1e6
    }'
done
