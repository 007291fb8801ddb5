#!/usr/bin/env bash
# Validates the monitoring files with the real Prometheus tools; CI runs it.
#   1. promtool check config  metrics/prometheus.yml   (also loads rules/*.yml)
#   2. promtool check rules   metrics/rules/*.yml
#   3. promtool test rules    metrics/tests/*.yml      (every alert firing and not firing)
#   4. every PromQL query in dashboards/gossip-sieve.json parses and returns data when
#      evaluated with the recording rules over metrics/testdata/contract_series.yml.
# Needs promtool (Debian package `prometheus`) and jq. Exits non-zero on the first failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
dashboard="$repo/dashboards/gossip-sieve.json"

for tool in promtool jq; do
    command -v "$tool" >/dev/null || { echo "check.sh: $tool not found (apt-get install -y prometheus jq)" >&2; exit 2; }
done

cd "$here"
promtool check config prometheus.yml
promtool check rules rules/*.yml
promtool test rules tests/*.yml

# Step 4: one promql_expr_test per dashboard query, asserting absent(<query>) is empty, i.e.
# the query returns at least one series. JSON strings are valid YAML double-quoted scalars.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
n_exprs="$(jq '[.panels[] | .targets[]? | .expr] | length' "$dashboard")"
if [ "$n_exprs" -eq 0 ]; then
    echo "check.sh: no targets[].expr found in $dashboard" >&2
    exit 1
fi
{
    echo "rule_files:"
    echo "  - $here/rules/recording.yml"
    echo "evaluation_interval: 1m"
    echo "tests:"
    echo "  - name: every dashboard query returns data"
    echo "    interval: 1m"
    sed -e '/^#/d' -e 's/^/    /' testdata/contract_series.yml
    echo "    promql_expr_test:"
    jq -r '.panels[] | .targets[]? | .expr
           | "      - expr: " + ("absent(" + . + ")" | tojson) + "\n        eval_time: 15m\n        exp_samples: []"' \
        "$dashboard"
} > "$tmp/dashboard_test.yml"
echo "Evaluating $n_exprs dashboard queries against metrics/testdata/contract_series.yml"
promtool test rules "$tmp/dashboard_test.yml"
