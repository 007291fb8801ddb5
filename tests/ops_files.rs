//! Consistency checks across the operator-facing files: docker-compose.yml, Dockerfile,
//! metrics/ (Prometheus config, rules, promtool tests), dashboards/ (Grafana JSON and
//! provisioning) and examples/gossip-sieve.toml.
//!
//! promtool (metrics/check.sh) proves the rules and queries are valid PromQL and that alerts fire
//! when they should; these tests prove the files agree with each other and with the metric
//! contract (DESIGN §4), which no single tool sees: a mount pointing at a missing file, a
//! dashboard query on a misspelled metric, a contract metric nobody shows, a port mismatch.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use gossip_sieve::pipeline::DropReason;
use gossip_sieve::wire::GossipKind;
use serde_json::Value as Json;
use serde_norway::Value as Yaml;

const PEER_PORT: u16 = 9735;
const METRICS_PORT: u16 = 9736;
const PROMETHEUS_PORT: u16 = 9090;
const GRAFANA_PORT: u16 = 3000;

/// DESIGN §4 metric contract: name and whether it is a histogram (exposed as _bucket/_sum/_count).
const CONTRACT: &[(&str, bool)] = &[
    ("gossip_sieve_messages_received_total", false),
    ("gossip_sieve_messages_accepted_total", false),
    ("gossip_sieve_messages_dropped_total", false),
    ("gossip_sieve_signature_checks_total", false),
    ("gossip_sieve_verify_duration_seconds", true),
    ("gossip_sieve_queue_depth", false),
    ("gossip_sieve_queue_capacity", false),
    ("gossip_sieve_queue_wait_seconds", true),
    ("gossip_sieve_pending_messages", false),
    ("gossip_sieve_in_flight_messages", false),
    ("gossip_sieve_peers_connected", false),
    ("gossip_sieve_peer_disconnects_total", false),
    ("gossip_sieve_peer_bans_total", false),
    ("gossip_sieve_graph_channels", false),
    ("gossip_sieve_graph_nodes", false),
    ("gossip_sieve_store_bytes", false),
    ("gossip_sieve_gossip_sent_total", false),
    ("gossip_sieve_gossip_sent_bytes_total", false),
    ("gossip_sieve_outbound_buffer_bytes", false),
    ("gossip_sieve_serve_stream_lag_bytes", false),
    ("gossip_sieve_serve_streaming_peers", false),
    ("gossip_sieve_serve_peers_behind", false),
    ("gossip_sieve_queries_received_total", false),
    ("gossip_sieve_query_replies_sent_total", false),
    ("gossip_sieve_sync_complete", false),
    ("process_resident_memory_bytes", false),
    ("process_cpu_seconds_total", false),
    // Chain (issue 10).
    ("gossip_sieve_chain_lookups_total", false),
    ("gossip_sieve_chain_lookup_duration_seconds", true),
    ("gossip_sieve_chain_lookup_queue_depth", false),
    ("gossip_sieve_chain_lookup_queue_capacity", false),
    ("gossip_sieve_chain_parked", false),
    ("gossip_sieve_chain_parked_capacity", false),
    ("gossip_sieve_chain_tip_height", false),
    ("gossip_sieve_chain_tip_age_seconds", false),
    ("gossip_sieve_chain_source_up", false),
    ("gossip_sieve_chain_channels_closed_total", false),
    ("gossip_sieve_channels_forgotten_total", false),
    ("gossip_sieve_chain_revalidated_total", false),
    ("gossip_sieve_chain_revalidation_pending", false),
    ("gossip_sieve_propagation_first_arrival_age_seconds", true),
    ("gossip_sieve_rgs_snapshot_bytes", false),
    ("gossip_sieve_rgs_latest_seen_timestamp", false),
    // Propagation per peer and duplicate delay (issue 13).
    ("gossip_sieve_propagation_first_deliveries_total", false),
    ("gossip_sieve_propagation_duplicates_total", false),
    ("gossip_sieve_propagation_duplicate_delay_seconds", true),
    ("gossip_sieve_propagation_untimed_duplicates_total", false),
    // Split initial sync (issue 12 item 4).
    ("gossip_sieve_split_chunks", false),
    ("gossip_sieve_split_queries_sent_total", false),
    ("gossip_sieve_split_chunks_requeued_total", false),
    ("gossip_sieve_split_fallbacks_total", false),
    ("gossip_sieve_split_reply_drops_total", false),
    ("gossip_sieve_split_reply_queue_bytes", false),
    ("gossip_sieve_split_reply_queue_messages", false),
];

