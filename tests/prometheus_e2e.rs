//! The shipped monitoring, proven against the real Prometheus server: a temp copy of
//! `metrics/prometheus.yml` and `metrics/rules/` scrapes a running `gossip-sieve demo` every
//! second, and every PromQL expression of the dashboard and of the recording rules must return
//! data through Prometheus' HTTP API. A renamed metric, a broken query or a rule that never
//! produces a sample fails here.
//!
//! Needs the `prometheus` binary (Debian package `prometheus`; or `$PROMETHEUS_BIN`). The test
//! fails, rather than skips, when it is missing: CI installs it (test.sh).

mod common;

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::http::{free_port, request};
use serde_json::Value as Json;
use serde_norway::Value as Yaml;

/// Kills and reaps a child process when the test ends, however it ends.
struct KillOnDrop(Child, &'static str);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl KillOnDrop {
    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.0.try_wait() {
            panic!("{} exited early: {status}", self.1);
        }
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn prometheus_bin() -> PathBuf {
    let candidate = std::env::var_os("PROMETHEUS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/prometheus"));
    assert!(
        candidate.is_file(),
        "the Prometheus server is needed at {} (apt-get install -y prometheus, or set \
         PROMETHEUS_BIN)",
        candidate.display()
    );
    candidate
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

struct Prometheus {
    addr: SocketAddr,
    _child: KillOnDrop,
}

impl Prometheus {
    fn api(&self, path_and_query: &str) -> Json {
        let (status, body) = request(self.addr, "GET", path_and_query)
            .unwrap_or_else(|e| panic!("GET {path_and_query}: {e}"));
        let json: Json = serde_json::from_str(&body).unwrap_or_else(|e| {
            panic!("GET {path_and_query}: HTTP {status}, bad JSON {e}: {body}")
        });
        assert_eq!(
            json["status"], "success",
            "GET {path_and_query}: HTTP {status}: {body}"
        );
        json
    }

    /// Instant query; returns the result vector (or scalar) as JSON.
    fn query(&self, expr: &str) -> Json {
        self.api(&format!("/api/v1/query?query={}", url_encode(expr)))["data"]["result"].clone()
    }

    fn scalar(&self, expr: &str) -> Option<f64> {
        let result = self.query(expr);
        let value = result.as_array()?.first()?["value"][1]
            .as_str()?
            .to_string();
        value.parse().ok()
    }
}

/// Copies the shipped config and rules into `dir`, rewriting only what must differ in a test:
/// the scrape target, the intervals, and Prometheus' own address.
fn write_config(dir: &Path, target: SocketAddr, self_addr: SocketAddr) -> PathBuf {
    let shipped = repo().join("metrics/prometheus.yml");
    let text = fs::read_to_string(&shipped).expect("metrics/prometheus.yml");
    let mut config: Yaml = serde_norway::from_str(&text).expect("prometheus.yml is YAML");

    let global = &mut config["global"];
    global["scrape_interval"] = Yaml::from("1s");
    global["evaluation_interval"] = Yaml::from("1s");
    let jobs = config["scrape_configs"]
        .as_sequence_mut()
        .expect("scrape_configs list");
    let mut found = false;
    for job in jobs.iter_mut() {
        let name = job["job_name"].as_str().unwrap_or("").to_string();
        let new_target = match name.as_str() {
            "gossip-sieve" => {
                found = true;
                target.to_string()
            }
            "prometheus" => self_addr.to_string(),
            other => panic!("unexpected scrape job {other} in metrics/prometheus.yml"),
        };
        job["static_configs"] = serde_norway::from_str(&format!("- targets: [\"{new_target}\"]"))
            .expect("static_configs YAML");
    }
    assert!(found, "metrics/prometheus.yml has no gossip-sieve job");

    let rules_dir = dir.join("rules");
    fs::create_dir_all(&rules_dir).expect("mkdir rules");
    for entry in fs::read_dir(repo().join("metrics/rules")).expect("metrics/rules") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "yml") {
            fs::copy(&path, rules_dir.join(path.file_name().expect("file name"))).expect("copy");
        }
    }
    let out = dir.join("prometheus.yml");
    fs::write(&out, serde_norway::to_string(&config).expect("serialise")).expect("write");
    out
}

fn start_prometheus(dir: &Path, target: SocketAddr) -> Prometheus {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let config = write_config(dir, target, addr);
    let log = fs::File::create(dir.join("prometheus.log")).expect("log file");
    let child = Command::new(prometheus_bin())
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn prometheus");
    let mut child = KillOnDrop(child, "prometheus");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        child.assert_running();
        if matches!(request(addr, "GET", "/-/ready"), Ok((200, _))) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "prometheus not ready; log:\n{}",
            fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    Prometheus {
        addr,
        _child: child,
    }
}

