#!/usr/bin/env bash
# Builds every fuzz target and runs each for SECONDS (default 20) from the committed seeds plus
# whatever corpus earlier runs left in fuzz/corpus/. Exits non-zero if any target crashes
# (the crashing input is in fuzz/artifacts/<target>/), or if any file in fuzz_targets/ was not
# run (an empty or short `cargo fuzz list` must not pass as "0 failed").
#
# Only a stable toolchain is needed: RUSTC_BOOTSTRAP lets cargo-fuzz pass its -Z flags. The
# code under test has no `unsafe`, so by default no sanitizer is used (FUZZ_SANITIZER=address
# to add one where its runtime is installed).
set -uo pipefail
SECONDS_EACH="${1:-20}"
SANITIZER="${FUZZ_SANITIZER:-none}"
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
# The fuzz crate is its own workspace with its own target dir; a caller's CARGO_TARGET_DIR
# would mix instrumented and plain builds of the same crates.
unset CARGO_TARGET_DIR
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install cargo-fuzz --version 0.13.2 --locked || exit 1
fi
cargo fuzz build -s "$SANITIZER" || exit 1
mkdir -p logs
expected=$(ls fuzz_targets/*.rs 2>/dev/null | xargs -r -n 1 basename -s .rs | sort)
if [ -z "$expected" ]; then
    echo "fuzz: no targets in fuzz/fuzz_targets/"
    exit 1
fi
listed=$(cargo fuzz list | sort) || exit 1
passed=0
failed=0
ran=""
for target in $listed; do
    mkdir -p "corpus/$target"
    log="logs/$target.log"
    if cargo fuzz run -s "$SANITIZER" "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
        passed=$((passed + 1))
        status=ok
    else
        failed=$((failed + 1))
        status=CRASH
        tail -n 40 "$log"
    fi
    runs=$(grep -o 'Done [0-9]* runs' "$log" | tail -n 1 | grep -o '[0-9]*')
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*')
    echo "fuzz $target: $status, ${runs:-?} executions, coverage ${cov:-?} edges, ${SECONDS_EACH}s"
    # A target that ran zero inputs did not really run.
    if [ "$status" = ok ] && [ "${runs:-0}" -gt 0 ]; then
        ran="$ran $target"
    fi
done
echo "fuzz: $passed passed, $failed failed"
not_run=""
for target in $expected; do
    case " $ran " in
    *" $target "*) ;;
    *) not_run="$not_run $target" ;;
    esac
done
if [ -n "$not_run" ]; then
    echo "fuzz: targets in fuzz_targets/ that did not run:$not_run"
    exit 1
fi
[ "$failed" -eq 0 ]