/// Series Prometheus itself attaches to every scrape target.
const SCRAPE_SERIES: &[&str] = &["up"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    let path = repo().join(rel);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn yaml(rel: &str) -> Yaml {
    serde_norway::from_str(&read(rel)).unwrap_or_else(|e| panic!("parsing {rel} as YAML: {e}"))
}

fn dashboard() -> Json {
    serde_json::from_str(&read("dashboards/gossip-sieve.json"))
        .unwrap_or_else(|e| panic!("parsing dashboards/gossip-sieve.json: {e}"))
}

fn yaml_seq(v: &Yaml) -> &[Yaml] {
    v.as_sequence().map(Vec::as_slice).unwrap_or(&[])
}

fn yaml_str<'a>(v: &'a Yaml, key: &str) -> &'a str {
    v.get(key).and_then(Yaml::as_str).unwrap_or("")
}

// ---------------------------------------------------------------------------------------------
// PromQL: just enough lexing to list the metric names an expression selects.
// ---------------------------------------------------------------------------------------------

/// Keywords followed by a parenthesised label list, which must not be read as metric names.
const GROUPING: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
/// Operators and literals spelled as identifiers, and aggregation operators (which may be
/// followed by `by (..)` rather than their own parenthesis).
const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
    "nan",
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];

/// Index just past the bracket group opening at `start` (`open` at chars[start]), skipping
/// string literals so a `}` inside a label value does not end the group early.
fn skip_group(chars: &[char], start: usize, open: char, close: char) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while let Some(&c) = chars.get(i) {
        if c == '"' || c == '\'' || c == '`' {
            i = skip_string(chars, i);
            continue;
        }
        if c == open {
            depth += 1;
        } else if c == close {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                return i + 1;
            }
        }
        i += 1;
    }
    i
}

fn skip_string(chars: &[char], start: usize) -> usize {
    let quote = chars.get(start).copied().unwrap_or('"');
    let mut i = start + 1;
    while let Some(&c) = chars.get(i) {
        if c == '\\' && quote != '`' {
            i += 2;
            continue;
        }
        if c == quote {
            return i + 1;
        }
        i += 1;
    }
    i
}

/// Metric names selected by a PromQL expression (functions, keywords, label names inside
/// `{..}`/`by (..)`, strings, numbers and durations are skipped).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        match c {
            '"' | '\'' | '`' => i = skip_string(&chars, i),
            '{' => i = skip_group(&chars, i, '{', '}'),
            '[' => i = skip_group(&chars, i, '[', ']'),
            '#' => {
                while chars.get(i).is_some_and(|&c| c != '\n') {
                    i += 1;
                }
            }
            c if c.is_ascii_digit()
                || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                while chars
                    .get(i)
                    .is_some_and(|&c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
                {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while chars
                    .get(i)
                    .is_some_and(|&c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                {
                    i += 1;
                }
                let word: String = chars.get(start..i).unwrap_or(&[]).iter().collect();
                let lower = word.to_ascii_lowercase();
                let mut next = i;
                while chars.get(next).is_some_and(|c| c.is_whitespace()) {
                    next += 1;
                }
                let before_paren = chars.get(next) == Some(&'(');
                if GROUPING.contains(&lower.as_str()) {
                    if before_paren {
                        i = skip_group(&chars, next, '(', ')');
                    }
                } else if KEYWORDS.contains(&lower.as_str()) || before_paren {
                    // keyword or function name
                } else {
                    names.insert(word);
                }
            }
            _ => i += 1,
        }
    }
    names
}