fn dashboard_exprs() -> Vec<(String, String)> {
    let text = fs::read_to_string(repo().join("dashboards/gossip-sieve.json")).expect("dashboard");
    let dash: Json = serde_json::from_str(&text).expect("dashboard JSON");
    let mut out = Vec::new();
    let mut panels: Vec<&Json> = dash["panels"].as_array().into_iter().flatten().collect();
    // Rows may nest their panels.
    while let Some(panel) = panels.pop() {
        panels.extend(panel["panels"].as_array().into_iter().flatten());
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                let title = panel["title"].as_str().unwrap_or("?");
                out.push((format!("dashboard panel {title:?}"), expr.to_string()));
            }
        }
    }
    out
}

/// The sample values of an instant query's result: a vector's samples, or a scalar.
fn values(result: &Json) -> Vec<f64> {
    let parse = |pair: &Json| {
        pair[1]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("bad sample {pair}"))
    };
    match result.as_array() {
        Some(scalar) if scalar.first().is_some_and(Json::is_number) => vec![parse(result)],
        Some(series) => series.iter().map(|s| parse(&s["value"])).collect(),
        None => Vec::new(),
    }
}

/// Every rule of `metrics/rules/*.yml`.
fn shipped_rules() -> Vec<Yaml> {
    let mut out = Vec::new();
    for entry in fs::read_dir(repo().join("metrics/rules")).expect("metrics/rules") {
        let path = entry.expect("dir entry").path();
        let text = fs::read_to_string(&path).expect("rule file");
        let doc: Yaml = serde_norway::from_str(&text).expect("rule YAML");
        for group in doc["groups"].as_sequence().into_iter().flatten() {
            out.extend(group["rules"].as_sequence().into_iter().flatten().cloned());
        }
    }
    out
}

/// The alert names of the shipped rules.
fn alert_rules() -> std::collections::BTreeSet<String> {
    shipped_rules()
        .iter()
        .filter_map(|rule| rule["alert"].as_str().map(str::to_string))
        .collect()
}

fn recording_rules() -> Vec<(String, String)> {
    shipped_rules()
        .iter()
        .filter_map(
            |rule| match (rule["record"].as_str(), rule["expr"].as_str()) {
                (Some(record), Some(expr)) => {
                    Some((format!("recording rule {record}"), expr.to_string()))
                }
                _ => None,
            },
        )
        .collect()
}