#[test]
fn promql_lexer_finds_metrics_only() {
    let got = metric_names(
        r#"sum by (job, le) (rate(a_total{reason="x}y", type=~"b|c"}[5m] offset 1h)) / on (job) group_left(type) (b:rec:rate1m > 0.9) and bool 1e-3 unless histogram_quantile(0.5, c_bucket)"#,
    );
    let want: BTreeSet<String> = ["a_total", "b:rec:rate1m", "c_bucket"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(got, want);
}

// ---------------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------------

struct Rule {
    file: &'static str,
    name: String,
    is_alert: bool,
    expr: String,
    body: Yaml,
}

fn rules() -> Vec<Rule> {
    let mut out = Vec::new();
    for file in ["metrics/rules/recording.yml", "metrics/rules/alerts.yml"] {
        let doc = yaml(file);
        for group in yaml_seq(&doc["groups"]) {
            for rule in yaml_seq(&group["rules"]) {
                let (name, is_alert) = match (rule.get("record"), rule.get("alert")) {
                    (Some(r), None) => (r.as_str().unwrap_or_default().to_string(), false),
                    (None, Some(a)) => (a.as_str().unwrap_or_default().to_string(), true),
                    _ => panic!("{file}: rule is neither record nor alert: {rule:?}"),
                };
                out.push(Rule {
                    file,
                    name,
                    is_alert,
                    expr: yaml_str(rule, "expr").to_string(),
                    body: rule.clone(),
                });
            }
        }
    }
    assert!(!out.is_empty(), "no rules found in metrics/rules/");
    out
}

fn recorded_names() -> BTreeSet<String> {
    rules()
        .into_iter()
        .filter(|r| !r.is_alert)
        .map(|r| r.name)
        .collect()
}

/// Every name a query may select: the contract (histograms as their three series), scrape
/// series such as `up`, and the recording rules.
fn allowed_metrics() -> BTreeSet<String> {
    let mut allowed: BTreeSet<String> = SCRAPE_SERIES.iter().map(|s| s.to_string()).collect();
    for (name, histogram) in CONTRACT {
        if *histogram {
            for suffix in ["_bucket", "_sum", "_count"] {
                allowed.insert(format!("{name}{suffix}"));
            }
        } else {
            allowed.insert(name.to_string());
        }
    }
    allowed.extend(recorded_names());
    allowed
}

/// The contract metric a selected series belongs to, if any.
fn contract_metric_of(series: &str) -> Option<&'static str> {
    CONTRACT.iter().find_map(|(name, histogram)| {
        let hit = if *histogram {
            ["_bucket", "_sum", "_count"]
                .iter()
                .any(|s| series.strip_suffix(s) == Some(name))
        } else {
            series == *name
        };
        hit.then_some(*name)
    })
}

fn dashboard_exprs(dash: &Json) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for panel in dash["panels"].as_array().into_iter().flatten() {
        let title = panel["title"].as_str().unwrap_or("?").to_string();
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                out.push((title.clone(), expr.to_string()));
            }
        }
    }
    out
}

#[test]
fn rules_and_dashboard_use_only_contract_metrics_and_cover_all_of_them() {
    let allowed = allowed_metrics();
    let mut used: BTreeSet<&'static str> = BTreeSet::new();
    let mut unknown = Vec::new();

    let mut exprs: Vec<(String, String)> = rules()
        .into_iter()
        .map(|r| (format!("{} rule {}", r.file, r.name), r.expr))
        .collect();
    let dash = dashboard();
    let panel_exprs = dashboard_exprs(&dash);
    assert!(!panel_exprs.is_empty(), "dashboard has no targets[].expr");
    exprs.extend(
        panel_exprs
            .into_iter()
            .map(|(title, e)| (format!("panel {title:?}"), e)),
    );

    for (whence, expr) in &exprs {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{whence}: no metric found in {expr:?}");
        for name in names {
            if !allowed.contains(&name) {
                unknown.push(format!("{whence}: {name}"));
            }
            if let Some(m) = contract_metric_of(&name) {
                used.insert(m);
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "metrics outside the contract and recording rules:\n{}",
        unknown.join("\n")
    );

    let unused: Vec<&str> = CONTRACT
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| !used.contains(n))
        .collect();
    assert!(
        unused.is_empty(),
        "contract metrics no panel or rule uses: {unused:?}"
    );
}

#[test]
fn every_recording_rule_is_used_and_every_alert_is_documented() {
    let rules = rules();
    let dash_exprs: Vec<String> = dashboard_exprs(&dashboard())
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    let mut referenced = BTreeSet::new();
    for e in rules.iter().map(|r| &r.expr).chain(dash_exprs.iter()) {
        referenced.extend(metric_names(e));
    }
    let readme = read("metrics/README.md");
    let anchors: BTreeSet<String> = readme
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|h| github_anchor(h.trim_start_matches('#')))
        .collect();

    for rule in &rules {
        if !rule.is_alert {
            assert!(
                referenced.contains(&rule.name),
                "recording rule {} is used by no panel or alert",
                rule.name
            );
            continue;
        }
        let annotations = &rule.body["annotations"];
        for key in ["summary", "description", "runbook"] {
            assert!(
                !yaml_str(annotations, key).trim().is_empty(),
                "alert {} lacks annotation {key}",
                rule.name
            );
        }
        assert!(
            !yaml_str(&rule.body["labels"], "severity").is_empty(),
            "alert {} lacks a severity label",
            rule.name
        );
        let runbook = yaml_str(annotations, "runbook");
        let anchor = runbook
            .strip_prefix("metrics/README.md#")
            .unwrap_or_else(|| {
                panic!(
                    "alert {}: runbook {runbook:?} is not metrics/README.md#<anchor>",
                    rule.name
                )
            });
        assert!(
            anchors.contains(anchor),
            "alert {}: metrics/README.md has no heading for #{anchor}",
            rule.name
        );
    }
}