#[test]
fn every_dashboard_and_recording_rule_query_returns_data_from_a_live_scrape() {
    let dir = tempfile::tempdir().expect("tempdir");
    let metrics_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let prometheus = start_prometheus(dir.path(), metrics_addr);
    // Prometheus hands targets to its scrapers some seconds after start (discovery updates are
    // throttled); wait for the first (failed) scrape so the warm-up below is really scraped.
    let up = "up{job=\"gossip-sieve\"}";
    let deadline = Instant::now() + Duration::from_secs(60);
    while prometheus.scalar(up).is_none() {
        assert!(
            Instant::now() < deadline,
            "prometheus never scraped the target"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Warm-up: Prometheus records the zero baseline before the flood, so every rate() over
    // the run is positive. Linger: the target stays up while the queries run (a target that
    // goes away gets staleness markers and its series vanish from instant queries).
    let demo = Command::new(common::binary())
        .args([
            "demo",
            "--nodes",
            "300",
            "--channels",
            "1000",
            "--peers",
            "4",
            "--shards",
            "2",
            "--warmup",
            "4",
            "--linger",
            "300",
            "--metrics",
            &metrics_addr.to_string(),
            "--cache-dir",
        ])
        .arg(dir.path().join("cache"))
        .env_remove("GOSSIP_SIEVE_LOG")
        .env_remove("GOSSIP_SIEVE_NETWORK")
        .env_remove("GOSSIP_SIEVE_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn gossip-sieve demo");
    let mut demo = KillOnDrop(demo, "gossip-sieve demo");

    // The run is over once every received message is settled and at least two scrapes have
    // seen the final counters; the recording rules then need one more evaluation.
    let received = "sum(gossip_sieve_messages_received_total)";
    let one_series = "gossip_sieve_messages_received_total{type=\"channel_update\"}";
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut last_received = None;
    let mut stable_scrapes = 0;
    let mut last_scrape = None;
    while stable_scrapes < 3 {
        demo.assert_running();
        assert!(
            Instant::now() < deadline,
            "demo never settled under scraping (received {last_received:?}); prometheus log:\n{}",
            fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
        // An instant query answers with its own evaluation time; the scrape time of the
        // sample it read is `timestamp(...)`.
        let Some(scraped_at) = prometheus.scalar(&format!("max(timestamp({one_series}))")) else {
            continue;
        };
        if Some(scraped_at) == last_scrape {
            continue;
        }
        last_scrape = Some(scraped_at);
        let value = prometheus.scalar(received);
        let in_flight = prometheus.scalar("sum(gossip_sieve_in_flight_messages)");
        if value.is_some_and(|v| v > 0.0) && value == last_received && in_flight == Some(0.0) {
            stable_scrapes += 1;
        } else {
            stable_scrapes = 0;
        }
        last_received = value;
    }
    assert_eq!(prometheus.scalar(up), Some(1.0), "target up");
    // The baseline: rate() needs at least two samples and the first must predate the flood.
    let samples = prometheus.scalar(&format!("count_over_time({one_series}[5m])"));
    assert!(
        samples.is_some_and(|n| n >= 4.0),
        "samples in window: {samples:?}: {}",
        prometheus.query(&format!("{one_series}[5m]"))
    );
    let first = prometheus.scalar(&format!("min_over_time({one_series}[5m])"));
    let last = prometheus.scalar(one_series);
    assert!(
        first.is_some_and(|v| Some(v) < last),
        "no pre-flood baseline: min {first:?}, last {last:?}: {} {}",
        prometheus.query(&format!("{one_series}[5m]")),
        prometheus.query(&format!("{up}[5m]"))
    );

    // Every rule file's rule loaded and healthy: recording rules and alerts, by name.
    let recording = recording_rules();
    assert!(!recording.is_empty(), "no recording rules found");
    let alerts = alert_rules();
    assert!(!alerts.is_empty(), "no alert rules found");
    let rules = prometheus.api("/api/v1/rules");
    let mut loaded_records = std::collections::BTreeSet::new();
    let mut loaded_alerts = std::collections::BTreeSet::new();
    for group in rules["data"]["groups"].as_array().into_iter().flatten() {
        for rule in group["rules"].as_array().into_iter().flatten() {
            let name = rule["name"].as_str().unwrap_or("?").to_string();
            assert_eq!(
                rule["health"], "ok",
                "rule {name} unhealthy: {}",
                rule["lastError"]
            );
            match rule["type"].as_str() {
                Some("recording") => loaded_records.insert(name),
                Some("alerting") => loaded_alerts.insert(name),
                other => panic!("rule {name} of unknown type {other:?}"),
            };
        }
    }
    let want_records: std::collections::BTreeSet<String> = recording
        .iter()
        .map(|(what, _)| what.trim_start_matches("recording rule ").to_string())
        .collect();
    assert_eq!(loaded_records, want_records, "recording rules loaded");
    assert_eq!(loaded_alerts, alerts, "alert rules loaded");

    // The recording rules have evaluated over the flood once each returns a sample.
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Some((what, _)) = recording
        .iter()
        .find(|(_, expr)| values(&prometheus.query(expr)).is_empty())
    {
        assert!(Instant::now() < deadline, "{what} never produced a sample");
        std::thread::sleep(Duration::from_millis(250));
    }
    // Values, not only presence: a ratio lies in 0..=1, and what the flood drove is positive.
    for (what, expr) in &recording {
        let got = values(&prometheus.query(expr));
        let record = what.trim_start_matches("recording rule ");
        let in_range = |v: f64| {
            if record.contains(":ratio") {
                (0.0..=1.0).contains(&v)
            } else {
                v >= 0.0
            }
        };
        assert!(
            got.iter().all(|v| v.is_finite() && in_range(*v)),
            "{record} out of range: {got:?}"
        );
    }
    for positive in [
        "gossip_sieve:messages_received:rate1m",
        "gossip_sieve:messages_accepted:rate1m",
        "gossip_sieve:signature_checks:rate1m{result=\"valid\"}",
    ] {
        let got = values(&prometheus.query(positive));
        assert!(
            !got.is_empty() && got.iter().all(|v| *v > 0.0),
            "{positive} over the flood: {got:?}"
        );
    }
    // Four peers each sent the whole corpus: most messages cost no signature check.
    let dedup = values(&prometheus.query("gossip_sieve:dedup:ratio_rate5m"));
    assert!(
        dedup.len() == 1 && dedup[0] > 0.5 && dedup[0] < 1.0,
        "dedup ratio {dedup:?}"
    );

    let dashboard = dashboard_exprs();
    assert!(!dashboard.is_empty(), "no dashboard queries found");
    let mut empty = Vec::new();
    for (what, expr) in recording.iter().chain(&dashboard) {
        // A NaN (0/0) is no data either.
        let got = values(&prometheus.query(expr));
        if got.is_empty() || got.iter().any(|v| v.is_nan()) {
            empty.push(format!("{what}: {expr}"));
        }
    }
    assert!(
        empty.is_empty(),
        "{} of {} queries returned no data from a live scrape:\n{}",
        empty.len(),
        recording.len() + dashboard.len(),
        empty.join("\n")
    );
}