/// GitHub's heading anchor: lowercase, punctuation dropped, spaces to hyphens.
fn github_anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn every_alert_has_a_firing_and_a_silent_promtool_test() {
    let mut cases: BTreeMap<String, (bool, bool)> = BTreeMap::new();
    let dir = repo().join("metrics/tests");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no promtool tests in metrics/tests/");
    for path in files {
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let doc: Yaml =
            serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for test in yaml_seq(&doc["tests"]) {
            for case in yaml_seq(&test["alert_rule_test"]) {
                let entry = cases
                    .entry(yaml_str(case, "alertname").to_string())
                    .or_default();
                if yaml_seq(&case["exp_alerts"]).is_empty() {
                    entry.1 = true;
                } else {
                    entry.0 = true;
                }
            }
        }
    }
    for rule in rules().into_iter().filter(|r| r.is_alert) {
        let (fires, silent) = cases.get(&rule.name).copied().unwrap_or_default();
        assert!(
            fires,
            "alert {} has no promtool test where it fires",
            rule.name
        );
        assert!(
            silent,
            "alert {} has no promtool test where it stays silent",
            rule.name
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Dashboard
// ---------------------------------------------------------------------------------------------

fn is_datasource_var(ds: &Json) -> bool {
    ds.get("uid").and_then(Json::as_str) == Some("${datasource}")
}

/// Every `datasource` object anywhere in the dashboard, with a path for error messages.
fn datasource_refs<'a>(v: &'a Json, path: String, out: &mut Vec<(String, &'a Json)>) {
    match v {
        Json::Object(map) => {
            for (k, child) in map {
                let p = format!("{path}.{k}");
                if k == "datasource" {
                    out.push((p.clone(), child));
                }
                datasource_refs(child, p, out);
            }
        }
        Json::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                datasource_refs(child, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn dashboard_panels_use_the_datasource_variable_and_explain_themselves() {
    let dash = dashboard();
    assert!(
        dash["schemaVersion"]
            .as_u64()
            .is_some_and(|v| (36..=41).contains(&v)),
        "schemaVersion should be about 39"
    );
    let var = dash["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["name"] == "datasource")
        .expect("templating.list has no `datasource` variable");
    assert_eq!(var["type"], "datasource");
    assert_eq!(var["query"], "prometheus");

    let panels = dash["panels"]
        .as_array()
        .expect("dashboard has no panels array");
    let mut ids = BTreeSet::new();
    let mut graph_panels = 0;
    for panel in panels {
        let title = panel["title"].as_str().unwrap_or("?");
        assert!(
            ids.insert(panel["id"].as_u64().expect("panel id")),
            "duplicate panel id in {title:?}"
        );
        let grid = &panel["gridPos"];
        let (x, w) = (
            grid["x"].as_u64().unwrap_or(99),
            grid["w"].as_u64().unwrap_or(99),
        );
        assert!(
            x + w <= 24,
            "panel {title:?} is wider than the 24-column grid"
        );
        if panel["type"] == "row" {
            continue;
        }
        graph_panels += 1;
        assert!(
            is_datasource_var(&panel["datasource"]),
            "panel {title:?} does not use ${{datasource}}"
        );
        assert!(
            panel["description"].as_str().is_some_and(|d| d.len() > 40),
            "panel {title:?} needs a description telling the operator what it means"
        );
        let targets = panel["targets"].as_array().filter(|t| !t.is_empty());
        for t in targets.unwrap_or_else(|| panic!("panel {title:?} has no targets")) {
            assert!(
                t["expr"].as_str().is_some_and(|e| !e.trim().is_empty()),
                "panel {title:?} has a target without expr"
            );
            assert!(
                !t["expr"].as_str().unwrap_or("").contains('$'),
                "panel {title:?}: expr must be plain PromQL (no Grafana variables)"
            );
            if let Some(ds) = t.get("datasource") {
                assert!(
                    is_datasource_var(ds),
                    "a target of {title:?} pins a datasource"
                );
            }
        }
    }
    assert!(
        graph_panels >= 10,
        "expected the full set of panels, found {graph_panels}"
    );

    let mut refs = Vec::new();
    datasource_refs(&dash, String::new(), &mut refs);
    for (path, ds) in refs {
        if ds.get("type").and_then(Json::as_str) == Some("prometheus") {
            assert!(
                is_datasource_var(ds),
                "{path}: hard-coded Prometheus datasource {ds}"
            );
        }
    }
}

#[test]
fn dashboard_panels_cover_the_operator_questions() {
    let dash = dashboard();
    let titles: Vec<String> = dash["panels"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["title"].as_str().map(str::to_lowercase))
        .collect();
    for needle in [
        "ingest",
        "dropped",
        "signature",
        "dedup",
        "queue depth",
        "mailbox",
        "verify latency",
        "pending",
        "peers connected",
        "disconnects",
        "graph",
        "store",
        "memory",
        "cpu",
    ] {
        assert!(
            titles.iter().any(|t| t.contains(needle)),
            "no panel about {needle:?} in {titles:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// docker-compose.yml, Dockerfile and their cross-references
// ---------------------------------------------------------------------------------------------

struct Mount {
    service: String,
    source: String,
    target: String,
}

fn compose_mounts(compose: &Yaml) -> Vec<Mount> {
    let mut out = Vec::new();
    let services = compose["services"]
        .as_mapping()
        .expect("compose has no services");
    for (name, svc) in services {
        let service = name.as_str().unwrap_or("?").to_string();
        for vol in yaml_seq(&svc["volumes"]) {
            let (source, target) = match vol {
                Yaml::String(s) => {
                    let mut parts = s.split(':');
                    (
                        parts.next().unwrap_or("").to_string(),
                        parts.next().unwrap_or("").to_string(),
                    )
                }
                long => (
                    yaml_str(long, "source").to_string(),
                    yaml_str(long, "target").to_string(),
                ),
            };
            out.push(Mount {
                service: service.clone(),
                source,
                target,
            });
        }
    }
    out
}

fn is_bind(source: &str) -> bool {
    source.starts_with('.') || source.starts_with('/')
}

/// (host port, container port) for a compose short-syntax port such as "127.0.0.1:9090:9090".
fn compose_port(spec: &str) -> (u16, u16) {
    let spec = spec.split('/').next().unwrap_or(spec);
    let parts: Vec<&str> = spec.rsplitn(3, ':').collect();
    let port = |s: Option<&&str>| {
        s.and_then(|p| p.parse::<u16>().ok())
            .unwrap_or_else(|| panic!("compose port {spec:?} is not host:container"))
    };
    (port(parts.get(1)), port(parts.first()))
}

#[test]
fn compose_mounts_exist_and_ports_match() {
    let compose = yaml("docker-compose.yml");
    let declared_volumes: BTreeSet<String> = compose["volumes"]
        .as_mapping()
        .into_iter()
        .flatten()
        .filter_map(|(k, _)| k.as_str().map(str::to_string))
        .collect();

    let mounts = compose_mounts(&compose);
    assert!(!mounts.is_empty(), "compose mounts nothing");
    for m in &mounts {
        if is_bind(&m.source) {
            let host = repo().join(&m.source);
            assert!(
                host.exists(),
                "{}: mounted host path {} does not exist",
                m.service,
                m.source
            );
        } else {
            assert!(
                declared_volumes.contains(&m.source),
                "{}: named volume {} is not declared",
                m.service,
                m.source
            );
        }
    }

    let services = compose["services"].as_mapping().expect("services");
    let mut ports: BTreeMap<String, BTreeSet<u16>> = BTreeMap::new();
    for (name, svc) in services {
        for p in yaml_seq(&svc["ports"]) {
            let spec = match p {
                Yaml::String(s) => s.clone(),
                Yaml::Number(n) => n.to_string(),
                other => panic!("unsupported port entry {other:?}"),
            };
            let (host, container) = compose_port(&spec);
            assert_eq!(
                host, container,
                "{spec}: keep host and container ports equal so docs hold"
            );
            ports
                .entry(name.as_str().unwrap_or("?").to_string())
                .or_default()
                .insert(container);
        }
    }
    let want: BTreeMap<String, BTreeSet<u16>> = [
        ("gossip-sieve", vec![PEER_PORT, METRICS_PORT]),
        ("prometheus", vec![PROMETHEUS_PORT]),
        ("grafana", vec![GRAFANA_PORT]),
    ]
    .into_iter()
    .map(|(s, p)| (s.to_string(), p.into_iter().collect()))
    .collect();
    assert_eq!(ports, want);

    let build = &services
        .get("gossip-sieve")
        .expect("no gossip-sieve service")["build"];
    let context = build
        .as_str()
        .or_else(|| build.get("context").and_then(Yaml::as_str))
        .expect("gossip-sieve is not built here");
    assert!(
        repo().join(context).join("Dockerfile").exists(),
        "build context {context} has no Dockerfile"
    );
}

/// Find the bind mount of `service` whose container target is `target` or, failing that, a
/// parent directory of it, and map `target` back onto the repository.
fn host_path_of(mounts: &[Mount], service: &str, target: &str) -> Option<PathBuf> {
    mounts
        .iter()
        .filter(|m| m.service == service && is_bind(&m.source))
        .find_map(|m| {
            let rest = Path::new(target).strip_prefix(&m.target).ok()?;
            Some(repo().join(&m.source).join(rest))
        })
}

#[test]
fn compose_wires_prometheus_and_grafana_to_the_repo_files() {
    let compose = yaml("docker-compose.yml");
    let mounts = compose_mounts(&compose);

    // Prometheus reads /etc/prometheus/prometheus.yml, whose rule_files resolve beside it.
    let config = host_path_of(&mounts, "prometheus", "/etc/prometheus/prometheus.yml")
        .expect("prometheus.yml is not mounted");
    assert_eq!(config, repo().join("./metrics/prometheus.yml"));
    let prom = yaml("metrics/prometheus.yml");
    let rule_globs = yaml_seq(&prom["rule_files"]);
    assert!(!rule_globs.is_empty(), "prometheus.yml loads no rule files");
    for glob in rule_globs {
        let glob = glob.as_str().unwrap_or("");
        let dir = Path::new("/etc/prometheus").join(glob);
        let dir = dir.parent().unwrap_or(Path::new("/etc/prometheus"));
        let host =
            host_path_of(&mounts, "prometheus", &dir.to_string_lossy()).unwrap_or_else(|| {
                panic!(
                    "rule_files {glob} points at {} which is not mounted",
                    dir.display()
                )
            });
        let ymls = fs::read_dir(&host)
            .unwrap_or_else(|e| panic!("{}: {e}", host.display()))
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "yml"))
            .count();
        assert!(
            ymls >= 2,
            "{} should hold recording.yml and alerts.yml",
            host.display()
        );
    }

    // Scrape target is the compose service on the metrics port.
    let targets: Vec<String> = yaml_seq(&prom["scrape_configs"])
        .iter()
        .filter(|job| yaml_str(job, "job_name") == "gossip-sieve")
        .flat_map(|job| yaml_seq(&job["static_configs"]).iter())
        .flat_map(|sc| yaml_seq(&sc["targets"]).iter())
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect();
    assert_eq!(targets, vec![format!("gossip-sieve:{METRICS_PORT}")]);

    // Grafana: provisioning folder mounted, provider path holds the dashboard, datasource URL
    // names the prometheus service.
    let provisioning = host_path_of(&mounts, "grafana", "/etc/grafana/provisioning")
        .expect("grafana provisioning not mounted");
    assert!(provisioning.join("datasources/prometheus.yml").exists());
    let providers = yaml("dashboards/provisioning/dashboards/gossip-sieve.yml");
    let provider = yaml_seq(&providers["providers"])
        .first()
        .cloned()
        .expect("no dashboard provider");
    assert_eq!(yaml_str(&provider, "type"), "file");
    let path = yaml_str(&provider["options"], "path");
    assert_eq!(path, "/var/lib/grafana/dashboards");
    let json = host_path_of(&mounts, "grafana", &format!("{path}/gossip-sieve.json"))
        .expect("dashboard JSON not mounted into the provider path");
    assert_eq!(json, repo().join("./dashboards/gossip-sieve.json"));
    let ds = yaml("dashboards/provisioning/datasources/prometheus.yml");
    let url = yaml_seq(&ds["datasources"])
        .first()
        .map(|d| yaml_str(d, "url").to_string())
        .unwrap_or_default();
    assert_eq!(url, format!("http://prometheus:{PROMETHEUS_PORT}"));
}

/// Dockerfile instructions as (KEYWORD, arguments), continuation lines joined, comments dropped.
fn dockerfile() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in read("Dockerfile").lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                let (kw, args) = current
                    .split_once(char::is_whitespace)
                    .unwrap_or((current.as_str(), ""));
                out.push((kw.to_ascii_uppercase(), args.trim().to_string()));
                current.clear();
            }
        }
    }
    out
}

#[test]
fn dockerfile_builds_locked_runs_unprivileged_and_checks_healthz() {
    let instructions = dockerfile();
    let stages: Vec<usize> = instructions
        .iter()
        .enumerate()
        .filter(|(_, (kw, _))| kw == "FROM")
        .map(|(i, _)| i)
        .collect();
    assert!(stages.len() >= 2, "Dockerfile should be multi-stage");
    let runtime_start = stages.last().copied().unwrap_or(0);
    let (builder, runtime) = instructions.split_at(runtime_start);

    // Both images are build arguments (CI passes local ones) whose defaults are the official
    // images, pinned by digest.
    let from_image = |from: &str| -> String {
        let image = from.split_whitespace().next().unwrap_or("");
        let arg = image
            .strip_prefix("${")
            .and_then(|a| a.strip_suffix('}'))
            .unwrap_or_else(|| panic!("FROM {image} is not a build argument"));
        let default = builder
            .iter()
            .take_while(|(kw, _)| kw != "FROM")
            .filter(|(kw, _)| kw == "ARG")
            .find_map(|(_, a)| a.strip_prefix(arg)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("no ARG {arg}=... before the first FROM"));
        let digest = default.split_once("@sha256:").map_or("", |(_, d)| d);
        assert!(
            digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()),
            "{arg} default {default} is not pinned by digest"
        );
        default.to_string()
    };
    let first_from = builder
        .iter()
        .find(|(kw, _)| kw == "FROM")
        .map(|(_, a)| a.as_str())
        .expect("no FROM");
    let builder_image = from_image(first_from);
    assert!(
        builder_image.starts_with("rust:1-bookworm@"),
        "builder is {builder_image}"
    );
    assert!(builder
        .iter()
        .any(|(kw, a)| kw == "RUN" && a.contains("cargo build --release --locked")));
    let base = from_image(&runtime.first().expect("no runtime stage").1);
    assert!(base.starts_with("debian:bookworm-slim@"), "base is {base}");

    let find = |kw: &str| -> Vec<&str> {
        runtime
            .iter()
            .filter(|(k, _)| k == kw)
            .map(|(_, a)| a.as_str())
            .collect()
    };
    let exposed: BTreeSet<u16> = find("EXPOSE")
        .iter()
        .flat_map(|a| a.split_whitespace())
        .filter_map(|p| p.split('/').next()?.parse().ok())
        .collect();
    assert_eq!(exposed, [PEER_PORT, METRICS_PORT].into_iter().collect());

    let health = find("HEALTHCHECK");
    let health = health.first().expect("no HEALTHCHECK");
    assert!(
        health.contains(&format!("127.0.0.1:{METRICS_PORT}/healthz")),
        "HEALTHCHECK must hit /healthz on {METRICS_PORT}: {health}"
    );
    // The binary checks itself (`gossip-sieve healthcheck`), so the runtime needs no curl.
    assert!(
        health.contains(r#"CMD ["gossip-sieve", "healthcheck""#),
        "HEALTHCHECK should run gossip-sieve healthcheck: {health}"
    );
    assert!(
        !find("RUN").iter().any(|r| r.contains("curl")),
        "the runtime stage installs curl, which nothing needs"
    );

    assert_eq!(
        find("USER"),
        vec!["sieve"],
        "runtime must run as the non-root user sieve"
    );
    assert!(find("RUN")
        .iter()
        .any(|r| r.contains("useradd") && r.contains("sieve")));
    assert_eq!(find("VOLUME"), vec!["/data"]);
    assert_eq!(find("ENTRYPOINT"), vec![r#"["gossip-sieve"]"#]);

    let cmd: Vec<String> = serde_json::from_str(find("CMD").first().expect("no CMD"))
        .expect("CMD should be exec form");
    let flag = |name: &str| {
        cmd.iter()
            .position(|a| a == name)
            .and_then(|i| cmd.get(i + 1))
            .cloned()
    };
    assert_eq!(cmd.first().map(String::as_str), Some("run"));
    assert_eq!(flag("--data-dir").as_deref(), Some("/data"));
    assert_eq!(flag("--listen"), Some(format!("0.0.0.0:{PEER_PORT}")));
    assert_eq!(flag("--metrics"), Some(format!("0.0.0.0:{METRICS_PORT}")));

    let ignore = read(".dockerignore");
    for entry in ["target", ".git", "fuzz/target"] {
        assert!(
            ignore.lines().any(|l| l.trim() == entry),
            ".dockerignore lacks {entry}"
        );
    }
}

#[test]
fn example_config_parses_and_agrees_with_the_ports() {
    let config: toml::Table = read("examples/gossip-sieve.toml")
        .parse()
        .expect("examples/gossip-sieve.toml is not TOML");
    let port_of = |key: &str| {
        config
            .get(key)
            .and_then(toml::Value::as_str)
            .and_then(|a| a.rsplit(':').next()?.parse::<u16>().ok())
    };
    assert_eq!(port_of("listen"), Some(PEER_PORT));
    assert_eq!(port_of("metrics"), Some(METRICS_PORT));
    assert!(config.get("peers").is_some_and(toml::Value::is_array));
}

// ---------------------------------------------------------------------------------------------
// The synthetic scrape that metrics/check.sh evaluates every dashboard query against
// ---------------------------------------------------------------------------------------------

#[test]
fn check_fixture_covers_the_whole_contract() {
    let fixture = yaml("metrics/testdata/contract_series.yml");
    let series: Vec<String> = yaml_seq(&fixture["input_series"])
        .iter()
        .map(|s| yaml_str(s, "series").to_string())
        .collect();
    let present = |prefix: &str| series.iter().any(|s| s.starts_with(prefix));
    for (name, histogram) in CONTRACT {
        let probe = if *histogram {
            format!("{name}_bucket{{")
        } else {
            format!("{name}{{")
        };
        assert!(
            present(&probe),
            "metrics/testdata/contract_series.yml has no {probe}..}} series"
        );
    }
    // Labels come from the crate's own enums, so a new reason or type shows up here.
    for kind in GossipKind::ALL {
        for reason in DropReason::ALL {
            let wanted = format!(r#"type="{}", reason="{}""#, kind.as_str(), reason.as_str());
            assert!(
                series
                    .iter()
                    .any(|s| s.starts_with("gossip_sieve_messages_dropped_total{")
                        && s.contains(&wanted)),
                "contract_series.yml lacks dropped series for {wanted}"
            );
        }
    }
}
